//! The one integration-test binary: the built CLI and the library's front door, end to end.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod bad_inputs;
mod cli;
mod codec_cli;
mod engine;
mod eval;
mod learned;
mod provenance;
mod serve;
mod simulators;
mod train;
mod util;
