//! Compiles a small C shim (csrc/avif_roundtrip.c) against the system's libavif, found with
//! pkg-config. Debian/Ubuntu: `apt install libavif-dev`; macOS: `brew install libavif`; or build
//! faketagger without AVIF (`--no-default-features --features flex`).

fn main() {
    println!("cargo:rerun-if-changed=csrc/avif_roundtrip.c");
    let library = match pkg_config::Config::new()
        .atleast_version("0.11")
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
    let mut build = cc::Build::new();
    build.file("csrc/avif_roundtrip.c").warnings(true);
    for path in &library.include_paths {
        build.include(path);
    }
    build.compile("faketagger_avif");
}
