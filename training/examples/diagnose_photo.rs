//! Why a photo does not take a tag: reads the networks' own bit accuracy on it, in float and
//! without the engine's search, and separates the encoder's part from the decoder's.
//! `cargo run --release -p faketagger-train --example diagnose_photo -- WEIGHTS_DIR PHOTO [FACE]`
//!
//! The photo (and FACE, an aligned face crop; default: a flat mid-grey frame) is resized to the
//! networks' square. Printed, for strengths 1, 2 and 4, the fraction of the 256 channel bits
//! read right from:
//! - `photo`: the photo with its own residual (what the engine writes, before saving);
//! - `face's residual on the photo`: FACE's residual added to the photo: when this reads and
//!   `photo` does not, the encoder fails on the photo; when neither reads, the decoder does;
//! - `photo's residual on grey`: the photo's residual alone on a flat grey frame;
//! - `face`: FACE with its own residual, for comparison;
//!
//! and the RMS of each residual (8-bit levels at strength 1); then, at strengths 1 and 2, three
//! rounds of per-bit boosts (the message input of bits read wrong ×3, of bits read right by a
//! logit under 1 ×1.5), the engine's informed embedding in miniature.

use burn::tensor::{Tensor, TensorData};
use faketagger_codec::{Codec, Tag};
use faketagger_model::images::from_images;
use faketagger_model::{Backend, weights};
use image::imageops::FilterType;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, photo) = match args.as_slice() {
        [d, p, ..] => (d, p),
        _ => return Err("usage: diagnose_photo WEIGHTS_DIR PHOTO [FACE]".into()),
    };
    let device = Backend::Flex.device()?;
    let (config, net) = weights::load_tagger_net(dir.as_ref(), "tagger", &device)?;
    let side = config.encoder.resolution as u32;
    let load = |path: &str| -> Result<image::RgbImage, image::ImageError> {
        Ok(image::imageops::resize(
            &image::open(path)?.to_rgb8(),
            side,
            side,
            FilterType::Triangle,
        ))
    };
    let photo = load(photo)?;
    let face = match args.get(2) {
        Some(path) => load(path)?,
        None => image::RgbImage::from_pixel(side, side, image::Rgb([128, 128, 128])),
    };
    let grey = image::RgbImage::from_pixel(side, side, image::Rgb([128, 128, 128]));
    let codec = Codec::v1();
    let bits = codec.encode(Tag::new(0x0123_4567_89ab_cdef));
    let message: Vec<f32> = bits.iter().map(|b| if b { 1.0 } else { -1.0 }).collect();
    let n = message.len();
    let message = || Tensor::<2>::from_data(TensorData::new(message.clone(), [1, n]), &device);
    let residual = |img: &image::RgbImage| {
        net.encoder
            .forward(from_images(std::slice::from_ref(img), &device), message())
    };
    let (r_photo, r_face) = (residual(&photo), residual(&face));
    let rms = |r: &Tensor<4>| {
        let v: Vec<f32> = r.clone().into_data().try_to_vec().unwrap_or_default();
        255.0 * (v.iter().map(|x| x * x).sum::<f32>() / v.len().max(1) as f32).sqrt()
    };
    println!(
        "residual RMS at strength 1 (8-bit levels): photo {:.2}, face {:.2}",
        rms(&r_photo),
        rms(&r_face)
    );
    // the decoder's logits on `cover` plus `strength` × `r`, saved to 8 bits
    let logits = |cover: &image::RgbImage, r: &Tensor<4>, strength: f32| -> Vec<f32> {
        let tagged = (from_images(std::slice::from_ref(cover), &device)
            + r.clone().mul_scalar(strength))
        .clamp(0.0, 1.0)
        .mul_scalar(255.0)
        .round()
        .div_scalar(255.0);
        net.decoder
            .forward(tagged)
            .into_data()
            .try_to_vec()
            .unwrap_or_default()
    };
    let right = |logits: &[f32]| {
        let right = logits
            .iter()
            .zip(bits.iter())
            .filter(|(l, b)| (**l > 0.0) == *b)
            .count();
        right as f32 / n as f32
    };
    let accuracy = |cover: &image::RgbImage, r: &Tensor<4>, strength: f32| -> f32 {
        right(&logits(cover, r, strength))
    };
    for strength in [1.0, 2.0, 4.0] {
        println!(
            "strength {strength}: photo {:.3} | face's residual on the photo {:.3} | photo's residual on grey {:.3} | face {:.3}",
            accuracy(&photo, &r_photo, strength),
            accuracy(&photo, &r_face, strength),
            accuracy(&grey, &r_photo, strength),
            accuracy(&face, &r_face, strength),
        );
    }
    // bit-wise boosting: the encoder's message input raised ×3 on the bits read wrong (and ×1.5
    // on those read right by a logit under 1), three rounds; the message path starts with a
    // linear layer (the engine does the same with ×2 / ×1.25: `BIT_BOOST_WRONG` in src/tagger.rs)
    for strength in [1.0f32, 2.0] {
        let mut weights_per_bit = vec![1.0f32; n];
        for round in 1..=3 {
            let boosted: Vec<f32> = bits
                .iter()
                .zip(&weights_per_bit)
                .map(|(b, w)| if b { *w } else { -*w })
                .collect();
            let r = net.encoder.forward(
                from_images(std::slice::from_ref(&photo), &device),
                Tensor::<2>::from_data(TensorData::new(boosted, [1, n]), &device),
            );
            let logits = logits(&photo, &r, strength);
            let read = right(&logits);
            for ((l, b), w) in logits
                .iter()
                .zip(bits.iter())
                .zip(weights_per_bit.iter_mut())
            {
                let margin = if b { *l } else { -*l };
                if margin < 0.0 {
                    *w *= 3.0;
                } else if margin < 1.0 {
                    *w *= 1.5;
                }
            }
            println!(
                "bit-wise boost, round {round}, strength {strength}: photo {:.3}, residual RMS {:.2}",
                read,
                rms(&r) * strength
            );
        }
    }
    Ok(())
}
