//! The report's charts, as SVG (plotters, no fonts needed): kroute's lead per domain, a
//! roofline with the measured ceilings, and time against size per kernel.

use crate::report::{counts, is_kroute, secs, Class, Group};
use crate::schema::{Ceiling, Record};
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

type Out = Result<Vec<(PathBuf, String)>, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("chart: {e}")
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A log axis's label: 1, 2 and 5 times a power of ten, as short numbers; nothing elsewhere.
fn tick(x: f64) -> String {
    if !(x.is_finite() && x > 0.0) {
        return String::new();
    }
    let e = x.log10().floor();
    let m = x / 10f64.powf(e);
    if [1.0, 2.0, 5.0].iter().all(|k| (m - k).abs() > 1e-6 * k) {
        return String::new();
    }
    if (-3.0..4.0).contains(&e) {
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{}e{}", m.round(), e)
    }
}

type LogLog<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

/// The series' legend, boxed, in the upper left.
fn legend(chart: &mut LogLog) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

/// Every chart the results allow: (file, caption).
pub fn all(groups: &[Group], ceilings: &[Ceiling], dir: &Path) -> Out {
    let mut out = Vec::new();
    out.extend(speedup(groups, dir)?);
    out.extend(roofline(groups, ceilings, dir)?);
    out.extend(sizes(groups, dir)?);
    Ok(out)
}

/// Bars: per domain, the median of (best peer ÷ kroute's best) over its kernels and sizes.
fn speedup(groups: &[Group], dir: &Path) -> Out {
    let mut by: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for g in groups {
        if let (Some(o), Some(p)) = (g.ours(None), g.peer(None)) {
            by.entry(g.domain).or_default().push(secs(p) / secs(o));
        }
    }
    let bars: Vec<(String, f64, f64, f64)> = by
        .into_iter()
        .filter_map(|(d, v)| {
            let s = crate::report::stats(&v)?;
            Some((d.to_string(), s.median, s.min, s.max))
        })
        .collect();
    if bars.is_empty() {
        return Ok(Vec::new());
    }
    let path = dir.join("speedup-per-domain.svg");
    let lo = bars.iter().map(|b| b.2).fold(1.0, f64::min) * 0.8;
    let hi = bars.iter().map(|b| b.3).fold(1.0, f64::max) * 1.25;
    {
        let root = SVGBackend::new(&path, (820, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "best peer ÷ kroute's best, per domain (bar: median; line: range)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..bars.len() as f64 - 0.5, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .max_light_lines(2)
            .y_label_formatter(&|y| format!("{y:.2}"))
            .x_labels(bars.len())
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc("× (above 1: kroute faster)")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                let x = i as f64;
                let color = if b.1 >= 1.0 { PALETTE[2] } else { PALETTE[3] };
                Rectangle::new([(x - 0.35, 1.0), (x + 0.35, b.1)], color.mix(0.7).filled())
            }))
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, b)| {
                PathElement::new(
                    vec![(i as f64, b.2), (i as f64, b.3)],
                    BLACK.stroke_width(2),
                )
            }))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(-0.5, 1.0), (bars.len() as f64 - 0.5, 1.0)],
                BLACK,
            )))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(vec![(
        path,
        "kroute's lead over the best verified peer, per domain".into(),
    )])
}

/// Roofline: arithmetic intensity against attained GFLOP/s, every verified row, with each
/// device's measured bandwidth ceiling as a line (a memory-bound kernel sits on its line).
fn roofline(groups: &[Group], ceilings: &[Ceiling], dir: &Path) -> Out {
    let pts: Vec<(&Record, f64, f64)> = groups
        .iter()
        .flat_map(|g| g.rows.iter().copied())
        .filter(|r| counts(r) && r.flops > 0.0 && r.bytes > 0.0)
        .filter_map(|r| Some((r, r.flops / r.bytes, r.gflops?)))
        .filter(|p| p.2 > 0.0)
        .collect();
    if pts.is_empty() {
        return Ok(Vec::new());
    }
    let path = dir.join("roofline.svg");
    let (x0, x1) = pts
        .iter()
        .fold((f64::MAX, 0f64), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    let (x0, x1) = (x0 * 0.5, x1 * 2.0);
    let (y0, y1) = pts
        .iter()
        .fold((f64::MAX, 0f64), |a, p| (a.0.min(p.2), a.1.max(p.2)));
    // Per device, its highest bandwidth ceiling (any pattern).
    let mut lines: BTreeMap<String, f64> = BTreeMap::new();
    for c in ceilings {
        let e = lines.entry(c.device.clone()).or_insert(0.0);
        *e = e.max(c.gbps);
    }
    let top = lines.values().fold(y1, |a, &g| a.max(g * x1)).max(y1) * 1.5;
    {
        let root = SVGBackend::new(&path, (820, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "roofline: attained GFLOP/s against flops per byte",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((x0..x1).log_scale(), ((y0 * 0.5)..top).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .max_light_lines(2)
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| tick(*y))
            .x_desc("arithmetic intensity (flops / byte)")
            .y_desc("GFLOP/s")
            .draw()
            .map_err(err)?;
        for (i, (dev, gbps)) in lines.iter().enumerate() {
            let color = PALETTE[(i + 5) % PALETTE.len()];
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(x0, gbps * x0), (x1, gbps * x1)],
                    color.stroke_width(1),
                )))
                .map_err(err)?
                .label(format!("{dev}: {gbps:.0} GB/s ceiling"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        }
        for (i, c) in Class::ALL.iter().enumerate() {
            let color = PALETTE[i];
            let ours: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| is_kroute(p.0) && Class::of(p.0) == *c)
                .map(|p| (p.1, p.2))
                .collect();
            let theirs: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| !is_kroute(p.0) && Class::of(p.0) == *c)
                .map(|p| (p.1, p.2))
                .collect();
            if !ours.is_empty() {
                chart
                    .draw_series(ours.iter().map(|&p| Circle::new(p, 4, color.filled())))
                    .map_err(err)?
                    .label(format!("kroute, {}", c.name()))
                    .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.filled()));
            }
            if !theirs.is_empty() {
                chart
                    .draw_series(
                        theirs
                            .iter()
                            .map(|&p| Circle::new(p, 4, color.stroke_width(1))),
                    )
                    .map_err(err)?
                    .label(format!("peers, {}", c.name()))
                    .legend(move |(x, y)| Circle::new((x + 9, y), 4, color.stroke_width(1)));
            }
        }
        legend(&mut chart)?;
        root.present().map_err(err)?;
    }
    Ok(vec![(
        path,
        "Roofline: every verified row (filled: kroute, hollow: peers), with each device's measured bandwidth ceiling; \
         no compute ceiling is drawn because none was measured"
            .into(),
    )])
}

/// Per kernel measured at several sizes: time against n for every implementation and peer.
fn sizes(groups: &[Group], dir: &Path) -> Out {
    let mut by: BTreeMap<&str, Vec<&Group>> = BTreeMap::new();
    for g in groups {
        by.entry(g.kernel).or_default().push(g);
    }
    let mut out = Vec::new();
    for (k, gs) in by.into_iter().filter(|(_, gs)| gs.len() >= 2) {
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for g in &gs {
            for r in g.rows.iter().filter(|r| counts(r)) {
                series
                    .entry(r.implementation.clone())
                    .or_default()
                    .push((g.n as f64, secs(r)));
                if let Some(h) = r.host_to_result_s {
                    series
                        .entry(format!("{} host-to-result", r.implementation))
                        .or_default()
                        .push((g.n as f64, h));
                }
            }
        }
        let all: Vec<(f64, f64)> = series.values().flatten().copied().collect();
        if all.is_empty() {
            continue;
        }
        std::fs::create_dir_all(dir.join("size")).map_err(err)?;
        let path = dir.join("size").join(format!("{k}.svg"));
        let (x0, x1) = all
            .iter()
            .fold((f64::MAX, 0f64), |a, p| (a.0.min(p.0), a.1.max(p.0)));
        let (y0, y1) = all
            .iter()
            .fold((f64::MAX, 0f64), |a, p| (a.0.min(p.1), a.1.max(p.1)));
        {
            let root = SVGBackend::new(&path, (760, 480)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    format!("{k}: seconds per call against n"),
                    ("sans-serif", 18),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(70)
                .build_cartesian_2d(
                    ((x0 * 0.8)..(x1 * 1.25)).log_scale(),
                    ((y0 * 0.7)..(y1 * 1.5)).log_scale(),
                )
                .map_err(err)?;
            chart
                .configure_mesh()
                .max_light_lines(2)
                .x_label_formatter(&|x| tick(*x))
                .x_desc("n")
                .y_desc("seconds")
                .y_label_formatter(&|y| crate::report::fmt_time(*y))
                .draw()
                .map_err(err)?;
            for (i, (name, mut pts)) in series.into_iter().enumerate() {
                pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                let color = PALETTE[i % PALETTE.len()];
                let dashed = name.ends_with("host-to-result");
                let style = if dashed {
                    color.stroke_width(1)
                } else {
                    color.stroke_width(2)
                };
                chart
                    .draw_series(LineSeries::new(pts.clone(), style))
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(err)?;
            }
            legend(&mut chart)?;
            root.present().map_err(err)?;
        }
        out.push((path, k.to_string()));
    }
    Ok(out)
}
