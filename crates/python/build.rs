//! PyO3's cfgs for this crate (`Py_3_11`, `Py_LIMITED_API`): the buffer protocol is there for the
//! stable ABI of 3.11 and later (feature `abi3-py311`, the default), and `src/lib.rs` then takes
//! the samples through it.
//!
//! On an interpreter older than 3.11, maturin tags the default build for that interpreter alone
//! but PyO3 still links it against 3.11's stable ABI, and the module does not import on Python
//! 3.9 (an undefined `_Py_IncRef`): refused here, with the feature that builds for it.
fn main() {
    pyo3_build_config::use_pyo3_cfgs();
    println!("cargo:rerun-if-env-changed=PYO3_ENVIRONMENT_SIGNATURE");
    let only_311 = std::env::var_os("CARGO_FEATURE_ABI3_PY311").is_some()
        && std::env::var_os("CARGO_FEATURE_ABI3_PY39").is_none();
    // maturin names the target interpreter as "cpython-3.9-64bit"
    let signature = std::env::var("PYO3_ENVIRONMENT_SIGNATURE").unwrap_or_default();
    let minor = signature
        .strip_prefix("cpython-3.")
        .and_then(|rest| rest.split('-').next())
        .and_then(|minor| minor.parse::<u32>().ok());
    if let Some(minor) = minor.filter(|&m| only_311 && m < 11) {
        eprintln!(
            "error: faketagger's default wheel is abi3 for CPython >= 3.11; this is Python 3.{minor}. \
             For Python 3.9 and 3.10 build the abi3 wheel for >= 3.9: \
             MATURIN_PEP517_ARGS=\"--features abi3-py39\" pip install ./crates/python"
        );
        std::process::exit(1);
    }
}
