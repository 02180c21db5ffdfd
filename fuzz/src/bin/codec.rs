//! The channel decoder on arbitrary words: the bytes are read as the decoder network's logits
//! (soft decoding: clean, algebraic, erasures, ordered statistics) and as hard bits. Besides not
//! panicking, what it reports must hold: a found tag's codeword is the one `encode` gives (scheme
//! 1), lies `corrected_bits` from the hard decisions, and within the acceptance radius.

use faketagger::codec::{ChannelBits, Codec, Decoding};

fn check(codec: &Codec, decoding: &Decoding) {
    let Some(found) = decoding.found else { return };
    assert_eq!(
        found.codeword.distance(&decoding.hard_bits),
        Some(found.corrected_bits),
        "corrected_bits is not the distance to the hard decisions"
    );
    assert!(found.corrected_bits <= codec.acceptance_radius());
    if found.version == faketagger::codec::SchemeVersion::V1 {
        assert_eq!(
            codec.encode(found.tag),
            found.codeword,
            "not the tag's codeword"
        );
    }
    assert!(decoding.confidence().is_finite());
}

fn main() {
    let codec = Codec::v1();
    let n = codec.channel_bits();
    afl::fuzz!(|data: &[u8]| {
        // one signed byte per logit, scaled to the decoder network's range (±8)
        if data.len() >= n {
            let llr: Vec<f32> = data[..n]
                .iter()
                .map(|&b| f32::from(b as i8) / 16.0)
                .collect();
            if let Ok(decoding) = codec.decode_soft(&llr) {
                check(&codec, &decoding);
            }
        }
        let bits: Vec<bool> = data
            .iter()
            .flat_map(|&b| (0..8).map(move |i| b >> i & 1 == 1))
            .take(n)
            .collect();
        if let Ok(bits) = ChannelBits::from_bools(&bits) {
            if let Ok(decoding) = codec.decode_hard(&bits) {
                check(&codec, &decoding);
            }
        }
    });
}
