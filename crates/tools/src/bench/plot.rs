//! A picture of a benchmark run: throughput per second as bars, p99 as a
//! line on the right axis, and the faults struck as dashed lines.

use super::{BenchReport, FaultAt};

/// The picture of `report`, as an SVG document.
pub fn svg(report: &BenchReport) -> String {
    let ops_series = &report.per_second_ops;
    let p99_series = &report.per_second_p99_us;
    let (w, h, left, right, top, bottom) = (900.0, 420.0, 70.0, 70.0, 50.0, 50.0);
    let n = ops_series.len().max(1) as f64;
    let max_ops = ops_series.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    let max_p99 = p99_series.iter().copied().max().unwrap_or(1).max(1) as f64 / 1000.0 * 1.1;
    let x = |i: f64| left + i / n * (w - left - right);
    let y_ops = |v: f64| h - bottom - v / max_ops * (h - top - bottom);
    let y_p99 = |v: f64| h - bottom - v / max_p99 * (h - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    svg += &format!(
        "<text x=\"{left}\" y=\"24\" font-size=\"15\">synod bench: {} clients, {} nodes, {} workload ({:.1} ops/s mean, p99 {} µs)</text>\n",
        report.clients,
        report.nodes,
        report.workload.name(),
        report.ops_per_sec,
        report.p99_us
    );
    let bar_w = (w - left - right) / n * 0.8;
    for (i, ops) in ops_series.iter().enumerate() {
        let y = y_ops(*ops as f64);
        svg += &format!(
            "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{:.1}\" fill=\"#8ab4f8\"/>\n",
            x(i as f64),
            h - bottom - y
        );
    }
    let points: Vec<String> = p99_series
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i as f64 + 0.4), y_p99(*p as f64 / 1000.0)))
        .collect();
    svg += &format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#d93025\" stroke-width=\"2\"/>\n",
        points.join(" ")
    );
    for FaultAt { at_s, event: label } in &report.events {
        let ex = x(*at_s);
        svg += &format!(
            "<line x1=\"{ex:.1}\" y1=\"{top}\" x2=\"{ex:.1}\" y2=\"{:.1}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{label}</text>\n",
            h - bottom,
            ex + 4.0,
            top + 14.0
        );
    }
    // Axes and labels.
    svg += &format!(
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\n",
        h - bottom,
        w - right,
        h - bottom
    );
    for k in 0..=4 {
        let v = max_ops * k as f64 / 4.0;
        let p = max_p99 * k as f64 / 4.0;
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#1a73e8\">{:.0}</text>\n",
            left - 6.0,
            y_ops(v) + 4.0,
            v
        );
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d93025\">{:.1} ms</text>\n",
            w - right + 6.0,
            y_p99(p) + 4.0,
            p
        );
    }
    for i in (0..ops_series.len()).step_by((ops_series.len() / 10).max(1)) {
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{i}s</text>\n",
            x(i as f64),
            h - bottom + 18.0
        );
    }
    svg += &format!(
        "<text x=\"{left}\" y=\"{:.1}\" fill=\"#1a73e8\">bars: ops per second</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#d93025\">line: p99 latency</text>\n",
        h - 8.0,
        left + 200.0,
        h - 8.0
    );
    svg += "</svg>\n";
    svg
}
