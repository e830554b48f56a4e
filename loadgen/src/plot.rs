//! The `--plot` SVG: latency distribution (CDF) above, throughput per 100 ms below.
//!
//! Owns: drawing with plotters' SVG backend. Text is emitted as SVG `<text>` elements and laid
//! out with plotters' built-in size estimate, so no font files or fontconfig are needed (the
//! viewer renders the text). Never: measures or computes results.

use std::path::Path;

use anyhow::anyhow;
use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::clock::NS_PER_S;
use crate::stats::{fmt_us, Marks, BIN_NS};

/// Size of the image, pixels.
const SIZE: (u32, u32) = (1000, 800);

/// Points on the latency CDF.
const CDF_POINTS: usize = 400;

/// What to draw.
#[derive(Debug)]
pub(crate) struct PlotData {
    /// Title of the whole picture.
    pub(crate) title: String,
    /// What the latency is (`delivery latency`, `round-trip time`, …), ns samples.
    pub(crate) latency_desc: &'static str,
    /// The latency histogram, ns.
    pub(crate) latency: Histogram<u64>,
    /// Series label and counts per [`BIN_NS`] of what was sent.
    pub(crate) sent: (&'static str, Vec<u64>),
    /// Series label and counts per [`BIN_NS`] of what was received.
    pub(crate) received: (&'static str, Vec<u64>),
    /// Phase marks (bins count from `t0`).
    pub(crate) marks: Marks,
}

fn draw_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {e:?}")
}

/// Writes the SVG to `path`.
pub(crate) fn write_svg(path: &Path, d: &PlotData) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let root = root.titled(&d.title, ("sans-serif", 20)).map_err(draw_err)?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 20);
    draw_cdf(&top, d)?;
    draw_throughput(&bottom, d)?;
    root.present().map_err(draw_err)?;
    Ok(())
}

fn draw_cdf(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, d: &PlotData) -> anyhow::Result<()> {
    let h = &d.latency;
    if h.is_empty() {
        area.draw_text("no latency samples", &("sans-serif", 16).into_text_style(area), (40, 40)).map_err(draw_err)?;
        return Ok(());
    }
    let us = |ns: u64| ns.max(1) as f64 / 1000.0;
    let lo = us(h.min()).max(0.001);
    let hi = (us(h.max()) * 1.05).max(lo * 2.0);
    let points: Vec<(f64, f64)> = (0..=CDF_POINTS)
        .map(|i| {
            // Denser towards the tail: q = 1 - 10^(-5 i / N).
            let q = 1.0 - 10f64.powf(-5.0 * i as f64 / CDF_POINTS as f64);
            (us(h.value_at_quantile(q)), q * 100.0)
        })
        .chain(std::iter::once((us(h.max()), 100.0)))
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{} (n = {}, measured phase)", d.latency_desc, h.len()), ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..100f64)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("latency (log scale)")
        .y_desc("cumulative %")
        .x_labels(8)
        .x_label_formatter(&|v| fmt_us(*v))
        .draw()
        .map_err(draw_err)?;
    chart.draw_series(LineSeries::new(points, BLUE.stroke_width(2))).map_err(draw_err)?;
    for (q, color) in [(0.5, GREEN), (0.99, RED)] {
        let x = us(h.value_at_quantile(q));
        chart
            .draw_series(LineSeries::new([(x, 0.0), (x, 100.0)], color.mix(0.6)))
            .map_err(draw_err)?
            .label(format!("p{} = {}", q * 100.0, fmt_us(x)))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(draw_err)?;
    Ok(())
}

fn draw_throughput(area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, d: &PlotData) -> anyhow::Result<()> {
    let count = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    let n = d.sent.1.len().max(d.received.1.len());
    let last = (0..n).rev().find(|&i| count(&d.sent.1, i) > 0 || count(&d.received.1, i) > 0);
    let bins = last.map_or(1, |l| l + 1).max(2);
    let per_s = NS_PER_S as f64 / BIN_NS as f64;
    let series = |v: &[u64]| -> Vec<(f64, f64)> {
        v.iter()
            .take(bins)
            .enumerate()
            .map(|(i, &c)| ((i as f64 + 0.5) * BIN_NS as f64 / 1e9, c as f64 * per_s))
            .collect()
    };
    let sent = series(&d.sent.1);
    let received = series(&d.received.1);
    let top = sent.iter().chain(&received).map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let end_s = bins as f64 * BIN_NS as f64 / 1e9;
    let mut chart = ChartBuilder::on(area)
        .caption("throughput per 100 ms (shaded: measured phase)", ("sans-serif", 16))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end_s, 0f64..top)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc("time since start of sending (s)")
        .y_desc("messages/s")
        .y_label_formatter(&|v| format_si(*v))
        .draw()
        .map_err(draw_err)?;
    let m0 = d.marks.m0.saturating_sub(d.marks.t0) as f64 / 1e9;
    let m1 = d.marks.m1.saturating_sub(d.marks.t0) as f64 / 1e9;
    chart
        .draw_series(std::iter::once(Rectangle::new([(m0, 0.0), (m1, top)], BLACK.mix(0.06).filled())))
        .map_err(draw_err)?;
    for ((label, _), points, color) in [(&d.sent, sent, BLUE), (&d.received, received, RED)] {
        if points.iter().all(|p| p.1 == 0.0) {
            continue;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(draw_err)?
            .label(*label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(draw_err)?;
    Ok(())
}

fn format_si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::stats::histogram;

    #[test]
    fn svg_with_both_panels_is_written() {
        let mut latency = histogram().unwrap();
        for v in 1..5000u64 {
            latency.record(v * 37).unwrap();
        }
        let d = PlotData {
            title: "pubsub test".into(),
            latency_desc: "delivery latency",
            latency,
            sent: ("published/s", vec![10, 20, 30, 0, 0]),
            received: ("delivered/s", vec![10, 20, 29, 1, 0]),
            marks: Marks { t0: 0, m0: BIN_NS, m1: 3 * BIN_NS },
        };
        let path = std::env::temp_dir().join(format!("loadgen-plot-{}.svg", std::process::id()));
        write_svg(&path, &d).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.contains("delivery latency") && svg.contains("delivered/s") && svg.contains("<polyline"));
    }
}
