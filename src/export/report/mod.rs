//! The HTML report: one self-contained page (no network, no external files) with the run
//! header, number call-outs per endpoint, latency over time, every endpoint's mean on shared
//! axes, the percentile spectrum, statuses, errors, thresholds and outliers. Charts are SVG
//! drawn by plotters; a few lines of script add hover read-outs and the log-scale switch.
//! It reads the results model only, so a run, a merged file and a checkpoint all render.

use std::fmt::Write as _;

use charts::{Chart, Line, Scale};

use super::Exporter;
use crate::results::{EndpointResult, ErrorKinds, Results, TimelinePoint, decode_histogram};

pub mod charts;
mod server;

const CSS: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// A results file and the name it goes by in the report.
pub struct Labeled<'a> {
    /// The file name or a `--label`.
    pub label: String,
    /// Its results.
    pub results: &'a Results,
}

struct Series<'a> {
    name: String,
    endpoint: &'a EndpointResult,
    /// Which input it comes from (0 for the first run): its lines' dash.
    run: usize,
    /// Its endpoint's place among every name in the inputs: its lines' colour, the same
    /// in every run.
    colour: usize,
}

fn series<'a>(inputs: &'a [Labeled<'a>]) -> Vec<Series<'a>> {
    let several = inputs.len() > 1;
    let mut names: Vec<&str> = Vec::new();
    for input in inputs {
        for e in &input.results.endpoints {
            if !names.contains(&e.name.as_str()) {
                names.push(&e.name);
            }
        }
    }
    let names = &names;
    inputs
        .iter()
        .enumerate()
        .flat_map(|(run, input)| {
            input.results.endpoints.iter().map(move |endpoint| Series {
                name: if several {
                    format!("{} · {}", input.label, endpoint.name)
                } else {
                    endpoint.name.clone()
                },
                endpoint,
                run,
                colour: names.iter().position(|n| *n == endpoint.name).unwrap_or(0),
            })
        })
        .collect()
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number exactly as the results JSON writes it (`45.0`, not `45`), so the page's data
/// attributes can be compared with the file.
fn json_number(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| {
        serde_json::to_string(&v).unwrap_or_default()
    })
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.3} ms"))
}

/// The self-contained HTML report: of one run, or of several side by side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report;

impl Exporter for Report {
    fn render(&self, results: &Results) -> Vec<u8> {
        render(&[Labeled {
            label: "run".to_owned(),
            results,
        }])
    }
}

/// Renders the report of several labelled runs as HTML bytes.
pub fn render(inputs: &[Labeled<'_>]) -> Vec<u8> {
    let all = series(inputs);
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>api-cannon report</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{CSS}</style></head>\n<body class=\"scale-linear\">\n"
    );
    header(&mut page, inputs);
    callouts(&mut page, &all);
    over_time(&mut page, &all);
    spectrum(&mut page, &all);
    server::where_the_time_went(&mut page, &all);
    outcomes(&mut page, &all, inputs);
    outliers(&mut page, &all);
    server::cold_starts(&mut page, &all);
    let _ = write!(page, "<script>{SCRIPT}</script>\n</body></html>\n");
    page.into_bytes()
}

fn header(page: &mut String, inputs: &[Labeled<'_>]) {
    page.push_str("<h1>api-cannon report</h1>\n");
    for input in inputs {
        let r = input.results;
        let run = &r.run;
        let pace = match (
            run.schedule.kind.as_str(),
            run.schedule.rate_per_s,
            run.schedule.every_ms,
        ) {
            ("rate", Some(rate), _) => format!("{rate} requests/s per endpoint"),
            ("every", _, Some(every)) => format!("a burst of {} every {every} ms", run.concurrency),
            ("burst", _, _) => format!("bursts of {}, {} ms sleep", run.concurrency, run.sleep_ms),
            _ => format!("{} free-running lanes per endpoint", run.concurrency),
        };
        let iterations = run
            .iterations
            .map_or_else(|| "until the duration".to_owned(), |n| n.to_string());
        let _ = writeln!(
            page,
            "<p class=\"meta\"><strong>{}</strong>: {} endpoints{}; {pace}; iterations {iterations}; {}{}<br>\
             {} → {} ({:.1} s); api-cannon {}</p>",
            escape(&input.label),
            r.request_endpoints().count(),
            match r.endpoints.iter().filter(|e| e.is_whole_flow()).count() {
                0 => String::new(),
                1 => " and 1 flow".to_owned(),
                n => format!(" and {n} flows"),
            },
            run.duration_s
                .map_or_else(String::new, |d| format!("duration {d} s; ")),
            if run.fresh_connections {
                "a new connection per request"
            } else {
                "keep-alive"
            },
            escape(&run.started_at),
            escape(&run.finished_at),
            run.elapsed_s,
            escape(&r.tool.version)
        );
        if !run.complete {
            let why = match run.stopped_by.as_deref() {
                Some(by) => format!("it was stopped by {}", escape(by)),
                None => "this is a checkpoint of a run still going".to_owned(),
            };
            let _ = writeln!(
                page,
                "<p class=\"note\">Incomplete run: {why}. The figures cover the requests that finished.</p>"
            );
        }
        if run.health.saturated {
            let _ = writeln!(
                page,
                "<p class=\"note\">The generator was saturated ({}): these figures describe api-cannon, not the server.</p>",
                escape(&run.health.reasons.join("; "))
            );
        }
    }
}

/// The endpoint tiles: with several runs, each endpoint's tiles side by side, run by run.
fn callouts(page: &mut String, all: &[Series<'_>]) {
    page.push_str("<h2>Endpoints</h2>\n<div class=\"tiles\">\n");
    let several = all.iter().any(|s| s.run > 0);
    let mut colours: Vec<usize> = Vec::new();
    for s in all {
        if !colours.contains(&s.colour) {
            colours.push(s.colour);
        }
    }
    for colour in colours {
        let group: Vec<&Series<'_>> = all.iter().filter(|s| s.colour == colour).collect();
        if several {
            let name = group.first().map_or("", |s| s.endpoint.name.as_str());
            let _ = write!(
                page,
                "<div class=\"tile-group\" data-group=\"{}\">",
                escape(name)
            );
        }
        for s in group {
            tile(page, s, standing(s, all));
        }
        if several {
            page.push_str("</div>\n");
        }
    }
    page.push_str("</div>\n");
}

/// A tile's class and its standing in words (never by colour alone): lowest or highest p99
/// among the endpoints of its own run. Flows are ranked apart (their end-to-end p99 adds
/// up several requests), and so is an endpoint with no ok response (its fast failures are
/// not "lowest p99").
fn standing(s: &Series<'_>, all: &[Series<'_>]) -> (&'static str, &'static str) {
    let ranked =
        |o: &&Series<'_>| o.run == s.run && !o.endpoint.is_whole_flow() && o.endpoint.ok > 0;
    let p99s: Vec<f64> = all
        .iter()
        .filter(ranked)
        .filter_map(|o| o.endpoint.latency_ms.p99)
        .collect();
    let best = p99s.iter().copied().fold(f64::MAX, f64::min);
    let worst = p99s.iter().copied().fold(f64::MIN, f64::max);
    let e = s.endpoint;
    match e.latency_ms.p99 {
        _ if e.is_whole_flow() => ("tile", "flow, end to end"),
        _ if e.ok == 0 => ("tile", "no ok response"),
        Some(p) if p99s.len() > 1 && p == best => ("tile best", "lowest p99"),
        Some(p) if p99s.len() > 1 && p == worst => ("tile worst", "highest p99"),
        _ => ("tile", ""),
    }
}

fn tile(page: &mut String, s: &Series<'_>, (class, standing): (&str, &str)) {
    let e = s.endpoint;
    let l = &e.latency_ms;
    let error_rate = if e.requests > 0 {
        e.errors as f64 / e.requests as f64 * 100.0
    } else {
        0.0
    };
    let _ = writeln!(
        page,
        "<div class=\"{class}\" data-endpoint=\"{}\" data-requests=\"{}\" data-p99=\"{}\"><h3>{}</h3>\
         <div class=\"standing\">{standing}</div><dl>\
         <dt>requests</dt><dd>{}</dd><dt>error rate</dt><dd>{error_rate:.2}%</dd>\
         <dt>mean</dt><dd>{}</dd><dt>p50</dt><dd>{}</dd><dt>p99</dt><dd>{}</dd>\
         <dt>min</dt><dd>{}</dd><dt>max</dt><dd>{}</dd><dt>first request</dt><dd>{}</dd>{}</dl></div>",
        escape(&s.name),
        e.requests,
        json_number(l.p99),
        escape(&s.name),
        e.requests,
        ms(l.mean),
        ms(l.p50),
        ms(l.p99),
        ms(l.min),
        ms(l.max),
        ms(e.first_ms),
        server::tile_rows(e)
    );
}

/// Writes a figure holding the linear and log variants of a chart (or a note when there is
/// nothing to draw) and the data for its read-out.
fn figure(page: &mut String, caption: &str, variants: Vec<Chart>) {
    if variants
        .iter()
        .all(|c| c.lines.iter().all(|l| l.points.is_empty()))
    {
        let _ = writeln!(
            page,
            "<p class=\"note\">{}: no timed response to draw (every request failed; see the errors below).</p>",
            escape(caption)
        );
        return;
    }
    let _ = write!(
        page,
        "<figure class=\"chart\" data-caption=\"{}\">",
        escape(caption)
    );
    let classes = ["linear", "log"];
    for (chart, class) in variants.iter().zip(classes) {
        let svg = if variants.len() > 1 {
            format!("<div class=\"{class}\">{}</div>", chart.svg)
        } else {
            chart.svg.clone()
        };
        page.push_str(&svg);
    }
    legend(page, &variants);
    let data = script_safe(&readout_data(&variants));
    let _ = writeln!(
        page,
        "<div class=\"readout\"></div><script type=\"application/json\">{data}</script></figure>"
    );
}

/// The chart's legend, below it: over the plot it hid the data it names (the first
/// requests' cold-start spike).
fn legend(page: &mut String, variants: &[Chart]) {
    let Some(chart) = variants.first() else {
        return;
    };
    page.push_str("<ul class=\"legend\">");
    for entry in &chart.legend {
        let mark = match entry.ring {
            true => format!(
                "<circle cx=\"12\" cy=\"6\" r=\"4.5\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"/>",
                entry.colour
            ),
            false => format!(
                "<line x1=\"0\" y1=\"6\" x2=\"24\" y2=\"6\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"{}\"/>",
                entry.colour, entry.dasharray
            ),
        };
        let _ = write!(
            page,
            "<li><svg width=\"24\" height=\"12\" aria-hidden=\"true\">{mark}</svg>{}</li>",
            escape(&entry.name)
        );
    }
    page.push_str("</ul>");
}

/// JSON that can stand in a `<script>` element whatever its strings hold: `<`, `>` and `&`
/// only occur inside JSON strings, where `\u003c`-style escapes mean the same, and without
/// them a name holding `<!--<script>` moves the HTML parser into a state where the rest of
/// the page is script text.
fn script_safe(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// What the page's script needs for hover read-outs: the lines once (both scales share
/// them), rounded to the microsecond, and each variant's plotting area.
fn readout_data(variants: &[Chart]) -> String {
    let Some(first) = variants.first() else {
        return "{}".to_owned();
    };
    let round = |v: f64| (v * 1_000.0).round() / 1_000.0;
    let lines: Vec<serde_json::Value> = first
        .lines
        .iter()
        .map(|l| {
            let points: Vec<[f64; 2]> = l
                .points
                .iter()
                .map(|&(x, y)| [round(x), round(y)])
                .collect();
            serde_json::json!({ "name": l.name, "points": points })
        })
        .collect();
    let areas: Vec<[i32; 2]> = variants.iter().map(|c| [c.area.0, c.area.1]).collect();
    let data = serde_json::json!({
        "width": first.width,
        "x_kind": first.x_kind,
        "x_range": [first.x_range.0, first.x_range.1],
        "areas": areas,
        "lines": lines,
    });
    data.to_string()
}

/// Most points a line is drawn with: about two per horizontal pixel of a chart.
const MAX_POINTS: usize = 500;

/// The timeline with neighbouring buckets merged until it fits [`MAX_POINTS`]: extremes
/// keep their extremes (a spike survives), means are weighted by requests.
fn drawable(timeline: &[TimelinePoint]) -> Vec<TimelinePoint> {
    let mut points = timeline.to_vec();
    while points.len() > MAX_POINTS {
        points = points
            .chunks(2)
            .map(|pair| {
                let mut merged = pair[0].clone();
                if let Some(next) = pair.get(1) {
                    merged.absorb(next);
                }
                merged
            })
            .collect();
    }
    points
}

/// How far apart two drawn points of `e`'s timeline may be and still be joined: one and a
/// half drawn buckets (a bucket with no request in it leaves a gap in the line).
fn gap_of(e: &EndpointResult) -> Option<f64> {
    let mut width = e.timeline_bucket_s;
    let mut points = e.timeline.len();
    while points > MAX_POINTS {
        points = points.div_ceil(2);
        width *= 2.0;
    }
    (width.is_finite() && width > 0.0).then_some(width * 1.5)
}

fn timeline_lines(e: &EndpointResult) -> Vec<Line> {
    let timeline = drawable(&e.timeline);
    let gap = gap_of(e);
    let line = |name: &str, f: fn(&TimelinePoint) -> Option<f64>| Line {
        name: name.to_owned(),
        points: timeline
            .iter()
            .filter_map(|b| f(b).map(|v| (b.t_s, v)))
            .collect(),
        gap,
        ..Line::default()
    };
    vec![
        line("max", |b| b.max_ms),
        line("p99", |b| b.p99_ms),
        line("mean", |b| b.mean_ms),
        line("min", |b| b.min_ms),
    ]
}

fn both_scales(title: &str, lines: Vec<Line>) -> Vec<Chart> {
    both_scales_marked(title, lines, &[])
}

/// Linear and log variants, with `marks` (the cold starts) ringed on both.
fn both_scales_marked(title: &str, lines: Vec<Line>, marks: &[(f64, f64)]) -> Vec<Chart> {
    vec![
        charts::over_time_marked(title, lines.clone(), marks, Scale::Linear),
        charts::over_time_marked(title, lines, marks, Scale::Log),
    ]
}

fn over_time(page: &mut String, all: &[Series<'_>]) {
    page.push_str(
        "<h2>Latency over time</h2>\n<p class=\"controls\"><label><input type=\"checkbox\" id=\"log-scale\"> \
         logarithmic latency axis (spikes flatten the rest on a linear one)</label></p>\n",
    );
    let means: Vec<Line> = all
        .iter()
        .map(|s| Line {
            name: s.name.clone(),
            points: drawable(&s.endpoint.timeline)
                .iter()
                .filter_map(|b| b.mean_ms.map(|m| (b.t_s, m)))
                .collect(),
            colour: Some(s.colour),
            dash: s.run,
            gap: gap_of(s.endpoint),
        })
        .collect();
    figure(
        page,
        "mean latency of every endpoint",
        both_scales("mean latency, every endpoint", means),
    );
    for s in all {
        if s.endpoint.requests == 0 && s.endpoint.skipped > 0 {
            let _ = writeln!(
                page,
                "<p class=\"note\">{}: nothing was sent: all {} skipped, as an earlier step of the flow failed.</p>",
                escape(&s.name),
                s.endpoint.skipped
            );
            continue;
        }
        let title = format!(
            "{}: min, mean, p99, max per {} s",
            s.name, s.endpoint.timeline_bucket_s
        );
        let marks = server::cold_marks(s.endpoint);
        figure(
            page,
            &s.name,
            both_scales_marked(&title, timeline_lines(s.endpoint), &marks),
        );
    }
}

/// The percentile spectrum from the stored histograms, up to the resolution the sample
/// count supports.
fn spectrum(page: &mut String, all: &[Series<'_>]) {
    page.push_str("<h2>Latency distribution</h2>\n");
    let lines: Vec<Line> = all
        .iter()
        .map(|s| Line {
            name: s.name.clone(),
            points: spectrum_points(&s.endpoint.histogram),
            colour: Some(s.colour),
            dash: s.run,
            gap: None,
        })
        .collect();
    figure(
        page,
        "percentile spectrum",
        vec![charts::spectrum(
            "latency by percentile (HdrHistogram)",
            lines,
        )],
    );
}

/// The percentile spectrum of an encoded histogram, in ms by "nines", up to the
/// resolution its count supports; empty when it holds nothing.
fn spectrum_points(encoded: &str) -> Vec<(f64, f64)> {
    decode_histogram(encoded)
        .ok()
        .filter(|h| !h.is_empty())
        .map(|h| {
            let max_nines = (h.len() as f64).log10().clamp(1.0, 6.0);
            (0..=(max_nines * 20.0) as u32)
                .map(|i| {
                    let nines = f64::from(i) / 20.0;
                    let q = 1.0 - 10f64.powf(-nines);
                    (nines, h.value_at_quantile(q) as f64 / 1_000.0)
                })
                .collect()
        })
        .unwrap_or_default()
}

fn outcomes(page: &mut String, all: &[Series<'_>], inputs: &[Labeled<'_>]) {
    page.push_str("<h2>Statuses and errors</h2>\n<table><tr><th>endpoint</th><th>statuses</th>");
    for (kind, _) in ErrorKinds::default().pairs() {
        let _ = write!(page, "<th>{kind}</th>");
    }
    page.push_str("</tr>\n");
    for s in all {
        let e = s.endpoint;
        let mut statuses: Vec<String> = e
            .status
            .iter()
            .map(|(code, n)| format!("{code}×{n}"))
            .collect();
        if e.skipped > 0 {
            statuses.push(format!("skipped×{}", e.skipped));
        }
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td>",
            escape(&s.name),
            escape(&statuses.join(" ")),
        );
        for (_, n) in e.error_kinds.pairs() {
            let _ = write!(page, "<td>{n}</td>");
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</table>\n");
    let thresholds: Vec<_> = inputs
        .iter()
        .flat_map(|i| i.results.thresholds.iter())
        .collect();
    if !thresholds.is_empty() {
        page.push_str(
            "<h2>Thresholds</h2>\n<table><tr><th>threshold</th><th>on</th><th>result</th></tr>\n",
        );
        for t in thresholds {
            let (class, mark) = if t.passed {
                ("pass", "✓ passed")
            } else {
                ("fail", "✗ failed")
            };
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td class=\"{class}\">{mark}: {}</td></tr>",
                escape(&t.threshold.to_string()),
                escape(t.endpoint.as_deref().unwrap_or("all endpoints")),
                escape(&t.explain())
            );
        }
        page.push_str("</table>\n");
    }
}

fn outliers(page: &mut String, all: &[Series<'_>]) {
    if all.iter().all(|s| s.endpoint.outliers.is_empty()) {
        return;
    }
    page.push_str("<h2>Slowest requests</h2>\n<table><tr><th>endpoint</th><th>at (s)</th><th>latency</th><th>status</th><th>iteration</th><th>lane</th><th>new connection</th><th>request ID</th></tr>\n");
    for s in all {
        for o in &s.endpoint.outliers {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{:.3}</td><td>{:.3} ms</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.name),
                o.t_s,
                o.latency_ms,
                o.status,
                o.iteration,
                o.lane,
                if o.new_connection { "yes" } else { "no" },
                escape(o.request_id.as_deref().unwrap_or("–"))
            );
        }
    }
    page.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_attributes_write_numbers_as_the_json_does() {
        assert_eq!(json_number(Some(45.0)), "45.0");
        assert_eq!(json_number(Some(1.234)), "1.234");
        assert_eq!(json_number(None), "");
    }
}
