//! DET and ROC plots as SVG (plotters' SVG backend needs no fonts or system libraries).

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use super::metrics::curve;

const COLOURS: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];

/// Error-rate floor on log axes (zero rates are drawn at this value).
const FLOOR: f64 = 1e-4;

type PlotResult = Result<(), Box<dyn std::error::Error>>;

fn det_points(genuine: &[f64], impostor: &[f64]) -> Vec<(f64, f64)> {
    curve(genuine, impostor)
        .into_iter()
        .map(|p| (p.fmr.max(FLOOR), p.fnmr.max(FLOOR)))
        .collect()
}

/// DET curves: face match (overall and per group) on the left, liveness on the right.
pub fn det(
    path: &Path,
    face: &BTreeMap<String, (Vec<f64>, Vec<f64>)>,
    live: &[f64],
    spoof: &[f64],
) -> PlotResult {
    let root = SVGBackend::new(path, (1200, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(640);
    {
        let mut chart = ChartBuilder::on(&left)
            .caption("Face match DET (log-log)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((FLOOR..1.0).log_scale(), (FLOOR..1.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("FMR (false match rate)")
            .y_desc("FNMR (false non-match rate)")
            .draw()?;
        for (i, (name, (g, imp))) in face
            .iter()
            .filter(|(_, (g, imp))| !g.is_empty() && !imp.is_empty())
            .enumerate()
        {
            let colour = COLOURS[i % COLOURS.len()];
            let width = if name == "all" { 3 } else { 1 };
            chart
                .draw_series(LineSeries::new(
                    det_points(g, imp),
                    colour.stroke_width(width),
                ))?
                .label(format!("{name} ({} gen / {} imp)", g.len(), imp.len()))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    {
        let mut chart = ChartBuilder::on(&right)
            .caption("Liveness DET (log-log)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d((FLOOR..1.0).log_scale(), (FLOOR..1.0).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("APCER (attacks accepted)")
            .y_desc("BPCER (live rejected)")
            .draw()?;
        if !live.is_empty() && !spoof.is_empty() {
            let neg = |v: &[f64]| v.iter().map(|x| -x).collect::<Vec<_>>();
            chart
                .draw_series(LineSeries::new(
                    det_points(&neg(live), &neg(spoof)),
                    COLOURS[4].stroke_width(2),
                ))?
                .label(format!("{} live / {} attacks", live.len(), spoof.len()))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], COLOURS[4]));
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

/// ROC curves (true match rate against FMR, log FMR axis) for face match.
pub fn roc(path: &Path, face: &BTreeMap<String, (Vec<f64>, Vec<f64>)>) -> PlotResult {
    let root = SVGBackend::new(path, (640, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Face match ROC", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((FLOOR..1.0).log_scale(), 0.5f64..1.0)?;
    chart
        .configure_mesh()
        .x_desc("FMR")
        .y_desc("TMR = 1 - FNMR")
        .draw()?;
    for (i, (name, (g, imp))) in face
        .iter()
        .filter(|(_, (g, imp))| !g.is_empty() && !imp.is_empty())
        .enumerate()
    {
        let colour = COLOURS[i % COLOURS.len()];
        let pts: Vec<(f64, f64)> = curve(g, imp)
            .into_iter()
            .map(|p| (p.fmr.max(FLOOR), (1.0 - p.fnmr).max(0.5)))
            .collect();
        chart
            .draw_series(LineSeries::new(
                pts,
                colour.stroke_width(if name == "all" { 3 } else { 1 }),
            ))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}
