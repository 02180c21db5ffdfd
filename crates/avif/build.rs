//! Compiles a small C shim (csrc/avif_roundtrip.c) against the system's libavif header, found
//! with pkg-config. Debian/Ubuntu: `apt install libavif-dev`; macOS: `brew install libavif`; or
//! build faketagger without AVIF (`--no-default-features --features flex`).
//!
//! The shim opens libavif at its first use (dlopen) instead of linking it: the library's file
//! name to open, its soname, is found here from the development link pkg-config points at.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=csrc/avif_roundtrip.c");
    let library = match pkg_config::Config::new()
        .atleast_version("0.11")
        .cargo_metadata(false)
        .probe("libavif")
    {
        Ok(library) => library,
        Err(e) => {
            eprintln!(
                "error: faketagger-avif needs libavif 0.11 or newer with its header (Debian/Ubuntu: \
                 apt install libavif-dev; macOS: brew install libavif), or build without the \
                 feature (faketagger: --no-default-features --features flex).\n{e}"
            );
            std::process::exit(1);
        }
    };
    let macos = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "macos");
    let soname = soname(&library.link_paths, macos);
    let mut build = cc::Build::new();
    build
        .file("csrc/avif_roundtrip.c")
        .warnings(true)
        .define("FT_AVIF_LIBRARY", format!("\"{soname}\"").as_str());
    for path in &library.include_paths {
        build.include(path);
    }
    build.compile("faketagger_avif");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        // dlopen: in libc since glibc 2.34, in libdl before
        println!("cargo:rustc-link-lib=dl");
    }
}

/// The name to open libavif by: the link in the chain from the development link (`libavif.so`,
/// `libavif.dylib`) that carries one version number (`libavif.so.15`, `libavif.15.dylib`), as
/// the runtime package installs it; else the file the chain ends at, by its full path.
fn soname(dirs: &[PathBuf], macos: bool) -> String {
    let dev = if macos { "libavif.dylib" } else { "libavif.so" };
    let one_version = |name: &str| match macos {
        false => name
            .strip_prefix("libavif.so.")
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())),
        true => name
            .strip_prefix("libavif.")
            .and_then(|rest| rest.strip_suffix(".dylib"))
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())),
    };
    let mut dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    if dirs.is_empty() {
        // the compiler's default directories: Debian's multiarch one, then the usual ones
        dirs.extend(
            [
                "/usr/lib/x86_64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu",
                "/usr/lib",
                "/usr/local/lib",
            ]
            .map(Path::new),
        );
    }
    for dir in dirs {
        let mut at = dir.join(dev);
        for _ in 0..8 {
            let Ok(target) = std::fs::read_link(&at) else {
                break;
            };
            let next = at.parent().unwrap_or(dir).join(&target);
            if let Some(name) = next.file_name().and_then(|n| n.to_str())
                && one_version(name)
            {
                return name.to_owned();
            }
            at = next;
        }
        if at.is_file() && at != dir.join(dev) {
            return at.display().to_string();
        }
    }
    dev.to_owned()
}
