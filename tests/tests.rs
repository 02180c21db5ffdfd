//! The one integration-test binary: the built CLI and the library's front door, end to end.

mod bad_inputs;
mod cli;
mod codec_cli;
mod engine;
mod util;
