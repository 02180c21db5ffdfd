//! Sets a trained tagger's strength 1 to a chosen operating point:
//! `cargo run --release -p faketagger-train --example calibrate -- IN_DIR OUT_DIR FACTOR`
//! reads `IN_DIR/tagger.{json,bpk}`, multiplies the encoder's residual by FACTOR
//! (`Encoder::scaled`) and writes `OUT_DIR/tagger.{json,bpk}`. The decoder is unchanged.

use faketagger_model::{Backend, weights};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, factor] = args.as_slice() else {
        return Err("usage: calibrate IN_DIR OUT_DIR FACTOR".into());
    };
    let factor: f32 = factor.parse()?;
    if !(factor > 0.0 && factor.is_finite()) {
        return Err(format!("factor must be positive, not {factor}").into());
    }
    let device = Backend::Flex.device()?;
    let (config, mut net) = weights::load_tagger_net(input.as_ref(), "tagger", &device)?;
    net.encoder = net.encoder.scaled(factor);
    let files = weights::save(net, &config, output.as_ref(), "tagger")?;
    println!("{} (residual ×{factor})", files.record.display());
    Ok(())
}
