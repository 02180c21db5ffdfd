//! The embed/decode contract: flags, JSON fields, exit codes, outputs that never clobber.

use image::GenericImageView;
use tempfile::tempdir;

use crate::util::*;

#[test]
fn embed_then_decode_round_trips_with_json() {
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "photo.png", 1);
    let output = dir.path().join("tagged.png");
    let r = run(&["embed", s(&input), "-o", s(&output), "--tag", TAG, "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = json_lines(&r.stdout);
    assert_eq!(lines.len(), 1);
    let e = &lines[0];
    assert_eq!(e["path"], s(&input));
    assert_eq!(e["output"], s(&output));
    assert_eq!(e["tag"], TAG);
    let bits = e["channel_bits"].as_str().unwrap();
    assert_eq!(bits.len(), 256);
    assert!(bits.chars().all(|c| c == '0' || c == '1'));
    let psnr = e["psnr"].as_f64().unwrap();
    assert!(psnr > 38.0, "PSNR {psnr}");

    let r = run(&["decode", s(&output), "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = &json_lines(&r.stdout)[0];
    assert_eq!(d["path"], s(&output));
    assert_eq!(d["found"], true);
    assert_eq!(d["tag"], TAG);
    let wrong = d["channel_bits"]
        .as_str()
        .unwrap()
        .chars()
        .zip(bits.chars())
        .filter(|(a, b)| a != b)
        .count();
    // embed checks its output decodes within 5 wrong bits before it writes it
    assert!(
        wrong <= 5,
        "a lossless output decodes to the embedded word: {wrong} bits wrong"
    );
    assert!(d["corrected"].as_u64().unwrap() <= 5);
    assert!(d["confidence"].as_f64().unwrap() > 0.9);
}

#[test]
fn clean_photos_say_no_tag_and_exit_one() {
    let dir = tempdir().unwrap();
    let clean = write_photo(dir.path(), "clean.png", 2);
    let r = run(&["decode", s(&clean), "--json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let d = &json_lines(&r.stdout)[0];
    assert_eq!(d["found"], false);
    assert!(d["tag"].is_null());
    assert!(d["confidence"].as_f64().unwrap() < 0.64);

    // a batch with one tagged and one clean photo: 1, in input order
    let tagged = dir.path().join("tagged.png");
    assert_eq!(
        run(&["embed", s(&clean), "-o", s(&tagged), "--tag", TAG]).code,
        0
    );
    let r = run(&["decode", s(&tagged), s(&clean), "--json", "-j", "2"]);
    assert_eq!(r.code, 1);
    let lines = json_lines(&r.stdout);
    assert_eq!(
        (lines[0]["found"].clone(), lines[1]["found"].clone()),
        (true.into(), false.into())
    );
    assert_eq!(lines[1]["path"], s(&clean));
}

#[test]
fn human_output_names_the_file_and_the_tag() {
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "p.png", 3);
    let out = dir.path().join("out.jpg");
    let r = run(&["embed", s(&input), "-o", s(&out), "--tag", TAG]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(TAG) && r.stdout.contains("PSNR"),
        "{}",
        r.stdout
    );
    assert!(
        run(&[
            "embed",
            s(&input),
            "-o",
            s(&dir.path().join("q.png")),
            "--tag",
            TAG,
            "--quiet"
        ])
        .stdout
        .is_empty()
    );
    let r = run(&["decode", s(&out)]);
    assert_eq!(r.code, 0, "JPEG q95 output must still decode: {}", r.stdout);
    assert!(r.stdout.contains(&format!("tag {TAG}")), "{}", r.stdout);
}

#[test]
fn existing_outputs_are_refused_unless_forced_and_inputs_never_replaced() {
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "in.png", 4);
    let output = dir.path().join("out.png");
    std::fs::write(&output, b"precious").unwrap();

    let r = run(&["embed", s(&input), "-o", s(&output), "--tag", TAG]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("out.png") && r.stderr.contains("exists") && r.stderr.contains("--force"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read(&output).unwrap(), b"precious");

    let r = run(&[
        "embed",
        s(&input),
        "-o",
        s(&output),
        "--tag",
        TAG,
        "--force",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(image::open(&output).is_ok());

    let before = std::fs::read(&input).unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec!["embed", s(&input), "-o", s(&input), "--tag", TAG];
        args.extend_from_slice(extra);
        let r = run(&args);
        assert_eq!(r.code, 2);
        assert!(r.stderr.contains("input"), "{}", r.stderr);
    }
    // the same file reached through another path is still an input
    let sneaky = dir.path().join(".").join("in.png");
    assert_eq!(
        run(&[
            "embed",
            s(&input),
            "-o",
            s(&sneaky),
            "--tag",
            TAG,
            "--force"
        ])
        .code,
        2
    );
    assert_eq!(std::fs::read(&input).unwrap(), before);
    assert!(leftover_temporaries(dir.path()).is_empty());
}

#[test]
fn out_dir_tags_several_photos_and_keeps_going_past_a_bad_one() {
    let dir = tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let a = write_photo(dir.path(), "a.png", 5);
    let b = dir.path().join("b.png");
    std::fs::write(&b, b"not an image").unwrap();
    let c = write_photo(dir.path(), "c.png", 6);
    let r = run(&[
        "embed",
        s(&a),
        s(&b),
        s(&c),
        "--out-dir",
        s(&out),
        "--tag",
        TAG,
        "--json",
    ]);
    assert_eq!(r.code, 2, "one input failed");
    let lines = json_lines(&r.stdout);
    assert_eq!(lines.len(), 3);
    assert!(lines[1]["error"].as_str().unwrap().contains("b.png"));
    assert!(
        out.join("a.png").exists() && out.join("c.png").exists() && !out.join("b.png").exists()
    );
    assert!(leftover_temporaries(&out).is_empty());
    let r = run(&["decode", s(&out.join("a.png")), s(&out.join("c.png"))]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn bad_flags_get_clear_errors_naming_the_flag() {
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "in.png", 7);
    let out = dir.path().join("o.png");
    let gif = dir.path().join("o.gif");
    let missing = dir.path().join("missing");
    let cases: &[(&[&str], &str)] = &[
        (
            &["embed", s(&input), "-o", s(&out), "--tag", "xyz"],
            "--tag",
        ),
        (
            &[
                "embed",
                s(&input),
                "-o",
                s(&out),
                "--tag",
                "0123456789abcdef0",
            ],
            "16 hex",
        ),
        (
            &[
                "embed",
                s(&input),
                "-o",
                s(&out),
                "--tag",
                TAG,
                "--strength",
                "0",
            ],
            "--strength",
        ),
        (
            &[
                "embed",
                s(&input),
                "-o",
                s(&out),
                "--tag",
                TAG,
                "--strength",
                "NaN",
            ],
            "--strength",
        ),
        (
            &[
                "embed",
                s(&input),
                "-o",
                s(&out),
                "--tag",
                TAG,
                "--quality",
                "0",
            ],
            "--quality",
        ),
        // negative numbers are values, checked like any other (clap would call them flags)
        (
            &[
                "embed",
                s(&input),
                "-o",
                s(&out),
                "--tag",
                TAG,
                "--strength",
                "-1",
            ],
            "--strength -1: must lie between",
        ),
        (
            &[
                "embed",
                s(&input),
                "-o",
                s(&out),
                "--tag",
                TAG,
                "--quality",
                "300",
            ],
            "--quality 300: must lie between 1 and 100",
        ),
        (
            &["embed", s(&input), s(&input), "-o", s(&out), "--tag", TAG],
            "--out-dir",
        ),
        (
            &["embed", s(&input), "-o", s(&gif), "--tag", TAG],
            "extension",
        ),
        (
            &["embed", s(&input), "--out-dir", s(&missing), "--tag", TAG],
            "--out-dir",
        ),
        (&["embed", s(&input), "--tag", TAG], "--output"),
        (&["embed", s(&input), "-o", s(&out)], "--tag"),
        (&["decode"], "INPUT"),
        (&["decode", s(&input), "-j", "0"], "--threads"),
        (&["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let r = run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(needle),
            "{args:?}: stderr lacks {needle:?}: {}",
            r.stderr
        );
    }
    assert!(!out.exists());
}

#[test]
fn real_faces_from_the_val_split_round_trip() {
    let faces = shared_faces("val", 12);
    if faces.is_empty() {
        return;
    }
    let dir = tempdir().unwrap();
    let mut args = vec!["embed".to_string()];
    args.extend(faces.iter().map(|p| s(p).to_string()));
    args.extend(["--out-dir", s(dir.path()), "--tag", TAG, "--json"].map(String::from));
    let r = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}", r.stderr);
    // the interim baseline averages 37.8 dB on 128 px faces (42.5 dB at 256 px)
    for line in json_lines(&r.stdout) {
        assert!(line["psnr"].as_f64().unwrap() > 35.0, "{line}");
    }
    let outputs: Vec<String> = faces
        .iter()
        .map(|f| s(&dir.path().join(f.file_name().unwrap())).to_string())
        .collect();
    let mut args = vec!["decode", "--json"];
    args.extend(outputs.iter().map(String::as_str));
    let r = run(&args);
    let lines = json_lines(&r.stdout);
    let found = lines.iter().filter(|l| l["tag"] == TAG).count();
    assert_eq!(found, faces.len(), "{}", r.stdout);
    assert_eq!(r.code, 0);
    // JPEG q95 outputs keep their size
    let (w, h) = image::open(&outputs[0]).unwrap().dimensions();
    assert_eq!((w, h), (128, 128));

    // and the untouched originals carry no tag
    let mut args = vec!["decode".to_string(), "--json".to_string()];
    args.extend(faces.iter().map(|p| s(p).to_string()));
    let r = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 1);
    assert!(
        json_lines(&r.stdout).iter().all(|l| l["found"] == false),
        "{}",
        r.stdout
    );
}

#[test]
fn tags_survive_real_attacks_through_the_cli() {
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "p.png", 20);
    let tagged = dir.path().join("t.png");
    assert_eq!(
        run(&["embed", s(&input), "-o", s(&tagged), "--tag", TAG]).code,
        0
    );
    for (i, attack) in [
        "jpeg:70",
        "resize:0.75",
        "brightness:1.1",
        "contrast:0.9",
        "noise:0.01",
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("a{i}.png"));
        let r = run(&["attack", attack, s(&tagged), "-o", s(&out), "--seed", "3"]);
        assert_eq!(r.code, 0, "{attack}: {}", r.stderr);
        let r = run(&["decode", s(&out), "--json"]);
        assert_eq!(json_lines(&r.stdout)[0]["tag"], TAG, "{attack}");
    }
    // geometry changes are real
    let half = dir.path().join("half.png");
    assert_eq!(
        run(&["attack", "resize:0.5", s(&tagged), "-o", s(&half)]).code,
        0
    );
    assert_eq!(image::open(&half).unwrap().dimensions(), (128, 96));
}

#[test]
fn attack_errors_name_the_kind_or_file() {
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "p.png", 21);
    let out = dir.path().join("o.png");
    for (kind, needle) in [
        ("unsharp:1", "unknown attack"),
        ("border:0.1@photo", "--donor PHOTO"),
        ("jpeg:500", "outside"),
        ("resize:0.001", "px a side"),
    ] {
        let r = run(&["attack", kind, s(&input), "-o", s(&out)]);
        assert_eq!(r.code, 2, "{kind}");
        assert!(r.stderr.contains(needle), "{kind}: {}", r.stderr);
    }
    let r = run(&["attack", "blur:1", s(&input), "-o", s(&input), "--force"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("input"), "{}", r.stderr);
    assert!(!out.exists());
}

#[test]
fn faceswap_attack_pastes_one_face_over_another_both_ways() {
    let dir = tempdir().unwrap();
    let target = dir.path().join("target.png");
    let donor = dir.path().join("donor.png");
    synthetic_photo(128, 128, 50).save(&target).unwrap();
    synthetic_photo(200, 160, 51).save(&donor).unwrap();
    let over = dir.path().join("over.png");
    let r = run(&[
        "attack",
        "faceswap",
        s(&target),
        "-o",
        s(&over),
        "--donor",
        s(&donor),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (t, o) = (
        image::open(&target).unwrap().to_rgb8(),
        image::open(&over).unwrap().to_rgb8(),
    );
    assert_eq!(o.dimensions(), (128, 128));
    assert_eq!(
        t.get_pixel(1, 1),
        o.get_pixel(1, 1),
        "outside the face is kept"
    );
    assert_ne!(
        t.get_pixel(64, 81),
        o.get_pixel(64, 81),
        "the nose is replaced"
    );
    // the other way: the target's face goes into the donor photo, which sets the size
    let into = dir.path().join("into.png");
    let r = run(&[
        "attack",
        "faceswap:into",
        s(&target),
        "-o",
        s(&into),
        "--donor",
        s(&donor),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(image::open(&into).unwrap().dimensions(), (200, 160));
    // misuse is refused with the flag named
    let r = run(&[
        "attack",
        "faceswap",
        s(&target),
        "-o",
        s(&dir.path().join("x.png")),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--donor"), "{}", r.stderr);
    let r = run(&[
        "attack",
        "blur:1",
        s(&target),
        "-o",
        s(&dir.path().join("y.png")),
        "--donor",
        s(&donor),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--donor goes with faceswap"),
        "{}",
        r.stderr
    );
}

/// PSNR in dB between two 8-bit RGB images, as the engine measures it.
fn psnr_rgb8(a: &image::DynamicImage, b: &image::DynamicImage) -> f64 {
    let (a, b) = (a.to_rgb8(), b.to_rgb8());
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

#[test]
fn embed_checks_and_reports_the_file_it_writes() {
    // issue 19: the check, the strength and the PSNR are of the bytes written, not of the
    // pixels before JPEG encoding
    let dir = tempdir().unwrap();
    let input = dir.path().join("photo.png");
    image::DynamicImage::ImageRgb8(synthetic_photo(300, 240, 5))
        .save(&input)
        .unwrap();
    let source = image::open(&input).unwrap();
    for (name, quality) in [("q95.jpg", "95"), ("q80.jpg", "80"), ("lossless.png", "95")] {
        let output = dir.path().join(name);
        let r = run(&[
            "embed",
            s(&input),
            "-o",
            s(&output),
            "--tag",
            TAG,
            "--quality",
            quality,
            "--json",
        ]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let e = &json_lines(&r.stdout)[0];
        assert_eq!(e["verified"], true, "{e}");
        assert_eq!(e["requested_strength"], 1.0, "{e}");
        assert!(e["strength"].as_f64().unwrap() >= 1.0, "{e}");
        let written = image::open(&output).unwrap();
        let measured = psnr_rgb8(&source, &written);
        let reported = e["psnr"].as_f64().unwrap();
        assert!(
            (measured - reported).abs() < 0.01,
            "{name}: reported {reported} dB, the file is {measured} dB"
        );
        let d = run(&["decode", s(&output), "--json"]);
        assert_eq!(json_lines(&d.stdout)[0]["tag"], TAG, "{name}");
    }
}

#[test]
fn a_tagged_photo_is_not_tagged_again_unless_asked() {
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "photo.png", 3);
    let once = dir.path().join("once.png");
    let r = run(&["embed", s(&input), "-o", s(&once), "--tag", TAG]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let twice = dir.path().join("twice.png");
    let other = "fedcba9876543210";
    let r = run(&["embed", s(&once), "-o", s(&twice), "--tag", other]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("once.png: already carries tag 0123456789abcdef")
            && r.stderr.contains("--retag"),
        "{}",
        r.stderr
    );
    assert!(!twice.exists());
    // --force is about outputs, not tags
    let r = run(&[
        "embed",
        s(&once),
        "-o",
        s(&twice),
        "--tag",
        other,
        "--force",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run(&[
        "embed",
        s(&once),
        "-o",
        s(&twice),
        "--tag",
        other,
        "--retag",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let d = run(&["decode", s(&twice), "--json"]);
    assert_eq!(json_lines(&d.stdout)[0]["tag"], other);
}

#[test]
fn a_tag_that_may_show_is_reported_and_warned_about() {
    // a flat grey photo at a high strength: whatever the PSNR, the report and the warning agree
    // with the floor
    let dir = tempdir().unwrap();
    let input = dir.path().join("flat.png");
    image::DynamicImage::ImageLuma8(image::GrayImage::from_pixel(256, 256, image::Luma([128])))
        .save(&input)
        .unwrap();
    let output = dir.path().join("flat-tagged.png");
    let r = run(&[
        "embed",
        s(&input),
        "-o",
        s(&output),
        "--tag",
        TAG,
        "--json",
        "--strength",
        "3",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let e = &json_lines(&r.stdout)[0];
    let psnr = e["psnr"].as_f64().unwrap();
    let may_show = psnr < faketagger::PSNR_FLOOR_DB;
    assert_eq!(e["may_show"], may_show, "{e}");
    assert_eq!(
        r.stderr.contains("warning:") && r.stderr.contains("may show"),
        may_show,
        "{}",
        r.stderr
    );
    // measured with v1: 39.5 dB at the default strength (per-bit boosts; 31.6 dB at strength
    // 3.375 before them), under the floor at strength 3
    assert!(
        may_show,
        "v1 tags a flat grey photo at {psnr} dB at strength 3"
    );
    assert!(e["strength"].as_f64().unwrap() >= 3.0, "{e}");
}

#[test]
fn networks_that_do_not_load_fail_the_command_before_any_result() {
    // embed and decode load the networks while they read the first photo: a broken record is
    // still the command's error (exit 2, named), with no result line and no output file
    let dir = tempdir().unwrap();
    let weights = dir.path().join("broken");
    std::fs::create_dir(&weights).unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/faketagger-v1");
    std::fs::copy(shipped.join("tagger.json"), weights.join("tagger.json")).unwrap();
    let record = std::fs::read(shipped.join("tagger.bpk")).unwrap();
    std::fs::write(weights.join("tagger.bpk"), &record[..1000]).unwrap();
    let input = write_photo(dir.path(), "photo.png", 3);
    let output = dir.path().join("tagged.png");
    let w = s(&weights);
    for args in [
        vec![
            "embed",
            s(&input),
            "-o",
            s(&output),
            "--tag",
            TAG,
            "--json",
            "--weights",
            w,
        ],
        vec!["decode", s(&input), "--json", "--weights", w],
        // a missing photo beside it: still the networks' error, not the photo's
        vec!["decode", s(&input), "missing.png", "--json", "--weights", w],
    ] {
        let r = run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("tagger.bpk"), "{args:?}: {}", r.stderr);
        assert!(r.stdout.trim().is_empty(), "{args:?}: {}", r.stdout);
        assert!(!output.exists(), "{args:?}");
    }
}

#[test]
fn libavif_is_opened_only_by_the_avif_attack_which_says_when_it_cannot() {
    // the library is opened at the first AVIF round trip, not at start: without it every other
    // command runs, and avif:Q fails clearly (exit 2, the library named), writing nothing
    let dir = tempdir().unwrap();
    let input = write_photo(dir.path(), "photo.png", 5);
    let missing = dir.path().join("no-libavif.so");
    let env = [("FAKETAGGER_LIBAVIF", missing.as_path())];
    let jpeg = dir.path().join("jpeg.png");
    let r = run_env(&env, &["attack", "jpeg:50", s(&input), "-o", s(&jpeg)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let avif = dir.path().join("avif.png");
    let r = run_env(&env, &["attack", "avif:50", s(&input), "-o", s(&avif)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("libavif could not be loaded") && r.stderr.contains("no-libavif.so"),
        "{}",
        r.stderr
    );
    assert!(!avif.exists());
    // the system's, found by the name the build recorded
    let r = run(&["attack", "avif:50", s(&input), "-o", s(&avif)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(avif.exists());
}
