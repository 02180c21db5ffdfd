//! The tagger's validation with the real attacks of `crates/attacks` and the simulators: faces
//! are tagged with codec words of seeded random tags, saved to 8-bit images, attacked, resized
//! back to the networks' side and decoded; bit accuracy is counted on the channel bits and
//! exact-tag recovery through the codec, as the engine decodes.

use burn::tensor::{Device, Tensor, TensorData};
use faketagger_attacks::Attack;
use faketagger_attacks::metrics;
use faketagger_codec::{Codec, Tag};
use faketagger_model::TaggerNet;
use faketagger_model::images::{from_images, to_images};
use faketagger_model::noise::simulators::Simulator;
use image::RgbImage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::TrainError;
use crate::data::FaceSet;
use crate::tagger::{attack_images, embed};

/// One row of a validation: an attack and what survived it.
#[derive(Debug, Clone, PartialEq)]
pub struct ValRow {
    /// The attack (or `reconstruction`, `unmarked`).
    pub attack: String,
    /// Mean PSNR (dB) of the tagged (or reconstructed) images against the originals.
    pub psnr: Option<f64>,
    /// Mean SSIM of the same.
    pub ssim: Option<f64>,
    /// Fraction of channel bits right after the attack.
    pub bit_accuracy: Option<f64>,
    /// Fraction of images whose tag came back exactly (for `unmarked`: that reported a tag).
    pub exact_tag: Option<f64>,
}

/// Faces per validation batch.
const VAL_BATCH: usize = 32;

/// What a validation row attacks with.
#[derive(Debug, Clone)]
pub enum ValAttack {
    /// A real attack.
    Real(Attack),
    /// Simulator `index` of the trainer, in variant `variant`.
    Simulator {
        /// Which simulator.
        index: usize,
        /// Which rendering (identity of a face swap).
        variant: usize,
    },
}

/// Tags `faces` at `strength` with seeded random tags, applies every attack and decodes.
/// Returns one row per attack plus a row `unmarked` whose `exact_tag` is the fraction of the
/// untagged faces the codec reports a tag on (false positives).
#[allow(clippy::too_many_arguments)]
pub fn validate_tagger(
    net: &TaggerNet,
    simulators: &[Simulator],
    faces: &FaceSet,
    attacks: &[(String, ValAttack)],
    codec: &Codec,
    strength: f32,
    seed: u64,
    device: &Device,
) -> Result<Vec<ValRow>, TrainError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut recovered = vec![Recovery::default(); attacks.len()];
    let (mut psnr, mut ssim, mut false_tags) = (0.0, 0.0, 0usize);
    let indices: Vec<usize> = (0..faces.len()).collect();
    for chunk in indices.chunks(VAL_BATCH) {
        let tags: Vec<Tag> = chunk.iter().map(|_| Tag::new(rng.random())).collect();
        let (words, bits) = codewords(codec, &tags, device);
        let cover = faces.batch(chunk, &[], device);
        let tagged = to_images(embed(net, cover.clone(), bits, strength));
        let originals: Vec<RgbImage> = chunk.iter().map(|&i| faces.image(i)).collect();
        for (o, t) in originals.iter().zip(&tagged) {
            psnr += metrics::psnr(o, t).unwrap_or_default().min(100.0);
            ssim += metrics::ssim(o, t).unwrap_or_default();
        }
        for logits in decode_logits(net, from_images(&originals, device)) {
            if codec
                .decode_soft(&logits)
                .ok()
                .and_then(|d| d.tag())
                .is_some()
            {
                false_tags += 1;
            }
        }
        let tagged_batch = from_images(&tagged, device);
        for (a, (_, attack)) in attacks.iter().enumerate() {
            let attacked = match attack {
                // canvases on another photo (`@photo`): the next untagged face
                ValAttack::Real(attack) => {
                    from_images(&attack_images(attack, &tagged, &originals, seed)?, device)
                }
                ValAttack::Simulator { index, variant } => match simulators.get(*index) {
                    Some(sim) => from_images(
                        &to_images(sim.forward(tagged_batch.clone(), *variant)),
                        device,
                    ),
                    None => {
                        return Err(TrainError::Config(format!(
                            "validation row {}: simulator {index} is not loaded ({} are)",
                            attacks[a].0,
                            simulators.len()
                        )));
                    }
                },
            };
            recovered[a].add(net, codec, attacked, &words, &tags);
        }
    }
    let n = faces.len().max(1) as f64;
    let mut rows: Vec<ValRow> = attacks
        .iter()
        .zip(&recovered)
        .map(|((name, _), r)| ValRow {
            attack: name.clone(),
            psnr: Some(psnr / n),
            ssim: Some(ssim / n),
            bit_accuracy: Some(r.bits as f64 / (n * codec.channel_bits() as f64)),
            exact_tag: Some(r.exact as f64 / n),
        })
        .collect();
    rows.push(ValRow {
        attack: "unmarked".into(),
        psnr: None,
        ssim: None,
        bit_accuracy: None,
        exact_tag: Some(false_tags as f64 / n),
    });
    Ok(rows)
}

/// The codec words of `tags` and the same words as a `[tags, channel bits]` tensor of ±1.
pub fn codewords(codec: &Codec, tags: &[Tag], device: &Device) -> (Vec<Vec<bool>>, Tensor<2>) {
    let words: Vec<Vec<bool>> = tags
        .iter()
        .map(|&t| codec.encode(t).iter().collect())
        .collect();
    let signs: Vec<f32> = words
        .iter()
        .flatten()
        .map(|&b| if b { 1.0 } else { -1.0 })
        .collect();
    let bits = Tensor::from_data(
        TensorData::new(signs, [tags.len(), codec.channel_bits()]),
        device,
    );
    (words, bits)
}

/// Channel bits and tags read back from decoded images, against the words and tags written.
#[derive(Debug, Default, Clone)]
pub struct Recovery {
    /// Channel bits read as written.
    pub bits: usize,
    /// Channel bits compared.
    pub total: usize,
    /// Images decoded.
    pub images: usize,
    /// Images whose codec decoding is the tag written.
    pub exact: usize,
    /// Images whose codec decoding is another tag (a wrong verdict).
    pub other: usize,
}

impl Recovery {
    /// Decodes `images` and counts image `k` against `words[k]` and `tags[k]`.
    pub fn add(
        &mut self,
        net: &TaggerNet,
        codec: &Codec,
        images: Tensor<4>,
        words: &[Vec<bool>],
        tags: &[Tag],
    ) {
        for ((logits, word), &tag) in decode_logits(net, images).iter().zip(words).zip(tags) {
            self.bits += logits
                .iter()
                .zip(word)
                .filter(|&(&l, &b)| (l > 0.0) == b)
                .count();
            self.total += word.len();
            self.images += 1;
            match codec.decode_soft(logits).ok().and_then(|d| d.tag()) {
                Some(t) if t == tag => self.exact += 1,
                Some(_) => self.other += 1,
                None => {}
            }
        }
    }

    /// Fraction of the channel bits read as written.
    pub fn bit_accuracy(&self) -> f64 {
        self.bits as f64 / self.total.max(1) as f64
    }

    /// Fractions of the images read as exactly their tag and as another tag.
    pub fn exact_and_other(&self) -> (f64, f64) {
        let n = self.images.max(1) as f64;
        (self.exact as f64 / n, self.other as f64 / n)
    }
}

/// The decoder's logits per image of a batch.
fn decode_logits(net: &TaggerNet, images: Tensor<4>) -> Vec<Vec<f32>> {
    let logits = net.decoder.forward(images);
    let [b, n] = logits.dims();
    let data = logits.into_data().try_to_vec::<f32>().unwrap_or_default();
    (0..b)
        .map(|k| data.get(k * n..(k + 1) * n).unwrap_or_default().to_vec())
        .collect()
}
