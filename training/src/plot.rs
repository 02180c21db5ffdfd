//! Plots of a run's logs as SVG (`faketagger train --plot RUN_DIR`): the training curves from
//! `log.csv` (smoothed) and the validation curves per attack from `val.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::{TrainError, io_error};

/// Steps averaged in the training curves.
const SMOOTHING: usize = 50;
const SIZE: (u32, u32) = (1200, 800);

/// Renders `RUN_DIR/plots/training.svg` and, when the run validated, `validation.svg`.
/// Returns the files written.
pub fn plot_run(run_dir: &Path) -> Result<Vec<PathBuf>, TrainError> {
    let out = run_dir.join("plots");
    std::fs::create_dir_all(&out).map_err(|e| io_error(&out, e))?;
    let mut written = Vec::new();
    let log = read_csv(&run_dir.join("log.csv"))?;
    let training = out.join("training.svg");
    plot_training(&log, &training)?;
    written.push(training);
    let val_path = run_dir.join("val.csv");
    if val_path.is_file() {
        let val = read_csv(&val_path)?;
        let validation = out.join("validation.svg");
        plot_validation(&val, &validation)?;
        written.push(validation);
    }
    Ok(written)
}

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    path: PathBuf,
}

impl Table {
    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    fn number(&self, row: &[String], col: usize) -> Option<f64> {
        row.get(col)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    }
}

fn read_csv(path: &Path) -> Result<Table, TrainError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .ok_or_else(|| io_error(path, "empty log"))?
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    Ok(Table {
        header,
        rows,
        path: path.to_path_buf(),
    })
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    io_error(path, format!("plot: {e}"))
}

/// Moving average over `SMOOTHING` points.
fn smooth(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len());
    let mut sum = 0.0;
    for (i, &(x, y)) in points.iter().enumerate() {
        sum += y;
        if i >= SMOOTHING {
            sum -= points[i - SMOOTHING].1;
        }
        out.push((x, sum / (i + 1).min(SMOOTHING) as f64));
    }
    out
}

fn plot_training(log: &Table, path: &Path) -> Result<(), TrainError> {
    let step_col = log
        .column("step")
        .ok_or_else(|| io_error(&log.path, "no step column"))?;
    // every numeric metric column but the bookkeeping ones
    let metrics: Vec<(usize, &str)> = log
        .header
        .iter()
        .enumerate()
        .filter(|(_, h)| !["step", "stage", "seconds", "attack"].contains(&h.as_str()))
        .map(|(i, h)| (i, h.as_str()))
        .collect();
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let panels = root.split_evenly((metrics.len().div_ceil(2).max(1), 2));
    for ((col, name), panel) in metrics.iter().zip(panels.iter()) {
        let points: Vec<(f64, f64)> = log
            .rows
            .iter()
            .filter_map(|r| Some((log.number(r, step_col)?, log.number(r, *col)?)))
            .collect();
        let points = smooth(&points);
        draw_panel(
            panel,
            &format!("{name} (mean of {SMOOTHING} steps)"),
            "step",
            &[(name.to_string(), points)],
        )
        .map_err(|e| plot_err(path, e))?;
    }
    root.present().map_err(|e| plot_err(path, e))
}

fn plot_validation(val: &Table, path: &Path) -> Result<(), TrainError> {
    let col = |name: &str| {
        val.column(name)
            .ok_or_else(|| io_error(&val.path, format!("no {name} column")))
    };
    let (step, attack) = (col("step")?, col("attack")?);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let panels = root.split_evenly((2, 2));
    for (metric, panel) in ["bit_accuracy", "exact_tag", "psnr", "ssim"]
        .iter()
        .zip(panels.iter())
    {
        let m = col(metric)?;
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for row in &val.rows {
            if let (Some(x), Some(y), Some(name)) =
                (val.number(row, step), val.number(row, m), row.get(attack))
            {
                series.entry(name.clone()).or_default().push((x, y));
            }
        }
        // PSNR and SSIM are the same on every attack row: one curve
        if ["psnr", "ssim"].contains(metric) {
            series = series
                .into_iter()
                .take(1)
                .map(|(_, v)| ("tagged".into(), v))
                .collect();
        }
        let series: Vec<(String, Vec<(f64, f64)>)> = series.into_iter().collect();
        draw_panel(panel, &format!("validation {metric}"), "step", &series)
            .map_err(|e| plot_err(path, e))?;
    }
    root.present().map_err(|e| plot_err(path, e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_panel(
    area: &Area<'_>,
    title: &str,
    x_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let points = series.iter().flat_map(|(_, p)| p.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(50)
        .build_cartesian_2d(
            x0..if x1 > x0 { x1 } else { x0 + 1.0 },
            (y0 - pad)..(y1 + pad),
        )?;
    chart.configure_mesh().x_desc(x_desc).draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour));
    }
    if series.len() > 1 {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    Ok(())
}

/// Bit accuracy against attack strength: one panel per attack family (`faketagger eval --plot`).
pub fn plot_curves(path: &Path, families: &[(String, Vec<(f64, f64)>)]) -> Result<(), TrainError> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    let panels = root.split_evenly((families.len().div_ceil(3).max(1), 3));
    for ((family, points), panel) in families.iter().zip(panels.iter()) {
        draw_panel(
            panel,
            &format!("{family}: bit accuracy"),
            &format!("{family} parameter"),
            &[(family.clone(), points.clone())],
        )
        .map_err(|e| plot_err(path, e))?;
    }
    root.present().map_err(|e| plot_err(path, e))
}
