//! The report's charts, drawn by plotters' SVG backend: latency over time per endpoint, every
//! endpoint's mean on shared axes, and the HDR percentile spectrum.

use plotters::coord::Shift;
use plotters::prelude::*;

/// Okabe–Ito: distinguishable with the common colour-vision deficiencies, and in print.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

const SIZE: (u32, u32) = (900, 320);

/// The cold-start rings: vermillion, apart from the palette's first lines.
const RING: ShapeStyle = ShapeStyle {
    color: RGBAColor(204, 51, 17, 1.0),
    filled: false,
    stroke_width: 2,
};

/// One line of a chart.
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// (x, y) points; y in ms.
    pub points: Vec<(f64, f64)>,
    /// Its colour, as an index into [`PALETTE`]; `None`: its place among the lines. Runs
    /// compared side by side give an endpoint one colour in all of them.
    pub colour: Option<usize>,
    /// Its dash: 0 solid, 1 dashed, 2 dotted... (the run it comes from, when several are).
    pub dash: usize,
    /// Points further apart than this on x are not joined: no request in between is a
    /// gap, not a slope from one value to the next.
    pub gap: Option<f64>,
}

/// A legend entry, drawn by the page beside the chart rather than over its data.
#[derive(Debug, Clone)]
pub struct LegendEntry {
    /// What it names.
    pub name: String,
    /// `#rrggbb`.
    pub colour: String,
    /// SVG `stroke-dasharray`, empty for a solid line.
    pub dasharray: &'static str,
    /// A ring (the cold starts), not a line.
    pub ring: bool,
}

/// The dash patterns of runs 1, 2, 3... (plotters' dash size and spacing, in pixels) and
/// the same as SVG `stroke-dasharray` for the legend.
const DASHES: [(u32, u32, &str); 4] = [(0, 0, ""), (8, 5, "8 5"), (2, 4, "2 4"), (12, 4, "12 4")];

/// A drawn chart and what the page's script needs for hover read-outs.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The SVG markup.
    pub svg: String,
    /// Plotting area in SVG pixels: left, right.
    pub area: (i32, i32),
    /// Data range on the x axis.
    pub x_range: (f64, f64),
    /// SVG width in pixels.
    pub width: u32,
    /// The lines, for the read-out.
    pub lines: Vec<Line>,
    /// How x is labelled in the read-out: "s" or "nines".
    pub x_kind: &'static str,
    /// The legend, for the page to draw outside the plotting area.
    pub legend: Vec<LegendEntry>,
}

/// How the y axis is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Linear from 0.
    Linear,
    /// Logarithmic, for spikes that would flatten everything else.
    Log,
}

/// The largest value a chart draws, in its unit (ms, or s from the start): 10^9 is 11
/// days of latency or 31 years of run. A results file from elsewhere can hold anything; a
/// value of 1e308 once made the axes' tick search run for ever.
const DRAWN_MAX: f64 = 1e9;

/// A point a chart can draw: finite, not negative, at most [`DRAWN_MAX`] on either axis.
fn drawable_point((x, y): (f64, f64)) -> Option<(f64, f64)> {
    (x.is_finite() && y.is_finite()).then(|| (x.clamp(0.0, DRAWN_MAX), y.clamp(0.0, DRAWN_MAX)))
}

/// The lines with only the points a chart can draw.
fn drawable_lines(lines: Vec<Line>) -> Vec<Line> {
    lines
        .into_iter()
        .map(|line| Line {
            points: line.points.into_iter().filter_map(drawable_point).collect(),
            ..line
        })
        .collect()
}

fn y_bounds(lines: &[Line]) -> (f64, f64) {
    let ys = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1));
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if lo > hi {
        (0.001, 1.0)
    } else {
        (lo.max(0.001), hi.max(lo * 1.01 + 0.001))
    }
}

fn x_bounds(lines: &[Line]) -> (f64, f64) {
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if lo > hi {
        (0.0, 1.0)
    } else {
        (lo, if hi > lo { hi } else { lo + 1.0 })
    }
}

/// Latency lines over time (x in seconds from the start).
pub fn over_time(title: &str, lines: Vec<Line>, scale: Scale) -> Chart {
    over_time_marked(title, lines, &[], scale)
}

/// Latency lines over time with `marks` (x, y) drawn as rings on top: the cold starts.
pub fn over_time_marked(
    title: &str,
    lines: Vec<Line>,
    marks: &[(f64, f64)],
    scale: Scale,
) -> Chart {
    let (x0, x1) = x_bounds(&lines);
    // Enough decimals that neighbouring ticks never read the same.
    let digits = match x1 - x0 {
        r if r < 1.0 => 2,
        r if r < 10.0 => 1,
        _ => 0,
    };
    let axes = Axes {
        x_desc: "time since start (s)",
        x_kind: "s",
        scale,
        key_points: None,
    };
    draw(title, axes, lines, marks, move |x| format!("{x:.digits$}"))
}

/// What a chart's axes say and how its y axis is scaled.
struct Axes {
    x_desc: &'static str,
    /// How x is labelled in the read-out: "s" or "nines".
    x_kind: &'static str,
    scale: Scale,
    /// The x ticks, when they are fixed (the spectrum's 50%, 90%, 99%...).
    key_points: Option<Vec<f64>>,
}

/// The percentile spectrum: x in "nines" (1 = 90%, 2 = 99%, 3 = 99.9%), ticked at 50%,
/// 90%, 99%, 99.9%... however few requests there were.
pub fn spectrum(title: &str, lines: Vec<Line>) -> Chart {
    let (_, x1) = x_bounds(&drawable_lines(lines.clone()));
    let ticks = std::iter::once(2f64.log10())
        .chain((1..=6).map(f64::from))
        .filter(|nines| *nines <= x1 + 1e-9)
        .collect();
    let axes = Axes {
        x_desc: "percentile",
        x_kind: "nines",
        scale: Scale::Log,
        key_points: Some(ticks),
    };
    draw(title, axes, lines, &[], |x| nines_label(*x))
}

/// "50%", "90%", "99%", "99.9%" for 0.301, 1, 2, 3 nines.
pub fn nines_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    let digits = (nines - 2.0).ceil().clamp(0.0, 6.0) as usize;
    format!("{percent:.digits$}%")
}

fn draw(
    title: &str,
    axes: Axes,
    lines: Vec<Line>,
    marks: &[(f64, f64)],
    x_label: impl Fn(&f64) -> String,
) -> Chart {
    let lines = drawable_lines(lines);
    let marks: Vec<(f64, f64)> = marks.iter().copied().filter_map(drawable_point).collect();
    let marks = marks.as_slice();
    let (x0, x1) = x_bounds(&lines);
    let (y0, y1) = y_bounds(&lines);
    let x_desc = axes.x_desc;
    let mut svg = String::new();
    let mut area = (0, 0);
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let _ = root.fill(&WHITE);
        let drawing = Drawing {
            title,
            x_desc,
            lines: &lines,
            marks,
            x_label: &x_label,
        };
        let drawn = match (axes.scale, axes.key_points.clone()) {
            (Scale::Linear, None) => plot(&root, &drawing, (x0..x1, 0.0..y1 * 1.05)),
            (Scale::Log, None) => plot(&root, &drawing, (x0..x1, (y0 * 0.9..y1 * 1.1).log_scale())),
            (Scale::Linear, Some(ticks)) => plot(
                &root,
                &drawing,
                (Ticked::new(x0..x1, ticks), 0.0..y1 * 1.05),
            ),
            (Scale::Log, Some(ticks)) => plot(
                &root,
                &drawing,
                (Ticked::new(x0..x1, ticks), (y0 * 0.9..y1 * 1.1).log_scale()),
            ),
        };
        if let Some(range) = drawn {
            area = range;
        }
        let _ = root.present();
    }
    let legend = legend(&lines, !marks.is_empty());
    Chart {
        svg,
        area,
        x_range: (x0, x1),
        width: SIZE.0,
        lines,
        x_kind: axes.x_kind,
        legend,
    }
}

/// The colour of the `index`th line.
fn colour_of(line: &Line, index: usize) -> RGBColor {
    PALETTE[line.colour.unwrap_or(index) % PALETTE.len()]
}

fn legend(lines: &[Line], rings: bool) -> Vec<LegendEntry> {
    let hex = |RGBColor(r, g, b): RGBColor| format!("#{r:02x}{g:02x}{b:02x}");
    let mut entries: Vec<LegendEntry> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| LegendEntry {
            name: line.name.clone(),
            colour: hex(colour_of(line, i)),
            dasharray: DASHES[line.dash % DASHES.len()].2,
            ring: false,
        })
        .collect();
    if rings {
        let RGBAColor(r, g, b, _) = RING.color;
        entries.push(LegendEntry {
            name: "cold start".to_owned(),
            colour: hex(RGBColor(r, g, b)),
            dasharray: "",
            ring: true,
        });
    }
    entries
}

/// The runs of points not more than `gap` apart on x: each drawn as a line of its own.
fn segments(points: &[(f64, f64)], gap: Option<f64>) -> Vec<&[(f64, f64)]> {
    let Some(gap) = gap else {
        return vec![points];
    };
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        if i == points.len() || points[i].0 - points[i - 1].0 > gap {
            out.push(&points[start..i]);
            start = i;
        }
    }
    out
}

/// A linear axis ticked at given values only (plotters' `with_key_points` keeps ticks
/// of its own between them, and its formatting cannot be set).
struct Ticked {
    inner: plotters::coord::types::RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(range: std::ops::Range<f64>, ticks: Vec<f64>) -> Ticked {
        Ticked {
            inner: range.into(),
            ticks,
        }
    }
}

impl plotters::coord::ranged1d::Ranged for Ticked {
    type FormatOption = plotters::coord::ranged1d::DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: plotters::coord::ranged1d::KeyPointHint>(&self, _: Hint) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// What one plot draws.
struct Drawing<'a> {
    title: &'a str,
    x_desc: &'a str,
    lines: &'a [Line],
    /// Points drawn as rings over the lines (cold starts), in the legend once.
    marks: &'a [(f64, f64)],
    x_label: &'a dyn Fn(&f64) -> String,
}

/// Draws the lines on `root`; returns the plotting area's horizontal pixel range.
fn plot<X, Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    d: &Drawing<'_>,
    ranges: (X, Y),
) -> Option<(i32, i32)>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    <X as plotters::coord::ranged1d::AsRangedCoord>::CoordDescType:
        plotters::coord::ranged1d::ValueFormatter<f64>,
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    <Y as plotters::coord::ranged1d::AsRangedCoord>::CoordDescType:
        plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut chart = ChartBuilder::on(root)
        .caption(d.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(ranges.0, ranges.1)
        .ok()?;
    chart
        .configure_mesh()
        .x_desc(d.x_desc)
        .y_desc("latency (ms)")
        .x_label_formatter(d.x_label)
        .label_style(("sans-serif", 13))
        .draw()
        .ok()?;
    for (i, line) in d.lines.iter().enumerate() {
        let style = ShapeStyle {
            color: colour_of(line, i).to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        let (size, spacing, _) = DASHES[line.dash % DASHES.len()];
        for segment in segments(&line.points, line.gap) {
            let points = segment.iter().copied();
            let _ = match (segment.len(), size) {
                // A bucket alone between gaps is a dot: a line needs two points.
                (1, _) => chart.draw_series(points.map(|p| Circle::new(p, 2, style.filled()))),
                (_, 0) => chart.draw_series(LineSeries::new(points, style)),
                _ => chart.draw_series(DashedLineSeries::new(points, size, spacing, style)),
            };
        }
    }
    if !d.marks.is_empty() {
        chart
            .draw_series(d.marks.iter().map(|&p| Circle::new(p, 6, RING)))
            .ok()?;
    }
    let (x_pixels, _) = chart.plotting_area().get_pixel_range();
    Some((x_pixels.start, x_pixels.end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_read_as_percentiles() {
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(4.0), "99.99%");
    }

    #[test]
    fn a_chart_draws_its_lines_as_polylines() {
        let line = Line {
            name: "rust".into(),
            points: vec![(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)],
            ..Line::default()
        };
        for scale in [Scale::Linear, Scale::Log] {
            let chart = over_time("t", vec![line.clone()], scale);
            assert!(chart.svg.contains("<polyline"), "{}", chart.svg);
            assert!(chart.area.1 > chart.area.0);
        }
    }

    /// Buckets with no request are gaps, not slopes: the line is drawn in pieces.
    #[test]
    fn points_further_apart_than_the_gap_are_not_joined() {
        let points = [(0.0, 1.0), (0.1, 2.0), (1.0, 9.0), (1.1, 8.0), (2.0, 5.0)];
        let pieces = segments(&points, Some(0.15));
        assert_eq!(
            pieces.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [2, 2, 1]
        );
        assert_eq!(segments(&points, None).len(), 1);
        let line = Line {
            name: "gappy".into(),
            points: points.to_vec(),
            gap: Some(0.15),
            ..Line::default()
        };
        let drawn = |gap| {
            let svg = over_time(
                "t",
                vec![Line {
                    gap,
                    ..line.clone()
                }],
                Scale::Linear,
            )
            .svg;
            (
                svg.matches("<polyline").count(),
                svg.matches("<circle").count(),
            )
        };
        let (joined, _) = drawn(None);
        // Three pieces: two lines, and a dot for the bucket alone at the end.
        assert_eq!(drawn(Some(0.15)), (joined + 1, 1));
    }

    #[test]
    fn the_spectrum_is_ticked_at_50_90_99_percent_only() {
        let line = Line {
            name: "small run".into(),
            points: (0..=20)
                .map(|i| (f64::from(i) / 10.0, 1.0 + f64::from(i)))
                .collect(),
            ..Line::default()
        };
        let chart = spectrum("s", vec![line]);
        // plotters writes a label as its text element's own line.
        let labels: Vec<&str> = chart.svg.lines().filter(|l| l.ends_with('%')).collect();
        assert_eq!(labels, ["50%", "90%", "99%"], "{}", chart.svg);
    }

    #[test]
    fn the_legend_keeps_an_endpoint_s_colour_and_a_run_s_dash() {
        let lines = vec![
            Line {
                name: "a · go".into(),
                points: vec![(0.0, 1.0)],
                colour: Some(1),
                dash: 0,
                gap: None,
            },
            Line {
                name: "b · go".into(),
                points: vec![(0.0, 2.0)],
                colour: Some(1),
                dash: 1,
                gap: None,
            },
        ];
        let entries = legend(&lines, true);
        assert_eq!(entries[0].colour, entries[1].colour);
        assert_ne!(entries[0].dasharray, entries[1].dasharray);
        assert!(entries[2].ring && entries[2].name == "cold start");
    }
}
