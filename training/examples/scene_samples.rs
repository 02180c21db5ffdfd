//! A grid of the scenes a run with `scenes > 0` trains on, made from a face folder's split:
//! `cargo run --release -p faketagger-train --example scene_samples -- DATA SPLIT OUT.png [COUNT] [SEED]`
//! (COUNT scenes, 8 per row, at 128 px; the same seed gives the same scenes).

use faketagger_train::data::FaceSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (data, split, out) = match args.as_slice() {
        [d, s, o, ..] => (d, s, o),
        _ => return Err("usage: scene_samples DATA SPLIT OUT.png [COUNT] [SEED]".into()),
    };
    let count: usize = args.get(3).map_or(Ok(32), |c| c.parse())?;
    let seed: u64 = args.get(4).map_or(Ok(1), |s| s.parse())?;
    let faces = FaceSet::load(data.as_ref(), Some(split), 128, Some(200))?;
    let scenes = faces.scenes(count, seed);
    let cols = 8u32.min(count.max(1) as u32);
    let rows = (count as u32).div_ceil(cols);
    let mut grid = image::RgbImage::new(cols * 128, rows * 128);
    for (k, _) in scenes.faces.iter().enumerate() {
        let (x, y) = (k as u32 % cols, k as u32 / cols);
        image::imageops::replace(
            &mut grid,
            &scenes.image(k),
            i64::from(x * 128),
            i64::from(y * 128),
        );
    }
    grid.save(out)?;
    println!("{out}: {count} scenes from {data} ({split})");
    Ok(())
}
