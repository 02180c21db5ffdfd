//! `noise::resize` (two matrix products, differentiable on every backend) against burn's bilinear
//! `interpolate` (no backward pass on the cubecl backends), on flex where both exist.
#![cfg(feature = "flex")]

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Tensor, TensorData};
use faketagger_model::{Backend, noise};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random(shape: [usize; 4], seed: u64) -> TensorData {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = shape.iter().product();
    TensorData::new(
        (0..n).map(|_| rng.random::<f32>()).collect::<Vec<_>>(),
        shape,
    )
}

#[test]
fn resize_matches_bilinear_interpolate() {
    let device = Backend::Flex.device().unwrap();
    // down, up, odd factors, non-square, one side unchanged
    let cases: [([usize; 2], [usize; 2]); 6] = [
        ([128, 128], [64, 64]),
        ([64, 64], [128, 128]),
        ([128, 128], [45, 45]),
        ([37, 53], [128, 96]),
        ([48, 80], [48, 33]),
        ([9, 7], [1, 1]),
    ];
    for (seed, ([h, w], size)) in cases.into_iter().enumerate() {
        let x = Tensor::<4>::from_data(random([2, 3, h, w], seed as u64), &device);
        let ours: Vec<f32> = noise::resize(x.clone(), size)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let reference: Vec<f32> = interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size(size),
        )
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
        assert_eq!(ours.len(), 2 * 3 * size[0] * size[1]);
        let diff = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "{h}×{w} → {size:?}: max |Δ| {diff}");
    }
}

#[test]
fn resize_passes_gradients_and_keeps_constants() {
    let device = Backend::Flex.device().unwrap().autodiff();
    let x = Tensor::<4>::from_data(random([1, 3, 32, 32], 9), &device).require_grad();
    let y = noise::resize(x.clone(), [16, 16]);
    let grads = y.sum().backward();
    let g: Vec<f32> = x
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    // every input pixel feeds the ×0.5 output with total weight 1/4
    assert!(g.iter().all(|v| (v - 0.25).abs() < 1e-6), "{:?}", &g[..4]);
    let c = Tensor::<4>::full([1, 1, 20, 30], 0.3, &Backend::Flex.device().unwrap());
    let up: Vec<f32> = noise::resize(c, [77, 13])
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(up.iter().all(|v| (v - 0.3).abs() < 1e-6));
}
