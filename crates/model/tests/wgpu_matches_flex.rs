//! The shipped networks on `wgpu` against the same networks on `flex`.
//!
//! `cargo test -p faketagger-model --features wgpu --test wgpu_matches_flex`
//!
//! CI runs this on Mesa's software Vulkan driver (lavapipe, Debian `mesa-vulkan-drivers`, installed
//! by `.ci/run`): the GPU code path — WGSL kernels through wgpu and Vulkan — executed on the CPU.
//! The same test runs unchanged on a real GPU.
//!
//! Tolerances (f32 on both sides; the backends sum in different orders and fuse differently):
//! - tagged image (image + residual, values 0..1): max |Δ| ≤ [`IMAGE_TOLERANCE`] (1/255 is one
//!   8-bit level, so the saved PNGs agree to the level);
//! - decoder logits: max |Δ| ≤ [`LOGIT_TOLERANCE`], and every channel bit whose flex logit is
//!   further than that from 0 has the same sign (same decoded tag);
//! - simulator outputs (0..1): max |Δ| ≤ [`IMAGE_TOLERANCE`];
//! - gradient of a training loss with respect to the input image, relative to its largest
//!   component: ≤ [`GRADIENT_TOLERANCE`] (a training step on wgpu moves the same way).
#![cfg(all(feature = "wgpu", feature = "flex"))]

use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use faketagger_model::noise::simulators::Simulator;
use faketagger_model::noise::{NoiseConfig, NoiseOp, Noiser};
use faketagger_model::{Backend, Device, weights};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const IMAGE_TOLERANCE: f32 = 1e-4;
const LOGIT_TOLERANCE: f32 = 1e-3;
const GRADIENT_TOLERANCE: f32 = 1e-3;
const BATCH: usize = 4;
const SIDE: usize = 128;

fn weights_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../weights")
        .join(name)
}

fn wgpu() -> Device {
    Backend::Wgpu
        .device()
        .expect("this test is built with the wgpu feature")
}

fn flex() -> Device {
    Backend::Flex.device().unwrap()
}

/// Seeded face-like test images: smooth colour gradients with some texture, 0..1.
fn images(seed: u64) -> TensorData {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = BATCH * 3 * SIDE * SIDE;
    let data: Vec<f32> = (0..n)
        .map(|i| {
            let (b, c) = (i / (3 * SIDE * SIDE), (i / (SIDE * SIDE)) % 3);
            let (y, x) = ((i / SIDE) % SIDE, i % SIDE);
            let (fx, fy) = (x as f32 / SIDE as f32, y as f32 / SIDE as f32);
            let base = 0.5
                + 0.3 * (5.0 * fx + c as f32 + b as f32).sin() * (3.0 * fy + 0.5 * b as f32).cos();
            (base + 0.05 * (rng.random::<f32>() - 0.5)).clamp(0.0, 1.0)
        })
        .collect();
    TensorData::new(data, [BATCH, 3, SIDE, SIDE])
}

fn bits(seed: u64, n: usize) -> TensorData {
    let mut rng = StdRng::seed_from_u64(seed);
    let data: Vec<f32> = (0..BATCH * n)
        .map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 })
        .collect();
    TensorData::new(data, [BATCH, n])
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Tagged images and logits of the shipped v1 tagger on one device.
fn tag_and_decode(device: &Device) -> (Vec<f32>, Vec<f32>) {
    let (_, net) = weights::load_tagger_net(&weights_dir("faketagger-v1"), "tagger", device)
        .expect("weights/faketagger-v1 loads");
    let cover = Tensor::<4>::from_data(images(1), device);
    let message = Tensor::<2>::from_data(bits(2, net.decoder_bits()), device);
    let tagged = (cover.clone() + net.encoder.forward(cover, message)).clamp(0.0, 1.0);
    let logits = net.decoder.forward(tagged.clone());
    (values(tagged), values(logits))
}

#[test]
fn tagger_embeds_and_decodes_the_same_on_wgpu() {
    let (tagged_flex, logits_flex) = tag_and_decode(&flex());
    let (tagged_wgpu, logits_wgpu) = tag_and_decode(&wgpu());

    let image_diff = max_abs_diff(&tagged_flex, &tagged_wgpu);
    let logit_diff = max_abs_diff(&logits_flex, &logits_wgpu);
    eprintln!("tagged image max |Δ| {image_diff:.2e}, logits max |Δ| {logit_diff:.2e}");
    assert!(
        image_diff <= IMAGE_TOLERANCE,
        "tagged images differ by {image_diff}"
    );
    assert!(
        logit_diff <= LOGIT_TOLERANCE,
        "logits differ by {logit_diff}"
    );

    let clear = logits_flex
        .iter()
        .zip(&logits_wgpu)
        .filter(|(f, _)| f.abs() > LOGIT_TOLERANCE);
    let mut compared = 0;
    for (f, w) in clear {
        assert_eq!(f.signum(), w.signum(), "a channel bit flips: {f} vs {w}");
        compared += 1;
    }
    assert!(
        compared > logits_flex.len() * 9 / 10,
        "too few clear bits: {compared}"
    );
}

fn simulate(dir: &str, device: &Device) -> Vec<f32> {
    let simulator = Simulator::load(&weights_dir(dir), device).expect("simulator loads");
    let faces = Tensor::<4>::from_data(images(3), device);
    (0..simulator.variants().min(2))
        .flat_map(|variant| values(simulator.forward(faces.clone(), variant)))
        .collect()
}

#[test]
fn simulators_regenerate_the_same_on_wgpu() {
    for dir in ["autoencoder", "faceswap"] {
        let diff = max_abs_diff(&simulate(dir, &flex()), &simulate(dir, &wgpu()));
        eprintln!("{dir}: max |Δ| {diff:.2e}");
        assert!(diff <= IMAGE_TOLERANCE, "{dir} outputs differ by {diff}");
    }
}

/// d(loss)/d(cover) through encoder and decoder, the loss being BCE on the channel bits.
fn input_gradient(device: &Device) -> Vec<f32> {
    let device = device.clone().autodiff();
    let (_, net) = weights::load_tagger_net(&weights_dir("faketagger-v1"), "tagger", &device)
        .expect("weights/faketagger-v1 loads");
    let cover = Tensor::<4>::from_data(images(4), &device).require_grad();
    let message = Tensor::<2>::from_data(bits(5, net.decoder_bits()), &device);
    let tagged = cover.clone() + net.encoder.forward(cover.clone(), message.clone());
    let logits = net.decoder.forward(tagged);
    // BCE with targets (message+1)/2 on logits: softplus(-m·z)
    let loss = burn::tensor::activation::softplus(logits.mul(message).neg(), 1.0).mean();
    let grads = loss.backward();
    values(cover.grad(&grads).expect("the cover has a gradient"))
}

#[test]
fn training_gradients_agree_on_wgpu() {
    let g_flex = input_gradient(&flex());
    let g_wgpu = input_gradient(&wgpu());
    let scale = g_flex.iter().map(|v| v.abs()).fold(0.0, f32::max);
    assert!(scale > 0.0, "the gradient vanishes");
    let relative = max_abs_diff(&g_flex, &g_wgpu) / scale;
    eprintln!("input gradient: largest component {scale:.2e}, max relative |Δ| {relative:.2e}");
    assert!(
        relative <= GRADIENT_TOLERANCE,
        "gradients differ by {relative} of their scale"
    );
}

/// d(loss)/d(cover) through the encoder, one differentiable attack and the decoder: the attacks
/// a training step on a GPU goes through (JPEG's chroma upsampling, resizing and cropping use
/// the matrix-product bilinear resize; burn's bilinear `interpolate` has no backward pass on
/// wgpu or cuda).
fn attacked_gradient(device: &Device, op: NoiseOp) -> Vec<f32> {
    let device = device.clone().autodiff();
    let (_, net) = weights::load_tagger_net(&weights_dir("faketagger-v1"), "tagger", &device)
        .expect("weights/faketagger-v1 loads");
    let noiser = Noiser::new(NoiseConfig::new(), &device);
    let cover = Tensor::<4>::from_data(images(6), &device).require_grad();
    let message = Tensor::<2>::from_data(bits(7, net.decoder_bits()), &device);
    let tagged = cover.clone() + net.encoder.forward(cover.clone(), message.clone());
    let attacked = noiser.apply_op(tagged, &cover, op, &mut StdRng::seed_from_u64(8));
    let logits = net.decoder.forward(attacked);
    let loss = burn::tensor::activation::softplus(logits.mul(message).neg(), 1.0).mean();
    let grads = loss.backward();
    values(cover.grad(&grads).expect("the cover has a gradient"))
}

#[test]
fn gradients_through_the_attacks_agree_on_wgpu() {
    let ops = [
        NoiseOp::Jpeg { quality: 50.0 },
        NoiseOp::Resize { scale: 0.5 },
        NoiseOp::Crop {
            area: 0.8,
            x: 0.3,
            y: 0.7,
        },
        NoiseOp::Blur { sigma: 1.0 },
    ];
    for op in ops {
        let g_flex = attacked_gradient(&flex(), op);
        let g_wgpu = attacked_gradient(&wgpu(), op);
        let scale = g_flex.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(scale > 0.0, "{op:?}: the gradient vanishes");
        let relative = max_abs_diff(&g_flex, &g_wgpu) / scale;
        eprintln!("{op:?}: input gradient max relative |Δ| {relative:.2e}");
        assert!(
            relative <= GRADIENT_TOLERANCE,
            "{op:?}: gradients differ by {relative} of their scale"
        );
    }
}

/// The per-channel (grouped) separable 11-tap convolutions of the training loss's SSIM window.
fn grouped_blur(device: &Device) -> Vec<f32> {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    let taps: Vec<f32> = (0..3)
        .flat_map(|_| (0..11).map(|i| (-((i as f32 - 5.0).powi(2)) / 4.5).exp() / 3.76))
        .collect();
    let row = Tensor::<4>::from_data(TensorData::new(taps.clone(), [3, 1, 1, 11]), device);
    let column = Tensor::<4>::from_data(TensorData::new(taps, [3, 1, 11, 1]), device);
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 3);
    let x = Tensor::<4>::from_data(images(10), device);
    values(conv2d(
        conv2d(x, row, None, options.clone()),
        column,
        None,
        options,
    ))
}

#[test]
fn grouped_convolutions_agree_on_wgpu() {
    let diff = max_abs_diff(&grouped_blur(&flex()), &grouped_blur(&wgpu()));
    eprintln!("grouped separable convolution: max |Δ| {diff:.2e}");
    assert!(
        diff <= IMAGE_TOLERANCE,
        "grouped convolutions differ by {diff}"
    );
}
