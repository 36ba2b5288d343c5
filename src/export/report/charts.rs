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
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text.
    pub name: String,
    /// (x, y) points; y in ms.
    pub points: Vec<(f64, f64)>,
}

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
        // Upper right: the upper left is where a run's first requests (cold starts) spike.
        legend: SeriesLabelPosition::UpperRight,
    };
    draw(title, axes, lines, marks, move |x| format!("{x:.digits$}"))
}

/// What a chart's axes say and how its y axis is scaled.
struct Axes {
    x_desc: &'static str,
    /// How x is labelled in the read-out: "s" or "nines".
    x_kind: &'static str,
    scale: Scale,
    legend: SeriesLabelPosition,
}

/// The percentile spectrum: x in "nines" (1 = 90%, 2 = 99%, 3 = 99.9%).
pub fn spectrum(title: &str, lines: Vec<Line>) -> Chart {
    let axes = Axes {
        x_desc: "percentile",
        x_kind: "nines",
        scale: Scale::Log,
        // Upper left: a spectrum rises to the right.
        legend: SeriesLabelPosition::UpperLeft,
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
            legend: axes.legend,
        };
        let drawn = match axes.scale {
            Scale::Linear => plot(&root, &drawing, (x0..x1, 0.0..y1 * 1.05)),
            Scale::Log => plot(&root, &drawing, (x0..x1, (y0 * 0.9..y1 * 1.1).log_scale())),
        };
        if let Some(range) = drawn {
            area = range;
        }
        let _ = root.present();
    }
    Chart {
        svg,
        area,
        x_range: (x0, x1),
        width: SIZE.0,
        lines,
        x_kind: axes.x_kind,
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
    legend: SeriesLabelPosition,
}

/// Draws the lines on `root`; returns the plotting area's horizontal pixel range.
fn plot<Y>(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    d: &Drawing<'_>,
    ranges: (std::ops::Range<f64>, Y),
) -> Option<(i32, i32)>
where
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
        let colour = PALETTE[i % PALETTE.len()];
        let style = ShapeStyle {
            color: colour.to_rgba(),
            filled: false,
            stroke_width: 2,
        };
        chart
            .draw_series(LineSeries::new(line.points.iter().copied(), style))
            .ok()?
            .label(line.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    if !d.marks.is_empty() {
        chart
            .draw_series(d.marks.iter().map(|&p| Circle::new(p, 6, RING)))
            .ok()?
            .label("cold start")
            .legend(|(x, y)| Circle::new((x + 9, y), 5, RING));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .position(d.legend.clone())
        .draw()
        .ok()?;
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
        };
        for scale in [Scale::Linear, Scale::Log] {
            let chart = over_time("t", vec![line.clone()], scale);
            assert!(chart.svg.contains("<polyline"), "{}", chart.svg);
            assert!(chart.area.1 > chart.area.0);
        }
    }
}
