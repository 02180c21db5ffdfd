//! Where a training step's time goes on this backend: encoder forward, decoder forward, backward
//! and optimiser step timed apart, batch 16, 128×128, identity attack.
//! `cargo run --release -p faketagger-model --example profile_step`

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::Tensor;
use faketagger_model::{Backend, TaggerNetConfig};

const BATCH: usize = 16;
const ROUNDS: usize = 8;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Backend::Flex.device()?.autodiff();
    let mut net = TaggerNetConfig::standard().init(&device);
    let mut optim = AdamConfig::new().init();
    let cover = Tensor::<4>::zeros([BATCH, 3, 128, 128], &device).add_scalar(0.5);
    let bits = Tensor::<2>::ones([BATCH, 256], &device);
    let mut t = [0f64; 4];
    for round in 0..ROUNDS + 2 {
        let s = Instant::now();
        let residual = net.encoder.forward(cover.clone(), bits.clone());
        let _ = residual.clone().sum().into_data();
        let a = s.elapsed().as_secs_f64();
        let logits = net.decoder.forward(cover.clone() + residual);
        let loss = logits.powi_scalar(2).mean();
        let _ = loss.clone().into_data();
        let b = s.elapsed().as_secs_f64();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        let c = s.elapsed().as_secs_f64();
        net = optim.step(1e-3, net, grads);
        let _ = net.decoder.clone().into_record();
        let d = s.elapsed().as_secs_f64();
        if round >= 2 {
            for (acc, v) in t.iter_mut().zip([a, b - a, c - b, d - c]) {
                *acc += v / ROUNDS as f64;
            }
        }
    }
    println!(
        "encoder forward {:.0} ms, decoder forward {:.0} ms, backward {:.0} ms, optimiser {:.0} ms",
        t[0] * 1e3,
        t[1] * 1e3,
        t[2] * 1e3,
        t[3] * 1e3
    );
    ops()?;
    Ok(())
}

/// The encoder's ops one by one (forward, batch 16, no autodiff), to find a slow one.
fn ops() -> Result<(), Box<dyn std::error::Error>> {
    use burn::nn::conv::Conv2dConfig;
    use burn::nn::{LinearConfig, PaddingConfig2d, PixelShuffleConfig, PixelUnshuffleConfig};
    use burn::tensor::module::interpolate;
    use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
    let device = Backend::Flex.device()?;
    let time = |name: &str, f: &dyn Fn() -> Tensor<4>| {
        let _ = f().into_data();
        let s = Instant::now();
        for _ in 0..ROUNDS {
            let _ = f().into_data();
        }
        println!(
            "  {name}: {:.1} ms",
            s.elapsed().as_secs_f64() * 1e3 / ROUNDS as f64
        );
    };
    let image = Tensor::<4>::zeros([BATCH, 3, 128, 128], &device).add_scalar(0.5);
    let grid = Tensor::<4>::zeros([BATCH, 48, 32, 32], &device).add_scalar(0.5);
    let thin = Tensor::<4>::zeros([BATCH, 32, 32, 32], &device).add_scalar(0.5);
    let unshuffle = PixelUnshuffleConfig::new(4).init();
    let shuffle = PixelShuffleConfig::new(4).init();
    let conv = |i, o, k: usize| {
        Conv2dConfig::new([i, o], [k, k])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .init(&device)
    };
    let (c48, c32, c3) = (conv(48, 32, 3), conv(32, 32, 3), conv(3, 3, 3));
    let linear = LinearConfig::new(256, 2048).init(&device);
    let bits = Tensor::<2>::ones([BATCH, 256], &device);
    println!("encoder ops, batch {BATCH}:");
    time("pixel unshuffle 128→32", &|| {
        unshuffle.forward(image.clone())
    });
    time("conv 3×3 48→32 @32²", &|| c48.forward(grid.clone()));
    time("conv 3×3 32→32 @32²", &|| c32.forward(thin.clone()));
    // the same convolution as unfold (im2col) + one matmul, to compare formulations
    let weight = c48.weight.val().reshape([32, 48 * 9]);
    time("conv 3×3 48→32 @32² as unfold + matmul", &|| {
        let cols = burn::tensor::module::unfold4d(
            grid.clone(),
            [3, 3],
            burn::tensor::ops::UnfoldOptions::new([1, 1], [1, 1], [1, 1]),
        ); // [B, 48·9, 1024]
        weight
            .clone()
            .unsqueeze::<3>()
            .repeat_dim(0, BATCH)
            .matmul(cols)
            .reshape([BATCH, 32, 32, 32])
    });
    time("linear 256→2048 + reshape", &|| {
        linear.forward(bits.clone()).reshape([BATCH, 8, 16, 16])
    });
    time("nearest upsample 16→32", &|| {
        interpolate(
            linear.forward(bits.clone()).reshape([BATCH, 8, 16, 16]),
            InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([32, 32]),
        )
    });
    time("pixel shuffle 32→128", &|| shuffle.forward(grid.clone()));
    time("conv 3×3 3→3 @128²", &|| c3.forward(image.clone()));
    Ok(())
}
