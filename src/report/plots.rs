//! SVG plots written beside `summary.json`.
//!
//! Why: the JSON summary is what tools consume, but a person comparing runs
//! wants to *see* latency distributions and how queues, batches and memory
//! evolve over simulated time. This module turns already-computed series into
//! small self-contained SVG documents, with no system libraries or fonts needed.
//!
//! What is drawn:
//! - [`latency_cdf_svg`]: one line per series of cumulative fraction (y, 0..1)
//!   against latency in seconds (x). The x axis is logarithmic when all x are
//!   positive and span more than two decades, linear otherwise.
//! - [`time_series_svg`]: one line per series of a value against simulated time.
//! - [`scatter_svg`]: one set of unjoined points per series (e.g. one point
//!   per compared configuration and replication: cost against a p99).
//!
//! Both have a title, axis labels, a mesh, distinct colours per series (a fixed
//! palette of eight, cycling after that) and a legend. Points with a non-finite
//! or absurdly large (beyond 1e300) coordinate are skipped; empty inputs, single
//! points and constant values still render.
//!
//! Determinism: the output bytes depend only on the inputs. Nothing reads the
//! clock, the environment or a random source, no ids are generated, and text
//! is emitted as SVG `<text>` elements (no font metrics from the host).

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// Error raised when a plot cannot be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The plotting backend failed; `name` is the plot title.
    #[error("drawing plot {name}: {message}")]
    Draw { name: String, message: String },
}

/// One named CDF series: sorted-ascending x values (seconds) with cumulative fraction y in `[0, 1]`.
pub struct CdfSeries<'a> {
    pub label: &'a str,
    pub points: &'a [(f64, f64)],
}

/// One named time series: (t seconds, value) points.
pub struct TimeSeries<'a> {
    pub label: &'a str,
    pub points: &'a [(f64, f64)],
}

/// Canvas size in pixels.
const SIZE: (u32, u32) = (800, 500);
const FONT: &str = "sans-serif";
/// Log x axis is used when max/min of positive x exceeds this ratio.
const LOG_RATIO: f64 = 100.0;
/// Coordinates beyond this magnitude are skipped, and log axes are limited to
/// this max/min ratio: plotters' tick generation loops (nearly) forever when a
/// range's span or ratio overflows `f64`.
const MAX_ABS: f64 = 1e300;

/// Colour-blind friendly palette (Okabe–Ito, plus two neutrals), cycled by index.
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(120, 120, 120),
    RGBColor(0, 0, 0),
];

/// Marks' colours, by label in order of first appearance: the front
/// door's trigger keeps the amber it always had.
const MARK_PALETTE: [RGBColor; 4] =
    [RGBColor(230, 159, 0), RGBColor(204, 121, 167), RGBColor(86, 180, 233), RGBColor(120, 120, 120)];

/// A cleaned series ready to draw.
struct Line<'a> {
    label: &'a str,
    points: Vec<(f64, f64)>,
}

/// Everything `render` needs, independent of the public series types.
struct Spec<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    lines: Vec<Line<'a>>,
    x: (f64, f64),
    y: (f64, f64),
    log_x: bool,
    legend_at: SeriesLabelPosition,
    marks: &'a [Mark<'a>],
    /// Draw each point as a dot instead of joining them with a line.
    dots: bool,
}

/// An interval of the x axis to shade and name (a trigger: a spike, an
/// outage), or an instant (`from == to`: a scaling decision) to draw as a
/// vertical line. Marks sharing a label share a colour and one legend entry.
#[derive(Debug, Clone, Copy)]
pub struct Mark<'a> {
    pub from: f64,
    pub to: f64,
    pub label: &'a str,
}

/// Renders a latency CDF (x: latency in seconds, log-scale x axis when max/min positive ratio > 100, else linear; y: fraction 0..1) with one line per series and a legend; title given. Returns the SVG document as a String.
pub fn latency_cdf_svg(title: &str, series: &[CdfSeries]) -> Result<String, PlotError> {
    let lines: Vec<Line> = series
        .iter()
        .map(|s| Line { label: s.label, points: finite(s.points).map(|(x, y)| (x, y.clamp(0.0, 1.0))).collect() })
        .collect();
    let (x_min, x_max) = bounds(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    let ratio = x_max / x_min;
    let log_x = x_min > 0.0 && ratio > LOG_RATIO && ratio < MAX_ABS;
    let x = if log_x { (x_min, x_max) } else { widen(x_min, x_max, 0.0) };
    render(Spec {
        title,
        x_label: "latency (s)",
        y_label: "fraction of requests",
        lines,
        x,
        y: (0.0, 1.0),
        log_x,
        legend_at: SeriesLabelPosition::LowerRight,
        marks: &[],
        dots: false,
    })
}

/// Renders lines over time (x: simulated time, seconds; y label given), one line per series with legend.
pub fn time_series_svg(title: &str, y_label: &str, series: &[TimeSeries]) -> Result<String, PlotError> {
    marked_time_series_svg(title, y_label, series, &[])
}

/// As [`time_series_svg`], with `marks` shaded (intervals) or drawn
/// (instants) and named in the legend.
pub fn marked_time_series_svg(
    title: &str,
    y_label: &str,
    series: &[TimeSeries],
    marks: &[Mark],
) -> Result<String, PlotError> {
    marked_xy_svg(title, "simulated time (s)", y_label, series, marks, false)
}

/// Renders lines of (x, y) points on linear axes with the given labels, one line per series with legend.
pub fn xy_svg(title: &str, x_label: &str, y_label: &str, series: &[TimeSeries]) -> Result<String, PlotError> {
    marked_xy_svg(title, x_label, y_label, series, &[], false)
}

/// Renders unjoined points on linear axes with the given labels, one colour per series with legend.
pub fn scatter_svg(title: &str, x_label: &str, y_label: &str, series: &[TimeSeries]) -> Result<String, PlotError> {
    marked_xy_svg(title, x_label, y_label, series, &[], true)
}

fn marked_xy_svg(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[TimeSeries],
    marks: &[Mark],
    dots: bool,
) -> Result<String, PlotError> {
    let lines: Vec<Line> = series.iter().map(|s| Line { label: s.label, points: finite(s.points).collect() }).collect();
    let (x_min, x_max) = bounds(lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)));
    let (y_min, y_max) = bounds(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)));
    render(Spec {
        title,
        x_label,
        y_label,
        lines,
        x: widen(x_min, x_max, 0.0),
        y: widen(y_min, y_max, 0.05),
        log_x: false,
        legend_at: SeriesLabelPosition::UpperRight,
        marks,
        dots,
    })
}

/// Points whose coordinates are both finite and at most [`MAX_ABS`] in magnitude.
fn finite(points: &[(f64, f64)]) -> impl Iterator<Item = (f64, f64)> + '_ {
    points.iter().copied().filter(|(x, y)| x.abs() <= MAX_ABS && y.abs() <= MAX_ABS)
}

/// Min and max of finite values; (0, 1) when there are none.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
        .unwrap_or((0.0, 1.0))
}

/// Pads a range by `margin` of its span; a degenerate range gets a non-zero span.
fn widen(lo: f64, hi: f64, margin: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > f64::EPSILON * lo.abs().max(hi.abs()).max(1.0) {
        (lo - span * margin, hi + span * margin)
    } else {
        let d = if lo.abs() > 0.0 { lo.abs() * 0.1 } else { 1.0 };
        (lo - d, hi + d)
    }
}

/// Maps any displayable backend error into [`PlotError::Draw`] for plot `name`.
fn draw_err<E: std::fmt::Display>(name: &str) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError::Draw { name: name.to_string(), message: e.to_string() }
}

fn render(spec: Spec) -> Result<String, PlotError> {
    let err = draw_err(spec.title);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(spec.title, (FONT, 22)).margin(15).x_label_area_size(45).y_label_area_size(70);
        let (x, y) = (spec.x.0..spec.x.1, spec.y.0..spec.y.1);
        if spec.log_x {
            let chart = builder.build_cartesian_2d(x.log_scale(), y).map_err(&err)?;
            draw_chart(chart, &spec)?;
        } else {
            let chart = builder.build_cartesian_2d(x, y).map_err(&err)?;
            draw_chart(chart, &spec)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(out)
}

fn draw_chart<'a, X>(
    mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, RangedCoordf64>>,
    spec: &Spec,
) -> Result<(), PlotError>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = draw_err(spec.title);
    chart
        .configure_mesh()
        .x_desc(spec.x_label)
        .y_desc(spec.y_label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(&err)?;
    let mut labels: Vec<&str> = Vec::new();
    for m in spec.marks {
        let first = !labels.contains(&m.label);
        if first {
            labels.push(m.label);
        }
        let hue = MARK_PALETTE[labels.iter().position(|l| *l == m.label).unwrap_or(0) % MARK_PALETTE.len()];
        if m.to > m.from {
            let shade = hue.mix(0.2);
            let area = Rectangle::new([(m.from, spec.y.0), (m.to, spec.y.1)], shade.filled());
            let drawn = chart.draw_series(std::iter::once(area)).map_err(&err)?;
            if first {
                drawn
                    .label(m.label)
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], shade.filled()));
            }
        } else {
            let line = PathElement::new([(m.from, spec.y.0), (m.from, spec.y.1)], hue.stroke_width(1));
            let drawn = chart.draw_series(std::iter::once(line)).map_err(&err)?;
            if first {
                drawn
                    .label(m.label)
                    .legend(move |(x, y)| PathElement::new([(x + 10, y - 6), (x + 10, y + 6)], hue.stroke_width(1)));
            }
        }
    }
    for (i, line) in spec.lines.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        if spec.dots {
            chart
                .draw_series(line.points.iter().map(|&p| Circle::new(p, 5, colour.filled())))
                .map_err(&err)?
                .label(line.label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
            continue;
        }
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), colour.stroke_width(2)))
            .map_err(&err)?
            .label(line.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    if !spec.lines.is_empty() {
        chart
            .configure_series_labels()
            .position(spec.legend_at.clone())
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(&err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdf(n: usize, scale: f64) -> Vec<(f64, f64)> {
        (1..=n).map(|i| (scale * i as f64, i as f64 / n as f64)).collect()
    }

    fn check_doc(svg: &str) {
        assert!(svg.trim_start().starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn cdf_has_title_labels_legend_and_is_deterministic() {
        let a = cdf(50, 0.001);
        let b = cdf(50, 0.01);
        let series = [CdfSeries { label: "ttft", points: &a }, CdfSeries { label: "e2e", points: &b }];
        let svg = latency_cdf_svg("Latency CDF", &series).unwrap();
        check_doc(&svg);
        for text in ["Latency CDF", "latency (s)", "fraction of requests", "ttft", "e2e"] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert!(svg.contains("<text"));
        assert_eq!(svg, latency_cdf_svg("Latency CDF", &series).unwrap());
    }

    #[test]
    fn cdf_wide_range_uses_log_axis_and_narrow_is_linear() {
        let wide = [(0.001, 0.1), (0.01, 0.5), (1.0, 1.0)];
        let narrow = [(1.0, 0.1), (2.0, 0.5), (3.0, 1.0)];
        let log = latency_cdf_svg("w", &[CdfSeries { label: "a", points: &wide }]).unwrap();
        let lin = latency_cdf_svg("n", &[CdfSeries { label: "a", points: &narrow }]).unwrap();
        check_doc(&log);
        check_doc(&lin);
        assert_ne!(log, lin);
    }

    #[test]
    fn time_series_has_title_labels_and_is_deterministic() {
        let q: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, (i % 7) as f64)).collect();
        let r: Vec<(f64, f64)> = (0..100).map(|i| (i as f64, (i % 3) as f64)).collect();
        let series: Vec<TimeSeries> = (0..10)
            .map(|i| TimeSeries { label: ["queue", "running"][i % 2], points: if i % 2 == 0 { &q } else { &r } })
            .collect();
        let svg = time_series_svg("Queue depth", "requests", &series).unwrap();
        check_doc(&svg);
        for text in ["Queue depth", "requests", "simulated time (s)", "queue", "running"] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert_eq!(svg, time_series_svg("Queue depth", "requests", &series).unwrap());
    }

    #[test]
    fn edge_cases_do_not_panic() {
        let nan = [(f64::NAN, 0.5), (1.0, f64::NAN), (f64::INFINITY, 1.0)];
        let one = [(0.5, 1.0)];
        let equal = [(2.0, 3.0), (2.0, 3.0), (2.0, 3.0)];
        let zero_neg = [(-1.0, 0.0), (0.0, 0.2), (1000.0, 1.0)];
        let zeros = [(0.0, 0.0), (0.0, 0.0)];
        let huge = [(-f64::MAX, -f64::MAX), (-1e300, -1e300), (1e300, 1e300)];
        let tiny = [(f64::MIN_POSITIVE, 0.0), (1e-300, 0.5), (1e300, 1.0)];
        let close = [(1.0, 1.0), (1.0 + 1e-15, 1.0 + 1e-15)];
        let inputs: [&[(f64, f64)]; 9] = [&[], &nan, &one, &equal, &zero_neg, &zeros, &huge, &tiny, &close];
        check_doc(&latency_cdf_svg("empty", &[]).unwrap());
        check_doc(&time_series_svg("empty", "y", &[]).unwrap());
        for points in inputs {
            let c = [CdfSeries { label: "s", points }];
            check_doc(&latency_cdf_svg("c", &c).unwrap());
            let t = [TimeSeries { label: "s", points }];
            check_doc(&time_series_svg("t", "y", &t).unwrap());
        }
    }

    #[test]
    fn scatter_draws_dots_with_legend_and_is_deterministic() {
        let a = [(1.0, 0.5), (1.2, 0.6)];
        let b = [(2.0, 0.3)];
        let series = [TimeSeries { label: "static", points: &a }, TimeSeries { label: "continuous", points: &b }];
        let svg = scatter_svg("cost vs p99", "$ per million", "p99 (s)", &series).unwrap();
        check_doc(&svg);
        for text in ["cost vs p99", "$ per million", "p99 (s)", "static", "continuous", "<circle"] {
            assert!(svg.contains(text), "missing {text}");
        }
        assert_eq!(svg, scatter_svg("cost vs p99", "$ per million", "p99 (s)", &series).unwrap());
    }

    #[test]
    fn marks_shade_spans_draw_instants_and_name_each_label_once() {
        let p = [(0.0, 1.0), (10.0, 2.0)];
        let marks = [
            Mark { from: 1.0, to: 3.0, label: "outage" },
            Mark { from: 5.0, to: 5.0, label: "scale up" },
            Mark { from: 7.0, to: 7.0, label: "scale up" },
        ];
        let series = [TimeSeries { label: "a", points: &p }];
        let svg = marked_time_series_svg("m", "y", &series, &marks).unwrap();
        check_doc(&svg);
        assert_eq!((svg.matches("outage").count(), svg.matches("scale up").count()), (1, 1));
        assert_ne!(svg, marked_time_series_svg("m", "y", &series, &marks[..2]).unwrap(), "the second instant is drawn");
        assert_eq!(svg, marked_time_series_svg("m", "y", &series, &marks).unwrap());
    }

    #[test]
    fn text_is_escaped() {
        let p = [(1.0, 0.5), (2.0, 1.0)];
        let svg = latency_cdf_svg("a<b & c", &[CdfSeries { label: "x>y", points: &p }]).unwrap();
        assert!(svg.contains("a&lt;b &amp; c"));
        assert!(svg.contains("x&gt;y"));
    }
}
