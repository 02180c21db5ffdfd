//! The `faketagger` binary: a thin layer over the library (flags → settings → library).

mod args;
mod commands;
mod reporter;
mod serve;
mod settings;
mod web;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, CodecCommand, Command};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the context chain on one line; hints are on lines of their own.
            eprintln!("error: {e:#}");
            ExitCode::from(commands::EXIT_ERROR)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Embed(args) => {
            commands::embed(settings::EmbedSettings::from_args(args)?, cli.quiet)
        }
        Command::Attack(args) => {
            commands::attack(settings::AttackSettings::from_args(args)?, cli.quiet)
        }
        Command::Decode(args) => commands::decode(settings::DecodeSettings::from_args(args)?),
        Command::Codec(CodecCommand::Encode { tag, json }) => commands::codec_encode(&tag, json),
        Command::Codec(CodecCommand::Decode { bits, json }) => commands::codec_decode(&bits, json),
        Command::Train(args) => {
            commands::train(settings::TrainSettings::from_args(args)?, cli.quiet)
        }
        Command::Plot(args) => commands::plot(&args.run),
        Command::Trace(args) => commands::trace(settings::TraceSettings::from_args(args)?),
        Command::Keys(command) => commands::keys(command),
        Command::Eval(args) => commands::eval(settings::EvalSettings::from_args(args)?, cli.quiet),
        Command::Serve(args) => serve::serve(settings::ServeSettings::from_args(args)?, cli.quiet),
    }
}
