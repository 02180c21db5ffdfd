//! `faketagger codec`: the codec without images.

use crate::util::*;

#[test]
fn codec_encode_and_decode_agree_and_correct_errors() {
    let r = run(&["codec", "encode", "--tag", TAG]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let bits = r.stdout.trim().to_string();
    assert_eq!(bits.len(), 256);

    let r = run(&["codec", "decode", &bits, "--json"]);
    assert_eq!(r.code, 0);
    let d = &json_lines(&r.stdout)[0];
    assert_eq!(
        (d["found"].clone(), d["tag"].clone(), d["corrected"].clone()),
        (true.into(), TAG.into(), 0.into())
    );

    // flip every 8th bit of the first 10 symbols: 10 symbol errors, within hard capacity (11)
    let mut flipped: Vec<char> = bits.chars().collect();
    for s in 0..10 {
        flipped[s * 8 + 3] = if flipped[s * 8 + 3] == '0' { '1' } else { '0' };
    }
    let flipped: String = flipped.into_iter().collect();
    let d = &json_lines(&run(&["codec", "decode", &flipped, "--json"]).stdout)[0];
    assert_eq!(d["tag"], TAG);
    assert_eq!(d["corrected"], 10);

    // the JSON of embed carries the same word
    let r = run(&["codec", "encode", "--tag", TAG, "--json"]);
    assert_eq!(json_lines(&r.stdout)[0]["channel_bits"], bits.as_str());
}

#[test]
fn codec_decode_of_noise_is_no_tag_and_garbage_is_an_error() {
    let noise: String = (0..256u32)
        .map(|i| {
            if (i.wrapping_mul(2_654_435_761) >> 7) & 1 == 1 {
                '1'
            } else {
                '0'
            }
        })
        .collect();
    let r = run(&["codec", "decode", &noise]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("no tag"), "{}", r.stdout);

    let r = run(&["codec", "decode", "0101"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("256") && r.stderr.contains("hint"),
        "{}",
        r.stderr
    );
    let r = run(&["codec", "decode", "01x1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("'x'"), "{}", r.stderr);
}
