//! Batches of images ⇄ tensors: `[B, 3, H, W]` in 0..1, channel-planar (what the networks and
//! simulators take).

use burn::tensor::{Device, Tensor, TensorData};
use image::{Rgb32FImage, RgbImage};

/// Images of a `[B, 3, R, R]` batch in 0..1.
pub fn to_images(batch: Tensor<4>) -> Vec<RgbImage> {
    let [b, _, h, w] = batch.dims();
    let data: Vec<f32> = batch
        .clamp(0.0, 1.0)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap_or_default();
    (0..b)
        .map(|k| {
            RgbImage::from_fn(w as u32, h as u32, |x, y| {
                let at = |c: usize| {
                    let v = data.get(((k * 3 + c) * h + y as usize) * w + x as usize);
                    (v.copied().unwrap_or(0.0) * 255.0).round() as u8
                };
                image::Rgb([at(0), at(1), at(2)])
            })
        })
        .collect()
}

/// A batch tensor of 8-bit images (all the size of the first) in 0..1.
pub fn from_images(images: &[RgbImage], device: &Device) -> Tensor<4> {
    planar(
        images,
        |img: &RgbImage, c, data: &mut Vec<f32>| {
            data.extend(img.pixels().map(|p| f32::from(p[c]) / 255.0));
        },
        device,
    )
}

/// A batch tensor of float images (all the size of the first), values as they are.
pub fn from_float_images(images: &[Rgb32FImage], device: &Device) -> Tensor<4> {
    planar(
        images,
        |img: &Rgb32FImage, c, data: &mut Vec<f32>| data.extend(img.pixels().map(|p| p[c])),
        device,
    )
}

/// The one image → tensor layout: `[B, 3, H, W]`, each channel's plane row by row.
fn planar<I>(images: &[I], channel: impl Fn(&I, usize, &mut Vec<f32>), device: &Device) -> Tensor<4>
where
    I: image::GenericImageView,
{
    let (w, h) = images
        .first()
        .map(|i| (i.width() as usize, i.height() as usize))
        .unwrap_or((0, 0));
    let mut data = Vec::with_capacity(images.len() * 3 * w * h);
    for img in images {
        for c in 0..3 {
            channel(img, c, &mut data);
        }
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, h, w]), device)
}
