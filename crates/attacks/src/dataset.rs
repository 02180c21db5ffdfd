//! Face folders, read one way everywhere (evaluation, training, the face swap's landmarks, the
//! tests): any folder of images, with an optional CelebA-style `meta.csv` whose columns are found
//! by name — `file` (required), `identity`, `split`, and the five landmarks `lm0_x` … `lm4_y`.
//!
//! Without `meta.csv` a folder has no splits: asking for one is an error, not every image (a
//! validation split that silently held the training images would grade nothing).

use std::path::{Path, PathBuf};

use crate::AttackError;
use crate::faceswap::Landmarks;

/// The metadata file of a face folder.
pub const META_CSV: &str = "meta.csv";

/// Image files a folder without `meta.csv` is read for (case-insensitive).
pub const IMAGE_EXTENSIONS: [&str; 7] = ["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff"];

/// The split name that means every face.
pub const ALL: &str = "all";

/// Where the project's CelebA crops lie, relative to the repository root (`../shared` beside the
/// project, never committed).
pub const SHARED_FACES: &str = "../shared/datasets/celeba-faces128";

/// Test support: the shared faces beside the repository at `repo_root`, or `None` when they are
/// absent (the caller skips) — except under `CI=true`, where their absence fails the test.
///
/// # Panics
/// Under `CI=true` when the folder has no `meta.csv`.
pub fn shared_faces_for_tests(repo_root: &Path) -> Option<PathBuf> {
    let dir = repo_root.join(SHARED_FACES);
    if dir.join(META_CSV).is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI=true and the shared faces are missing under {}",
        dir.display()
    );
    eprintln!("skipped: {} is not beside the project", dir.display());
    None
}

/// One face of a folder, as `meta.csv` (when there is one) describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceFile {
    /// The image's path (the folder joined with `file`).
    pub path: PathBuf,
    /// Its file name, as `meta.csv` gives it.
    pub file: String,
    /// Its identity label.
    pub identity: Option<String>,
    /// Its split (`train`, `val`, `test`, …).
    pub split: Option<String>,
    /// Its five landmarks, in pixels of the image.
    pub landmarks: Option<Landmarks>,
}

/// The rows of a `meta.csv` text, paths relative to `dir`. Errors name the problem.
pub fn parse_meta(text: &str, dir: &Path) -> Result<Vec<FaceFile>, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty: no header line")?
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let file = column("file").ok_or("no `file` column")?;
    let (identity, split) = (column("identity"), column("split"));
    let landmark_columns: Option<Vec<usize>> = (0..5)
        .flat_map(|k| [format!("lm{k}_x"), format!("lm{k}_y")])
        .map(|name| column(&name))
        .collect();
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let name = fields
                .get(file)
                .filter(|f| !f.is_empty())
                .ok_or_else(|| format!("row {}: no file name", i + 2))?;
            let text = |c: Option<usize>| c.and_then(|c| fields.get(c)).map(|s| (*s).to_owned());
            let landmarks = landmark_columns.as_ref().and_then(|cols| {
                let v: Vec<f32> = cols
                    .iter()
                    .map(|&c| fields.get(c)?.parse().ok())
                    .collect::<Option<_>>()?;
                Some(std::array::from_fn(|k| [v[2 * k], v[2 * k + 1]]))
            });
            Ok(FaceFile {
                path: dir.join(name),
                file: (*name).to_owned(),
                identity: text(identity),
                split: text(split),
                landmarks,
            })
        })
        .collect()
}

/// The faces of `split` in `dir` (`None` or [`ALL`]: every face), in `meta.csv` order, or in
/// file-name order for a folder without one.
pub fn list_faces(dir: &Path, split: Option<&str>) -> Result<Vec<FaceFile>, AttackError> {
    let err = |path: &Path, reason: String| AttackError::Dataset {
        path: path.to_path_buf(),
        reason,
    };
    let split = split.filter(|s| *s != ALL);
    let meta = dir.join(META_CSV);
    if meta.is_file() {
        let text = std::fs::read_to_string(&meta).map_err(|e| err(&meta, e.to_string()))?;
        let faces = parse_meta(&text, dir).map_err(|reason| err(&meta, reason))?;
        return Ok(match split {
            Some(want) => faces
                .into_iter()
                .filter(|f| f.split.as_deref() == Some(want))
                .collect(),
            None => faces,
        });
    }
    if let Some(want) = split {
        return Err(err(
            dir,
            format!(
                "no {META_CSV} to take split {want:?} from: a plain image folder has no splits \
                 (ask for {ALL:?}, or add a {META_CSV} with `file` and `split` columns)"
            ),
        ));
    }
    let mut faces: Vec<FaceFile> = std::fs::read_dir(dir)
        .map_err(|e| err(dir, e.to_string()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| {
            Path::new(name)
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        })
        .map(|file| FaceFile {
            path: dir.join(&file),
            file,
            identity: None,
            split: None,
            landmarks: None,
        })
        .collect();
    faces.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(faces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_columns_are_found_by_name_and_splits_need_a_meta_file() {
        let dir = tempfile::tempdir().unwrap();
        let csv = "identity,file,split,lm0_x,lm0_y,lm1_x,lm1_y,lm2_x,lm2_y,lm3_x,lm3_y,lm4_x,lm4_y\n\
                   7, a.png ,train,1,2,3,4,5,6,7,8,9,10\n\
                   8,b.tif,val,,,,,,,,,,\n";
        let faces = parse_meta(csv, dir.path()).unwrap();
        assert_eq!(faces[0].file, "a.png");
        assert_eq!(faces[0].identity.as_deref(), Some("7"));
        assert_eq!(faces[0].landmarks.unwrap()[4], [9.0, 10.0]);
        assert_eq!(
            (faces[1].split.as_deref(), faces[1].landmarks),
            (Some("val"), None)
        );
        assert!(
            parse_meta("name,split\nx,train\n", dir.path())
                .unwrap_err()
                .contains("`file`")
        );

        // a plain folder: every image (TIFF too), sorted; a split is refused
        for name in ["b.TIF", "a.png", "notes.txt", "c.jpeg"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<String> = list_faces(dir.path(), Some(ALL))
            .unwrap()
            .into_iter()
            .map(|f| f.file)
            .collect();
        assert_eq!(names, ["a.png", "b.TIF", "c.jpeg"]);
        let e = list_faces(dir.path(), Some("val")).unwrap_err().to_string();
        assert!(e.contains("no meta.csv to take split \"val\""), "{e}");

        std::fs::write(dir.path().join(META_CSV), csv).unwrap();
        let val = list_faces(dir.path(), Some("val")).unwrap();
        assert_eq!(
            (val.len(), val[0].path.clone()),
            (1, dir.path().join("b.tif"))
        );
    }
}
