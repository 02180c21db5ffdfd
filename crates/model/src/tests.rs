//! Tests of the networks, the attack layers, the simulators and weights I/O (flex backend).

use burn::tensor::{Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::model::{DecoderConfig, EncoderConfig, TaggerNetConfig};
use crate::noise::jpeg::{DiffJpeg, Rounding};
use crate::noise::simulators::{AutoencoderConfig, FaceSwapConfig};
use crate::noise::{NoiseConfig, NoiseKind, NoiseOp, Noiser};
use crate::{Backend, Device, ModelError, weights};

fn device() -> Device {
    Backend::Flex.device().unwrap()
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// A smooth synthetic RGB image with some texture, `[1, 3, side, side]` in 0..1.
fn test_image(side: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let noise = crate::noise::normal_samples(&mut rng, 3 * side * side);
    (0..3 * side * side)
        .map(|i| {
            let (c, y, x) = (i / (side * side), (i / side) % side, i % side);
            let (fx, fy) = (x as f32 / side as f32, y as f32 / side as f32);
            let base = 0.5 + 0.3 * (6.0 * fx + c as f32).sin() * (4.0 * fy).cos();
            (base + 0.02 * noise[i]).clamp(0.0, 1.0)
        })
        .collect()
}

fn image_tensor(side: usize, seed: u64, device: &Device) -> Tensor<4> {
    Tensor::from_data(
        TensorData::new(test_image(side, seed), [1, 3, side, side]),
        device,
    )
}

#[test]
fn networks_have_the_documented_shapes_and_costs() {
    let device = device();
    let config = TaggerNetConfig::standard();
    config.validate().unwrap();
    let net = config.init(&device);
    let images = Tensor::<4>::zeros([2, 3, 128, 128], &device).add_scalar(0.5);
    let bits = Tensor::<2>::ones([2, 256], &device);
    let residual = net.encoder.forward(images.clone(), bits);
    assert_eq!(residual.dims(), [2, 3, 128, 128]);
    assert_eq!(net.decoder.forward(images).dims(), [2, 256]);
    // the CPU budget the design was made for: under 100 M multiply-accumulates each
    assert!(
        config.encoder.macs() < 100_000_000,
        "{}",
        config.encoder.macs()
    );
    assert!(
        config.decoder.macs() < 100_000_000,
        "{}",
        config.decoder.macs()
    );
}

#[test]
fn configs_that_cannot_be_built_are_refused() {
    assert!(
        EncoderConfig::new()
            .with_resolution(100)
            .validate()
            .is_err()
    );
    assert!(
        EncoderConfig::new()
            .with_message_grid(0)
            .validate()
            .is_err()
    );
    assert!(
        DecoderConfig::new()
            .with_resolution(120)
            .validate()
            .is_err()
    );
    let mismatched = TaggerNetConfig::new(
        EncoderConfig::new(),
        DecoderConfig::new().with_channel_bits(128),
    );
    assert!(mismatched.validate().unwrap_err().contains("disagree"));
    assert!(AutoencoderConfig::new().with_levels(7).validate().is_err());
    assert!(
        FaceSwapConfig::new(AutoencoderConfig::new())
            .with_identities(1)
            .validate()
            .is_err()
    );
}

#[test]
fn diff_jpeg_tracks_a_real_jpeg_encoder() {
    use image::codecs::jpeg::JpegEncoder;
    let device = device();
    let side = 64;
    let pixels = test_image(side, 3);
    // the same picture through the image crate's JPEG encoder (quality 50)
    let rgb: Vec<u8> = (0..side * side)
        .flat_map(|i| (0..3).map(move |c| (c, i)))
        .map(|(c, i)| (pixels[c * side * side + i] * 255.0).round() as u8)
        .collect();
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 50)
        .encode(
            &rgb,
            side as u32,
            side as u32,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
    let real = image::load_from_memory(&bytes).unwrap().to_rgb8();
    let real: Vec<f32> = (0..3 * side * side)
        .map(|i| {
            let (c, p) = (i / (side * side), i % (side * side));
            f32::from(real.as_raw()[p * 3 + c]) / 255.0
        })
        .collect();
    let quantised: Vec<f32> = pixels.iter().map(|v| (v * 255.0).round() / 255.0).collect();
    let x = Tensor::<4>::from_data(
        TensorData::new(quantised.clone(), [1, 3, side, side]),
        &device,
    );
    let approx = to_vec(DiffJpeg::new(&device).forward(x, 50.0, Rounding::StraightThrough));
    let mae = |a: &[f32], b: &[f32]| {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    };
    let jpeg_distortion = mae(&quantised, &real);
    let approximation_error = mae(&approx, &real);
    assert!(
        jpeg_distortion > 0.003,
        "quality 50 must change the picture: {jpeg_distortion}"
    );
    assert!(
        approximation_error < 0.6 * jpeg_distortion,
        "diff-JPEG is {approximation_error} from real JPEG, which moved pixels by {jpeg_distortion}"
    );
}

#[test]
fn straight_through_rounding_passes_gradients_unchanged() {
    let device = device().autodiff();
    let x = image_tensor(32, 4, &device).require_grad();
    let y = DiffJpeg::new(&device).forward(x.clone(), 40.0, Rounding::StraightThrough);
    let grads = y.sum().backward();
    let g = to_vec(x.grad(&grads).unwrap());
    // the whole map is linear except the rounding: d(sum)/dx = 1 everywhere
    assert!(g.iter().all(|v| (v - 1.0).abs() < 1e-3), "{:?}", &g[..4]);
}

#[test]
fn attack_layers_keep_shapes_and_flat_images_flat() {
    let device = device();
    let noiser = Noiser::new(NoiseConfig::new(), &device);
    let flat = Tensor::<4>::zeros([2, 3, 64, 64], &device).add_scalar(0.4);
    let mut rng = StdRng::seed_from_u64(1);
    for op in [
        NoiseOp::Identity,
        NoiseOp::Jpeg { quality: 60.0 },
        NoiseOp::Resize { scale: 0.5 },
        NoiseOp::Crop {
            area: 0.7,
            x: 0.2,
            y: 0.9,
        },
        NoiseOp::Cutout {
            area: 0.2,
            x: 0.5,
            y: 0.5,
        },
        NoiseOp::Blur { sigma: 1.5 },
        NoiseOp::Colour {
            brightness: 0.0,
            contrast: 1.2,
            saturation: 0.7,
            hue: 0.03,
        },
        NoiseOp::CoverMix { alpha: 0.3 },
        NoiseOp::Social {
            scale: 0.45,
            quality: 70.0,
        },
    ] {
        let out = noiser.apply_op(flat.clone(), &flat, op, &mut rng);
        assert_eq!(out.dims(), [2, 3, 64, 64], "{op}");
        let v = to_vec(out);
        let worst = v.iter().map(|p| (p - 0.4).abs()).fold(0f32, f32::max);
        // JPEG rounds the flat level to its quantisation step; everything else is exact
        assert!(worst < 0.02, "{op} moved a flat grey image by {worst}");
    }
}

#[test]
fn noise_is_reproducible_from_the_seed_and_blur_smooths() {
    let device = device();
    let noiser = Noiser::new(NoiseConfig::new(), &device);
    let x = image_tensor(32, 5, &device);
    let run = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let ops = noiser.sample(&mut rng);
        (
            ops.clone(),
            to_vec(noiser.apply(x.clone(), &x, &ops, &mut rng)),
        )
    };
    assert_eq!(run(9), run(9));
    let mut rng = StdRng::seed_from_u64(0);
    let noisy = noiser.apply_op(x.clone(), &x, NoiseOp::Noise { sigma: 0.1 }, &mut rng);
    let blurred = noiser.blur(noisy.clone(), 1.0);
    let roughness = |t: Tensor<4>| {
        let v = to_vec(t);
        v.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f32>()
    };
    assert!(roughness(blurred) < 0.5 * roughness(noisy));
}

#[test]
fn the_social_layer_compresses_the_smaller_copy_where_fine_detail_is_lost() {
    let device = device();
    let noiser = Noiser::new(NoiseConfig::new(), &device);
    let side = 128;
    const AMP: f32 = 0.004;
    // a faint pattern (about a level of 8 bits) of 5.3-pixel waves, 24 cycles a side, on a
    // textured image
    let pattern: Vec<f32> = (0..3 * side * side)
        .map(|i| AMP * (std::f32::consts::TAU * (i % side) as f32 / 5.3).sin())
        .collect();
    let base = test_image(side, 3);
    let with: Vec<f32> = base.iter().zip(&pattern).map(|(b, p)| b + p).collect();
    let tensor = |v: &[f32]| {
        Tensor::<4>::from_data(TensorData::new(v.to_vec(), [1, 3, side, side]), &device)
    };
    let energy: f32 = pattern.iter().map(|p| p * p).sum();
    // the share of the pattern an attack leaves: its output's change projected on the pattern
    let kept = |op: NoiseOp| {
        let mut rng = StdRng::seed_from_u64(0);
        let a = to_vec(noiser.apply_op(tensor(&with), &tensor(&with), op, &mut rng));
        let b = to_vec(noiser.apply_op(tensor(&base), &tensor(&base), op, &mut rng));
        a.iter()
            .zip(&b)
            .zip(&pattern)
            .map(|((a, b), p)| (a - b) * p)
            .sum::<f32>()
            / energy
    };
    let jpeg = kept(NoiseOp::Jpeg { quality: 75.0 });
    let resize = kept(NoiseOp::Resize { scale: 0.5 });
    let social = kept(NoiseOp::Social {
        scale: 0.5,
        quality: 75.0,
    });
    assert!(jpeg > 0.6 && resize > 0.3, "jpeg {jpeg}, resize {resize}");
    assert!(
        social < 0.5 * resize,
        "social {social} against resize {resize}"
    );
    // odd scales land on whole macroblocks, so the JPEG step is never skipped
    let odd = kept(NoiseOp::Social {
        scale: 0.47,
        quality: 75.0,
    });
    assert!(odd < 0.5 * resize, "social at 0.47: {odd}");
    // its gradient is checked with the other new layers' (training's
    // `new_attack_layers_and_real_attacks_pass_gradients`)
}

#[test]
fn attack_kinds_are_drawn_by_weight() {
    let device = device();
    let only_jpeg = NoiseConfig::clean().with_identity(0.0).with_jpeg(1.0);
    only_jpeg.validate().unwrap();
    let noiser = Noiser::new(only_jpeg, &device);
    let mut rng = StdRng::seed_from_u64(2);
    for _ in 0..50 {
        assert!(
            matches!(noiser.sample_op(&mut rng), NoiseOp::Jpeg { quality } if (30.0..=95.0).contains(&quality))
        );
    }
    assert!(NoiseConfig::clean().with_identity(0.0).validate().is_err());
    assert!(NoiseConfig::new().with_resize_min(0.0).validate().is_err());
    let op = noiser.sample_params(NoiseKind::Blur, &mut rng);
    assert!(matches!(op, NoiseOp::Blur { sigma } if (0.0..=2.0).contains(&sigma)));
    let op = noiser.sample_params(NoiseKind::Social, &mut rng);
    assert!(
        matches!(op, NoiseOp::Social { scale, quality } if (0.4..=0.8).contains(&scale) && (60.0..=95.0).contains(&quality)),
        "{op}"
    );
    assert!(
        NoiseConfig::new()
            .with_social_scale_min(0.9)
            .validate()
            .is_err()
    );
}

#[test]
fn simulators_render_images() {
    let device = device();
    let ae_config = AutoencoderConfig::new()
        .with_resolution(64)
        .with_width(8)
        .with_levels(2);
    assert_eq!(ae_config.bottleneck_side(), 8);
    assert_eq!(ae_config.bottleneck_size(), 32 * 64);
    let ae = ae_config.init(&device);
    let x = image_tensor(64, 6, &device);
    let v = to_vec(ae.forward(x.clone()));
    assert_eq!(v.len(), 3 * 64 * 64);
    assert!(v.iter().all(|p| (0.0..=1.0).contains(p)));
    let swap = FaceSwapConfig::new(ae_config)
        .with_identities(3)
        .init(&device);
    assert_eq!(swap.identities(), 3);
    assert_eq!(swap.render_as(x.clone(), 2).unwrap().dims(), [1, 3, 64, 64]);
    assert!(swap.render_as(x, 3).is_none());
}

#[test]
fn weights_round_trip_and_wrong_files_are_refused() {
    let device = device();
    let dir = tempfile::tempdir().unwrap();
    let small = TaggerNetConfig::new(
        EncoderConfig::new()
            .with_resolution(32)
            .with_channel_bits(32)
            .with_message_grid(4),
        DecoderConfig::new()
            .with_resolution(32)
            .with_channel_bits(32),
    );
    let net = small.init(&device);
    let x = image_tensor(32, 7, &device);
    let before = to_vec(net.decoder.forward(x.clone()));
    weights::save(net, &small, dir.path(), "t").unwrap();
    let (_, loaded) = weights::load_tagger_net(dir.path(), "t", &device).unwrap();
    assert_eq!(to_vec(loaded.decoder.forward(x)), before);

    let files = weights::WeightsFiles::new(dir.path(), "t");
    let record = std::fs::read(&files.record).unwrap();
    // truncated record
    std::fs::write(&files.record, &record[..record.len() / 2]).unwrap();
    let err = weights::load_tagger_net(dir.path(), "t", &device).unwrap_err();
    assert!(matches!(err, ModelError::BadWeights { .. }), "{err}");
    // a record of other shapes than its config
    std::fs::write(&files.record, &record).unwrap();
    let wider = TaggerNetConfig::new(small.encoder.clone().with_width(16), small.decoder.clone());
    let err = weights::tagger_net_from_parts(wider, record, &files.record, &device).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    // not a config
    std::fs::write(&files.config, b"{\"encoder\": 3}").unwrap();
    let err = weights::load_tagger_net(dir.path(), "t", &device).unwrap_err();
    assert!(err.to_string().contains("not a valid config"), "{err}");
    // missing files
    let err = weights::load_tagger_net(dir.path(), "absent", &device).unwrap_err();
    assert!(err.to_string().contains("absent.json"), "{err}");
}

#[test]
fn a_scaled_encoder_scales_its_residual_exactly() {
    let device = crate::Backend::Flex.device().unwrap();
    let net = crate::TaggerNetConfig::standard().init(&device);
    let image = Tensor::<4>::from_data(
        TensorData::new(
            (0..3 * 128 * 128)
                .map(|i| (i % 251) as f32 / 251.0)
                .collect::<Vec<_>>(),
            [1, 3, 128, 128],
        ),
        &device,
    );
    let bits = Tensor::<2>::from_data(
        TensorData::new(
            (0..256)
                .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
                .collect::<Vec<f32>>(),
            [1, 256],
        ),
        &device,
    );
    let base = net.encoder.forward(image.clone(), bits.clone());
    let scaled = net.encoder.clone().scaled(1.5).forward(image, bits);
    let diff: f32 = (scaled - base.clone().mul_scalar(1.5))
        .abs()
        .max()
        .into_scalar();
    let size: f32 = base.abs().max().into_scalar();
    assert!(size > 0.0 && diff <= 1e-5 * size, "{diff} vs {size}");
}

#[test]
fn a_luma_encoder_changes_brightness_only_and_takes_an_rgb_encoders_record() {
    let device = crate::Backend::Flex.device().unwrap();
    let rgb = crate::TaggerNetConfig::standard();
    let mut luma = crate::TaggerNetConfig::standard();
    luma.encoder.luma = Some(true);
    assert!(luma.same_parameters(&rgb) && rgb.same_parameters(&luma));
    let mut wider = crate::TaggerNetConfig::standard();
    wider.encoder.width = 48;
    assert!(!luma.same_parameters(&wider));
    // v1's saved config has no `luma`: it reads as false
    let v1 = <EncoderConfig as burn::config::Config>::load_binary(
        br#"{"channel_bits":256,"resolution":128,"patch":4,"width":32,"message_grid":16,"message_channels":8,"blocks":2}"#,
    )
    .unwrap();
    assert!(!v1.is_luma());

    let net = rgb.init(&device);
    let image = image_tensor(128, 3, &device);
    let bits = Tensor::<2>::from_data(
        TensorData::new(
            (0..256)
                .map(|i| if i % 5 < 2 { 1.0 } else { -1.0 })
                .collect::<Vec<f32>>(),
            [1, 256],
        ),
        &device,
    );
    let colour = net.encoder.forward(image.clone(), bits.clone());
    let record = burn::module::Module::into_record(net.clone());
    let grey = burn::module::Module::load_record(luma.init(&device), record)
        .encoder
        .forward(image, bits.clone());
    let (c, g) = (to_vec(colour), to_vec(grey));
    let plane = 128 * 128;
    let mut spread = 0f32;
    for i in 0..plane {
        let mean = (c[i] + c[plane + i] + c[2 * plane + i]) / 3.0;
        for k in 0..3 {
            // every channel carries the RGB encoder's channel mean: Cb and Cr unchanged
            assert!((g[k * plane + i] - mean).abs() < 1e-6, "{i}/{k}");
        }
        spread = spread.max((c[i] - c[plane + i]).abs());
    }
    assert!(
        spread > 0.0,
        "the RGB encoder's channels differ, so the check can fail"
    );

    // the low-pass is parameter-free too, and takes the residual's fine detail away
    let mut smooth = luma.clone();
    smooth.encoder.lowpass = Some(1.0);
    assert!(smooth.same_parameters(&rgb));
    let record = burn::module::Module::into_record(net.clone());
    let lowpassed = to_vec(
        burn::module::Module::load_record(smooth.init(&device), record)
            .encoder
            .forward(image_tensor(128, 3, &device), bits.clone()),
    );
    let roughness = |r: &[f32]| -> f32 {
        let energy: f32 = r.iter().map(|v| v * v).sum();
        let steps: f32 = (0..plane - 1).map(|i| (r[i + 1] - r[i]).powi(2)).sum();
        steps / energy
    };
    assert!(
        roughness(&lowpassed) < 0.5 * roughness(&g),
        "{} vs {}",
        roughness(&lowpassed),
        roughness(&g)
    );
    let mut wrong = crate::TaggerNetConfig::standard();
    wrong.encoder.lowpass = Some(-1.0);
    assert!(wrong.validate().is_err());

    // chroma on a budget: luminance plus a quarter of the RGB residual's colour
    let mut budget = luma.clone();
    budget.encoder.chroma = Some(0.25);
    assert!(budget.same_parameters(&rgb));
    let record = burn::module::Module::into_record(net);
    let mixed = to_vec(
        burn::module::Module::load_record(budget.init(&device), record)
            .encoder
            .forward(image_tensor(128, 3, &device), bits),
    );
    for i in (0..plane).step_by(97) {
        let mean = (c[i] + c[plane + i] + c[2 * plane + i]) / 3.0;
        for k in 0..3 {
            let want = mean + 0.25 * (c[k * plane + i] - mean);
            assert!((mixed[k * plane + i] - want).abs() < 1e-6, "{i}/{k}");
        }
    }
    wrong.encoder.lowpass = None;
    wrong.encoder.chroma = Some(1.5);
    assert!(wrong.validate().is_err());
}

#[test]
fn regenerator_has_taesd_shapes_costs_and_an_8_bit_latent() {
    use crate::noise::regenerator::{RegeneratorConfig, quantise_latent};
    use crate::noise::simulators::{REGENERATOR_NAME, Simulator};

    // TAESD's own layout (width 64, 8×, 3 blocks a stage) costs about 8 GMAC per 128² face
    let taesd = RegeneratorConfig::new().with_width(64);
    assert!(
        (7.5e9..8.5e9).contains(&(taesd.macs() as f64)),
        "{}",
        taesd.macs()
    );
    let device = device();
    for (latent, downsamples) in [(4, 3), (16, 3), (4, 2)] {
        let config = RegeneratorConfig::new()
            .with_resolution(32)
            .with_width(8)
            .with_latent_channels(latent)
            .with_downsamples(downsamples)
            .with_blocks(1);
        let net = config.init(&device);
        let x = image_tensor(32, 3, &device);
        let code = net.encode(x.clone());
        assert_eq!(
            code.dims(),
            [1, latent, 32 >> downsamples, 32 >> downsamples]
        );
        assert_eq!(net.forward(x).dims(), [1, 3, 32, 32]);
    }
    // stored latents take at most 256 values, spread over ±3
    let wide = Tensor::<4>::from_data(
        TensorData::new(
            (0..1000)
                .map(|i| i as f32 / 50.0 - 10.0)
                .collect::<Vec<_>>(),
            [1, 1, 10, 100],
        ),
        &device,
    );
    let mut stored = to_vec(quantise_latent(wide));
    stored.sort_by(f32::total_cmp);
    stored.dedup();
    assert!(
        stored.len() <= 256 && stored.len() > 200,
        "{}",
        stored.len()
    );
    assert!((stored[0] + 3.0).abs() < 1e-5 && (stored[stored.len() - 1] - 3.0).abs() < 1e-5);
    // saved and loaded as a simulator
    let dir = tempfile::tempdir().unwrap();
    let config = RegeneratorConfig::new()
        .with_resolution(32)
        .with_width(8)
        .with_blocks(1);
    let net = config.init(&device);
    weights::save(net.clone(), &config, dir.path(), REGENERATOR_NAME).unwrap();
    let loaded = Simulator::load(dir.path(), &device).unwrap();
    assert!(matches!(loaded, Simulator::Regenerator(_)));
    let x = image_tensor(32, 4, &device);
    let (a, b) = (to_vec(net.forward(x.clone())), to_vec(loaded.forward(x, 0)));
    assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() < 1e-6));
    assert!(
        RegeneratorConfig::new()
            .with_resolution(100)
            .validate()
            .is_err()
    );
}

/// The largest absolute difference between two outputs, value by value.
fn largest_difference(ours: &[f32], theirs: &[f32]) -> f32 {
    ours.iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Planar `[3][side][side]` values as interleaved `[side][side][3]` ones (an `Rgb32FImage`'s).
fn interleaved(planar: &[f32], side: usize) -> Vec<f32> {
    let plane = side * side;
    (0..3 * plane)
        .map(|i| planar[(i % 3) * plane + i / 3])
        .collect()
}

#[test]
fn the_decoder_on_the_cpu_matches_the_burn_decoder() {
    let device = device();
    let weights =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/faketagger-v1");
    let (_, shipped) = weights::load_tagger_net(&weights, "tagger", &device).unwrap();
    // the shipped weights, and fresh ones of another shape (odd widths: partial channel blocks)
    let fresh = DecoderConfig {
        channel_bits: 40,
        resolution: 64,
        patch: 2,
        width: 6,
        head_channels: 3,
        pool: None,
    }
    .init(&device);
    // and a read-out pooled over positions
    let pooled = DecoderConfig::new()
        .with_resolution(64)
        .with_width(8)
        .with_head_channels(24)
        .with_pool(Some(true))
        .init(&device);
    for decoder in [shipped.decoder, fresh, pooled] {
        let side = decoder.resolution();
        let planar: Vec<Vec<f32>> = (0..3).map(|s| test_image(side, 30 + s)).collect();
        let theirs = to_vec(decoder.forward(Tensor::from_data(
            TensorData::new(planar.concat(), [3, 3, side, side]),
            &device,
        )));
        let images: Vec<Vec<f32>> = planar.iter().map(|p| interleaved(p, side)).collect();
        let slices: Vec<&[f32]> = images.iter().map(Vec::as_slice).collect();
        let cpu = decoder.cpu().unwrap();
        let scalar = cpu.clone().with_arch(pulp::Arch::Scalar);
        // a batch (one image per task), one image (bands of rows), and the scalar path
        let batch = cpu.forward(&slices).unwrap().concat();
        let one: Vec<f32> = slices
            .iter()
            .flat_map(|s| cpu.forward(&[s]).unwrap().concat())
            .collect();
        let plain = scalar.forward(&slices).unwrap().concat();
        let spread = theirs.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(spread > 1e-2, "a flat output: {spread}");
        for (path, ours) in [("batch", &batch), ("one", &one), ("scalar", &plain)] {
            assert_eq!(ours.len(), theirs.len(), "{path}");
            let worst = largest_difference(ours, &theirs);
            assert!(worst < 1e-4 * spread.max(1.0), "{side} px, {path}: {worst}");
        }
    }
    let cpu = DecoderConfig::new().init(&device).cpu().unwrap();
    assert!(cpu.forward(&[&[0.5; 10]]).is_err(), "a wrong-sized image");
    assert!(cpu.forward(&[]).unwrap().is_empty());
}

#[test]
fn the_encoder_on_the_cpu_matches_the_burn_encoder() {
    let device = device();
    let shipped = |name: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../weights")
            .join(name);
        weights::load_tagger_net(&dir, "tagger", &device).unwrap()
    };
    // v1 (RGB), v2c (luminance with a share of chroma and a low-pass), and fresh weights of
    // another shape (odd widths: partial channel blocks; a 4× message upsampling; luminance
    // only, a wider low-pass)
    let (v1, v1_net) = shipped("faketagger-v1");
    let (v2c, v2c_net) = shipped("faketagger-v2c");
    let odd = EncoderConfig {
        channel_bits: 40,
        resolution: 64,
        patch: 2,
        width: 6,
        message_grid: 8,
        message_channels: 3,
        blocks: 1,
        luma: Some(true),
        lowpass: Some(1.7),
        chroma: None,
    };
    let cases = [
        (v1.resolution(), v1_net.encoder.scaled(1.3)),
        (v2c.resolution(), v2c_net.encoder),
        (odd.resolution, odd.init(&device)),
    ];
    for (k, (side, encoder)) in cases.into_iter().enumerate() {
        let planar = test_image(side, 40 + k as u64);
        let inputs = encoder.cpu(side).unwrap().message_len();
        let mut rng = StdRng::seed_from_u64(k as u64);
        let message: Vec<f32> = (0..inputs)
            .map(|_| {
                let sign = if rand::Rng::random_bool(&mut rng, 0.5) {
                    1.0
                } else {
                    -1.0
                };
                sign * rand::Rng::random_range(&mut rng, 1.0..2.0)
            })
            .collect();
        let theirs = to_vec(encoder.forward(
            Tensor::from_data(TensorData::new(planar.clone(), [1, 3, side, side]), &device),
            Tensor::from_data(TensorData::new(message.clone(), [1, inputs]), &device),
        ));
        let image = interleaved(&planar, side);
        let cpu = encoder.cpu(side).unwrap();
        let ours = cpu.forward(&image, &message).unwrap();
        let scalar = cpu.clone().with_arch(pulp::Arch::Scalar);
        let plain = scalar.forward(&image, &message).unwrap();
        let spread = theirs.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(spread > 1e-3, "case {k}: a flat residual: {spread}");
        for (path, ours) in [("simd", &ours), ("scalar", &plain)] {
            assert_eq!(ours.len(), theirs.len(), "case {k}, {path}");
            let worst = largest_difference(ours, &theirs);
            assert!(
                worst < 1e-4 * spread,
                "case {k}, {path}: {worst} of {spread}"
            );
        }
        assert!(
            cpu.forward(&image[1..], &message).is_err(),
            "a wrong-sized image"
        );
        assert!(
            cpu.forward(&image, &message[1..]).is_err(),
            "a short message"
        );
    }
}

#[test]
fn a_record_read_where_it_lies_loads_the_same_networks_as_one_copied() {
    let device = device();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights/faketagger-v1");
    let config: TaggerNetConfig = weights::load_config(&dir.join("tagger.json")).unwrap();
    let bytes = std::fs::read(dir.join("tagger.bpk")).unwrap();
    // as `include_bytes!` gives it: bytes that live as long as the program
    let lasting: &'static [u8] = Box::leak(bytes.clone().into_boxed_slice());
    let source = dir.join("tagger.bpk");
    let (_, copied) =
        weights::tagger_net_from_parts(config.clone(), bytes, &source, &device).unwrap();
    let (_, in_place) = weights::tagger_net_from_parts(config, lasting, &source, &device).unwrap();
    let image = Tensor::from_data(
        TensorData::new(test_image(128, 7), [1, 3, 128, 128]),
        &device,
    );
    let (a, b) = (
        to_vec(copied.decoder.forward(image.clone())),
        to_vec(in_place.decoder.forward(image)),
    );
    assert_eq!(a, b);
    assert!(
        a.iter().any(|v| v.abs() > 0.1),
        "a read that means something"
    );
    // a broken record read in place is refused as a copied one is
    let broken: &'static [u8] = &lasting[..1000];
    let config: TaggerNetConfig = weights::load_config(&dir.join("tagger.json")).unwrap();
    assert!(weights::tagger_net_from_parts(config, broken, &source, &device).is_err());
}
