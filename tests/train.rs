//! `faketagger train` and `faketagger plot` through the built CLI, on a tiny synthetic dataset:
//! a run stopped and resumed, refusals with hints, plots.

use std::path::Path;

use tempfile::tempdir;

use crate::util::*;

/// A dataset folder: 32×32 synthetic photos with a meta.csv (train over two identities, val).
fn dataset(dir: &Path) {
    let mut meta = String::from("file,identity,split\n");
    for i in 0..16u64 {
        let split = if i < 12 { "train" } else { "val" };
        let file = format!("face{i:02}.png");
        let img = image::imageops::resize(
            &synthetic_photo(96, 96, 100 + i),
            32,
            32,
            image::imageops::FilterType::Triangle,
        );
        img.save(dir.join(&file)).unwrap();
        meta.push_str(&format!("{file},id{},{split}\n", i % 2));
    }
    std::fs::write(dir.join("meta.csv"), meta).unwrap();
}

fn run_file(dir: &Path, data: &Path, out: &Path, extra_stage: &str) -> std::path::PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        format!(
            r#"kind = "tagger"
data = "{}"
out = "{}"
seed = 3
eval_every = 2
eval_faces = 4
val_attacks = ["identity", "jpeg:70"]

[model]
batch_size = 2
net = {{ encoder = {{ resolution = 32, width = 8, message_grid = 4, blocks = 1 }}, decoder = {{ resolution = 32, width = 8 }} }}

[[stages]]
name = "clean"
steps = 2
{extra_stage}
"#,
            data.display(),
            out.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn train_stops_resumes_and_plots() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    dataset(&data);
    let out = dir.path().join("run");
    let config = run_file(
        dir.path(),
        &data,
        &out,
        "[[stages]]\nname = \"attacks\"\nsteps = 2\nset = { noise = { jpeg = 1.0 } }",
    );
    let r = run(&["train", "--config", s(&config), "--max-steps", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("stopped at step 3 of 4"), "{}", r.stdout);
    assert!(out.join("checkpoint/state.json").is_file());
    assert!(!out.join("tagger.bpk").exists(), "weights only at the end");

    // the same run again is refused with a hint, and nothing is lost
    let r = run(&["train", "--config", s(&config)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--resume"), "{}", r.stderr);
    assert!(out.join("checkpoint/state.json").is_file());

    let r = run(&["train", "--config", s(&config), "--resume", "--quiet"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for file in [
        "tagger.json",
        "tagger.bpk",
        "log.csv",
        "val.csv",
        "run.toml",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let log = std::fs::read_to_string(out.join("log.csv")).unwrap();
    let steps: Vec<&str> = log
        .lines()
        .skip(1)
        .map(|l| &l[..l.find(',').unwrap()])
        .collect();
    assert_eq!(steps, ["1", "2", "3", "4"]);
    let val = std::fs::read_to_string(out.join("val.csv")).unwrap();
    assert!(
        val.contains(",jpeg:70,") && val.contains(",unmarked,"),
        "{val}"
    );

    // the trained weights load and run in embed (a 32 px network reads any photo resized to
    // it); four steps teach them nothing, and embed says so instead of writing an untagged photo
    let photo = write_photo(dir.path(), "p.png", 9);
    let tagged = dir.path().join("t.png");
    let r = run(&[
        "embed",
        s(&photo),
        "-o",
        s(&tagged),
        "--tag",
        TAG,
        "--weights",
        s(&out),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not survive being saved as PNG") && !tagged.exists(),
        "{}",
        r.stderr
    );
    // the hint does not send a PNG output to PNG
    assert!(
        r.stderr.contains("hint: raise --strength") && !r.stderr.contains("save as PNG"),
        "{}",
        r.stderr
    );

    let r = run(&["plot", s(&out)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(out.join("plots/training.svg").is_file() && out.join("plots/validation.svg").is_file());
}

#[test]
fn bad_run_files_and_folders_are_refused_naming_the_problem() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    dataset(&data);
    let out = dir.path().join("run");
    let good = run_file(dir.path(), &data, &out, "");
    let text = std::fs::read_to_string(&good).unwrap();
    let cases = [
        (text.replace("batch_size", "batchsize"), "model.batchsize"),
        (text.replace("steps = 2", "steps = 0"), "no steps"),
        (text.replace("kind = \"tagger\"", "kind = \"gan\""), "gan"),
        ("not toml at all [".to_owned(), "tiny.toml"),
    ];
    for (bad, needle) in cases {
        std::fs::write(&good, bad).unwrap();
        let r = run(&["train", "--config", s(&good)]);
        assert_eq!(r.code, 2, "{needle}");
        assert!(r.stderr.contains(needle), "{needle}: {}", r.stderr);
        assert!(!out.exists(), "a refused run writes nothing");
    }
    std::fs::write(&good, &text).unwrap();
    let r = run(&["train", "--config", s(&good), "--resume"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no checkpoint"), "{}", r.stderr);
    let r = run(&[
        "train",
        "--config",
        s(&good),
        "--data",
        s(&dir.path().join("nope")),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("--data") || r.stderr.contains("nope"),
        "{}",
        r.stderr
    );
    let r = run(&["train", "--config", s(&dir.path().join("missing.toml"))]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.toml"), "{}", r.stderr);
    let r = run(&["plot", s(dir.path())]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("log.csv"), "{}", r.stderr);
}
