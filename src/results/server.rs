//! The server's side of an endpoint in the results: Server-Timing metrics, server time,
//! overhead and cold starts. Accumulated like the rest of [`EndpointFigures`]: from a
//! live run's records or from a file, added exactly, built into the result in one place.
//!
//! [`EndpointFigures`]: super::EndpointFigures

use std::borrow::Cow;
use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{LatencySummary, decode_histogram, encode_histogram};
use crate::record::{
    COLD_EVENTS_KEPT, ColdStarts, ColdTally, OTHER_TIMING, ServerStats, TIMING_NAMES_KEPT,
    add_sparse, new_histogram,
};

/// A distribution in milliseconds with the number of values behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CountedSummary {
    /// The summary.
    #[serde(flatten)]
    pub summary: LatencySummary,
    /// Values recorded.
    pub count: u64,
}

/// An endpoint's cold starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStartsResult {
    /// `server` when the server declared cold starts, `spikes` when they were found as
    /// latency spikes (the server declared none).
    pub source: String,
    /// Cold starts, exact.
    pub count: u64,
    /// Their latency.
    pub latency_ms: LatencySummary,
    /// The init time the server declared (`server` only; null otherwise).
    pub init_ms: LatencySummary,
    /// The first 1,000 by start time.
    pub events: Vec<ColdEventResult>,
    /// The histograms behind `latency_ms` and `init_ms` (µs, HdrHistogram V2, base64).
    pub histograms: ColdHistograms,
}

/// The histograms behind a cold-start summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColdHistograms {
    /// Behind `latency_ms`.
    pub latency: String,
    /// Behind `init_ms`.
    pub init: String,
}

/// One cold start: a request to look up in the platform's logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdEventResult {
    /// When it was due, seconds from the run's start.
    pub t_s: f64,
    /// Its latency in milliseconds.
    pub latency_ms: f64,
    /// The init time the server declared, in milliseconds.
    pub init_ms: Option<f64>,
    /// The lane that sent it.
    pub lane: u32,
    /// Whether it opened a connection.
    pub new_connection: bool,
    /// Its ID in the platform's logs, when the response carried one.
    pub request_id: Option<String>,
}

/// Where cold starts were counted from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ColdSourceKind {
    Spikes,
    Server,
}

impl ColdSourceKind {
    fn as_str(self) -> &'static str {
        match self {
            ColdSourceKind::Server => "server",
            ColdSourceKind::Spikes => "spikes",
        }
    }
}

/// The server's figures of one endpoint, accumulated.
#[derive(Debug, Clone, Default)]
pub struct ServerFigures<'a> {
    timing: Vec<(String, Cow<'a, Histogram<u64>>)>,
    timing_dropped: u64,
    server: Option<Cow<'a, Histogram<u64>>>,
    overhead: Option<Cow<'a, Histogram<u64>>>,
    /// `None` when no source was named.
    missing: Option<u64>,
}

fn ms(us: f64) -> f64 {
    us.round() / 1_000.0
}

fn decoded(text: &str, what: &str) -> Result<Histogram<u64>, String> {
    let h = decode_histogram(text).map_err(|e| format!("{what}: {e}"))?;
    let mut laid = new_histogram();
    add_sparse(&mut laid, &h);
    Ok(laid)
}

impl<'a> ServerFigures<'a> {
    /// A live run's figures; `asked`: the target names a server-time source.
    pub fn from_stats(s: Option<&'a ServerStats>, asked: bool) -> Self {
        let Some(s) = s else {
            let empty = || Cow::Owned(new_histogram());
            return ServerFigures {
                server: asked.then(empty),
                overhead: asked.then(empty),
                missing: asked.then_some(0),
                ..ServerFigures::default()
            };
        };
        let mut timing: Vec<(String, Cow<'a, Histogram<u64>>)> = s
            .timing
            .iter()
            .map(|(name, h)| (name.to_string(), h.histogram()))
            .collect();
        if s.timing_dropped > 0 {
            timing.push((OTHER_TIMING.to_owned(), s.timing_other.histogram()));
        }
        ServerFigures {
            timing,
            timing_dropped: s.timing_dropped,
            server: (asked || !s.server.is_empty()).then_some(s.server.histogram()),
            overhead: (asked || !s.overhead.is_empty()).then_some(s.overhead.histogram()),
            missing: asked.then_some(s.missing),
        }
    }

    /// What a results file holds; its histograms must decode.
    pub fn from_result(e: &super::EndpointResult) -> Result<Self, String> {
        let h = &e.histograms;
        let at = |what: &str| format!("endpoint `{}`: {what}", e.name);
        let timing = h
            .server_timing
            .iter()
            .take(TIMING_NAMES_KEPT + 1)
            .map(|(name, text)| Ok((name.clone(), Cow::Owned(decoded(text, &at(name))?))))
            .collect::<Result<_, String>>()?;
        let optional = |summary: &Option<LatencySummary>, text: &str, what: &str| match (
            summary,
            text.is_empty(),
        ) {
            (None, _) => Ok(None),
            (Some(_), true) => Ok(Some(Cow::Owned(new_histogram()))),
            (Some(_), false) => decoded(text, &at(what)).map(|h| Some(Cow::Owned(h))),
        };
        Ok(ServerFigures {
            timing,
            timing_dropped: e.server_timing_dropped,
            server: optional(&e.server_ms, &h.server, "server histogram")?,
            overhead: optional(&e.overhead_ms, &h.overhead, "overhead histogram")?,
            missing: e.server_time_missing,
        })
    }

    /// Adds another run's figures for the same endpoint.
    pub fn add(&mut self, other: ServerFigures<'_>) {
        for (name, theirs) in other.timing {
            match self.timing.iter_mut().find(|(known, _)| *known == name) {
                Some((_, mine)) => add_sparse(mine.to_mut(), &theirs),
                None => self.timing.push((name, Cow::Owned(theirs.into_owned()))),
            }
        }
        self.timing_dropped = self.timing_dropped.saturating_add(other.timing_dropped);
        for (mine, theirs) in [
            (&mut self.server, other.server),
            (&mut self.overhead, other.overhead),
        ] {
            match (mine.as_mut(), theirs) {
                (Some(mine), Some(theirs)) => add_sparse(mine.to_mut(), &theirs),
                (None, Some(theirs)) => *mine = Some(Cow::Owned(theirs.into_owned())),
                (_, None) => {}
            }
        }
        self.missing = match (self.missing, other.missing) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
    }

    /// `server_timing_ms`.
    pub fn timing_summaries(&self) -> BTreeMap<String, CountedSummary> {
        self.timing
            .iter()
            .map(|(name, h)| {
                let summary = CountedSummary {
                    summary: LatencySummary::of(h, None),
                    count: h.len(),
                };
                (name.clone(), summary)
            })
            .collect()
    }

    /// The histograms of `server_timing_ms`, encoded.
    pub fn timing_histograms(&self) -> BTreeMap<String, String> {
        self.timing
            .iter()
            .map(|(name, h)| (name.clone(), encode_histogram(h)))
            .collect()
    }

    /// `server_timing_dropped`.
    pub fn timing_dropped(&self) -> u64 {
        self.timing_dropped
    }

    /// `server_ms`: null when no source was named and nothing was timed.
    pub fn server_ms(&self) -> Option<LatencySummary> {
        self.server.as_ref().map(|h| LatencySummary::of(h, None))
    }

    /// `overhead_ms`, null like `server_ms`.
    pub fn overhead_ms(&self) -> Option<LatencySummary> {
        self.overhead.as_ref().map(|h| LatencySummary::of(h, None))
    }

    /// The server-time histogram (thresholds on totals add these up).
    pub fn server_histogram(&self) -> Option<&Histogram<u64>> {
        self.server.as_deref()
    }

    /// `server_time_missing`: null when no source was named.
    pub fn missing(&self) -> Option<u64> {
        self.missing
    }

    /// The encoded server and overhead histograms (empty strings when absent).
    pub fn encoded(&self) -> (String, String) {
        let encode = |h: &Option<Cow<'_, Histogram<u64>>>| {
            h.as_deref().map_or_else(String::new, encode_histogram)
        };
        (encode(&self.server), encode(&self.overhead))
    }
}

/// An endpoint's cold starts, accumulated: the declared ones when there are any, else the
/// spikes.
#[derive(Debug, Clone)]
pub struct ColdFigures {
    source: ColdSourceKind,
    count: u64,
    latency: Histogram<u64>,
    init: Histogram<u64>,
    /// On the shared clock, earliest first.
    events: Vec<ColdEventResult>,
}

impl ColdFigures {
    /// A live run's cold starts.
    pub fn from_stats(c: &ColdStarts) -> Self {
        let (source, tally) = match (&c.declared, &c.spikes) {
            (Some(declared), _) => (ColdSourceKind::Server, Some(declared)),
            (None, spikes) => (ColdSourceKind::Spikes, spikes.as_ref()),
        };
        let empty = ColdTally::default();
        let tally = tally.map_or(&empty, |t| &**t);
        let mut events: Vec<ColdEventResult> = tally
            .events
            .iter()
            .map(|e| ColdEventResult {
                t_s: e.intended.as_secs_f64(),
                latency_ms: ms(e.latency.as_micros() as f64),
                init_ms: e.init_ms,
                lane: e.lane,
                new_connection: e.new_connection,
                request_id: e.request_id.as_deref().map(str::to_owned),
            })
            .collect();
        events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        ColdFigures {
            source,
            count: tally.count,
            latency: tally.latency.histogram().into_owned(),
            init: tally.init.histogram().into_owned(),
            events,
        }
    }

    /// What a results file holds, its events moved by `offset_s` onto the shared clock.
    pub fn from_result(c: &ColdStartsResult, name: &str, offset_s: f64) -> Result<Self, String> {
        let at = |what: &str| format!("endpoint `{name}`: cold_starts {what}");
        let source = match c.source.as_str() {
            "server" => ColdSourceKind::Server,
            "spikes" => ColdSourceKind::Spikes,
            other => {
                return Err(at(&format!(
                    "source `{other}` is neither server nor spikes"
                )));
            }
        };
        let histogram = |text: &str, what: &str| match text.is_empty() {
            true => Ok(new_histogram()),
            false => decoded(text, &at(what)),
        };
        let latency = histogram(&c.histograms.latency, "latency histogram")?;
        if latency.len() != c.count || c.events.len() as u64 > c.count {
            return Err(at(&format!(
                "count {} does not match its histogram ({}) or its events ({})",
                c.count,
                latency.len(),
                c.events.len()
            )));
        }
        let mut events = c.events.clone();
        for event in &mut events {
            event.t_s += offset_s;
        }
        Ok(ColdFigures {
            source,
            count: c.count,
            latency,
            init: histogram(&c.histograms.init, "init histogram")?,
            events,
        })
    }

    /// Adds another run's cold starts: like with like; declared ones outrank spikes (a run
    /// whose server declares cold starts says more than one whose latency was watched).
    pub fn add(&mut self, other: ColdFigures) {
        if other.source > self.source {
            *self = other;
            return;
        }
        if other.source < self.source {
            return;
        }
        self.count = self.count.saturating_add(other.count);
        add_sparse(&mut self.latency, &other.latency);
        add_sparse(&mut self.init, &other.init);
        self.events.extend(other.events);
        self.events.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        self.events.truncate(COLD_EVENTS_KEPT);
    }

    /// The result.
    pub fn build(&self) -> ColdStartsResult {
        ColdStartsResult {
            source: self.source.as_str().to_owned(),
            count: self.count,
            latency_ms: LatencySummary::of(&self.latency, None),
            init_ms: LatencySummary::of(&self.init, None),
            events: self.events.clone(),
            histograms: ColdHistograms {
                latency: encode_histogram(&self.latency),
                init: encode_histogram(&self.init),
            },
        }
    }
}
