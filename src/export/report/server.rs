//! The report's server side: where the time went (client latency beside the server's own
//! time and the overhead around it), and the cold starts with the IDs to look them up by.

use std::fmt::Write as _;

use super::charts::{self, Line};
use super::{Series, both_scales, drawable, escape, figure, gap_of, ms, spectrum_points};
use crate::results::EndpointResult;

/// Cold-start events listed per endpoint (the JSON keeps up to 1,000).
const EVENTS_LISTED: usize = 20;

/// Extra rows of an endpoint's call-out tile: server time, overhead and cold starts.
pub(super) fn tile_rows(e: &EndpointResult) -> String {
    let mut rows = String::new();
    if let (Some(server), Some(overhead)) = (&e.server_ms, &e.overhead_ms)
        && server.p50.is_some()
    {
        let _ = write!(
            rows,
            "<dt>server p50</dt><dd>{}</dd><dt>server p99</dt><dd>{}</dd>\
             <dt>overhead p50</dt><dd>{}</dd>",
            ms(server.p50),
            ms(server.p99),
            ms(overhead.p50)
        );
    }
    if let Some(cold) = e.cold_starts.as_ref().filter(|c| c.count > 0) {
        let how = match (cold.source.as_str(), cold.init_ms.p50) {
            ("server", Some(init)) => format!(", init p50 {init:.1} ms"),
            ("spikes", _) => ", seen as latency spikes".to_owned(),
            _ => String::new(),
        };
        let _ = write!(rows, "<dt>cold starts</dt><dd>{}{how}</dd>", cold.count);
    }
    rows
}

/// Where each cold start lies on the latency-over-time chart: (t in s, latency in ms).
pub(super) fn cold_marks(e: &EndpointResult) -> Vec<(f64, f64)> {
    e.cold_starts
        .iter()
        .flat_map(|c| c.events.iter().map(|ev| (ev.t_s, ev.latency_ms)))
        .collect()
}

/// Per endpoint with a server time: client, server and overhead over time (bucket means)
/// and by percentile (from the stored histograms).
pub(super) fn where_the_time_went(page: &mut String, all: &[Series<'_>]) {
    let timed: Vec<&Series<'_>> = all
        .iter()
        .filter(|s| {
            s.endpoint
                .server_ms
                .as_ref()
                .is_some_and(|m| m.p50.is_some())
        })
        .collect();
    if timed.is_empty() {
        return;
    }
    page.push_str(
        "<h2>Where the time went</h2>\n<p class=\"note\">Client latency beside the server's \
         own time (its <code>server_time</code> source) and the overhead between them: \
         network, TLS, gateway and queueing. Cold starts count in the overhead unless the \
         server's own time includes its init.</p>\n",
    );
    for s in timed {
        let e = s.endpoint;
        let title = format!("{}: client, server and overhead, mean per bucket", s.name);
        figure(
            page,
            &format!("{} over time", s.name),
            both_scales(&title, time_lines(e)),
        );
        let lines = vec![
            spectrum_line("client", &e.histogram),
            spectrum_line("server", &e.histograms.server),
            spectrum_line("overhead", &e.histograms.overhead),
        ];
        let title = format!("{}: client, server and overhead by percentile", s.name);
        figure(
            page,
            &format!("{} by percentile", s.name),
            vec![charts::spectrum(&title, lines)],
        );
    }
}

fn spectrum_line(name: &str, encoded: &str) -> Line {
    Line {
        name: name.to_owned(),
        points: spectrum_points(encoded),
        ..Line::default()
    }
}

/// Bucket means of the client latency, the server time, and their difference (where a
/// bucket has both).
fn time_lines(e: &EndpointResult) -> Vec<Line> {
    let buckets = drawable(&e.timeline);
    let gap = gap_of(e);
    let mut lines = [("client", vec![]), ("server", vec![]), ("overhead", vec![])];
    for b in &buckets {
        if let Some(client) = b.mean_ms {
            lines[0].1.push((b.t_s, client));
        }
        if let Some(server) = b.server_mean_ms {
            lines[1].1.push((b.t_s, server));
            if let Some(client) = b.mean_ms {
                lines[2].1.push((b.t_s, (client - server).max(0.0)));
            }
        }
    }
    lines
        .into_iter()
        .map(|(name, points)| Line {
            name: name.to_owned(),
            points,
            gap,
            ..Line::default()
        })
        .collect()
}

/// The cold starts of every endpoint that had any, with their request IDs.
pub(super) fn cold_starts(page: &mut String, all: &[Series<'_>]) {
    let cold: Vec<&Series<'_>> = all
        .iter()
        .filter(|s| s.endpoint.cold_starts.as_ref().is_some_and(|c| c.count > 0))
        .collect();
    if cold.is_empty() {
        return;
    }
    page.push_str(
        "<h2>Cold starts</h2>\n<table><tr><th>endpoint</th><th>at (s)</th><th>latency</th>\
         <th>init</th><th>lane</th><th>new connection</th><th>request ID</th></tr>\n",
    );
    for s in cold {
        let Some(c) = &s.endpoint.cold_starts else {
            continue;
        };
        for ev in c.events.iter().take(EVENTS_LISTED) {
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{:.3}</td><td>{:.3} ms</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&s.name),
                ev.t_s,
                ev.latency_ms,
                ms(ev.init_ms),
                ev.lane,
                if ev.new_connection { "yes" } else { "no" },
                escape(ev.request_id.as_deref().unwrap_or("–"))
            );
        }
        let more = c.count.saturating_sub(EVENTS_LISTED as u64);
        if more > 0 {
            let _ = writeln!(
                page,
                "<tr><td colspan=\"7\">{}: {more} more ({} source; the results JSON lists up to 1,000)</td></tr>",
                escape(&s.name),
                escape(&c.source)
            );
        }
    }
    page.push_str("</table>\n");
}
