//! `--log-requests FILE`: one line per finished request (NDJSON, or CSV when the file
//! ends in `.csv`), to join with the platform's own logs by request ID.
//!
//! Off the hot path: each worker thread gathers its lanes' lines in a [`Batcher`] and hands
//! them to a dedicated writer thread [`BATCH_LINES`] at a time (and every
//! [`HAND_OVER_EVERY`]) through a bounded channel, never waiting: one channel operation, and
//! at most one wake-up of the writer, per batch rather than per request. When the writer
//! falls behind and the channel is full, the batch is dropped and counted (the results say
//! how many lines): memory stays bounded and no lane stalls. The writer flushes the file at
//! least every second and at the end (also after Ctrl-C, which ends the run gracefully),
//! so a line is on disk about 1.5 s after its request at most (a hand-over, then a flush).

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::outcome::ErrorKind;

/// Lines the channel holds before new ones are dropped (≈100 bytes each).
pub const CHANNEL_LINES: usize = 65_536;

/// Lines a worker thread gathers before handing them over in one send.
pub const BATCH_LINES: usize = 256;

/// How often a worker thread hands over what it has gathered, however little.
pub const HAND_OVER_EVERY: Duration = Duration::from_millis(500);

/// How often the writer flushes at the latest.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// One finished request, as the lane saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// When it was due, from the run's start.
    pub intended: Duration,
    /// Its endpoint, by index.
    pub endpoint: usize,
    /// Its lane.
    pub lane: u32,
    /// Its iteration.
    pub iteration: u64,
    /// The status of a complete response.
    pub status: Option<u16>,
    /// The kind it counted under, when not ok.
    pub error: Option<ErrorKind>,
    /// Its latency (from the intended send), when a response came whole.
    pub latency: Option<Duration>,
    /// Its time to first byte.
    pub ttfb: Option<Duration>,
    /// The server's own time, ms.
    pub server_ms: Option<f64>,
    /// Whether it opened a connection.
    pub new_connection: bool,
    /// Whether it was a cold start (declared, or a spike once the baseline exists).
    pub cold: bool,
    /// Its ID in the platform's logs.
    pub request_id: Option<Box<str>>,
}

/// The file format, by the file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// A header line, then one row per request.
    Csv,
}

impl Format {
    fn of(path: &Path) -> Format {
        match path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            true => Format::Csv,
            false => Format::Ndjson,
        }
    }
}

/// The log file, created before anything is sent (a path that cannot be written is a
/// usage error then, not a surprise at the end).
#[derive(Debug)]
pub struct RequestLog {
    /// Where it goes.
    pub path: PathBuf,
    file: File,
    format: Format,
}

/// The writer's inbox: cloned into every worker thread, which makes a [`Batcher`] of it.
#[derive(Debug, Clone)]
pub struct Sink(SyncSender<Vec<LogLine>>);

impl Sink {
    /// A worker thread's batcher.
    pub fn batcher(&self) -> Batcher {
        Batcher {
            sink: self.0.clone(),
            lines: Vec::with_capacity(BATCH_LINES),
        }
    }
}

/// A worker thread's lines, gathered and handed over [`BATCH_LINES`] at a time.
#[derive(Debug)]
pub struct Batcher {
    sink: SyncSender<Vec<LogLine>>,
    lines: Vec<LogLine>,
}

impl Batcher {
    /// Adds a line; returns how many lines were dropped (a full batch the writer had no
    /// room for), usually 0.
    pub fn push(&mut self, line: LogLine) -> u64 {
        self.lines.push(line);
        match self.lines.len() >= BATCH_LINES {
            true => self.hand_over(),
            false => 0,
        }
    }

    /// Hands what was gathered to the writer; returns how many lines were dropped.
    pub fn hand_over(&mut self) -> u64 {
        if self.lines.is_empty() {
            return 0;
        }
        let batch = std::mem::replace(&mut self.lines, Vec::with_capacity(BATCH_LINES));
        let lines = batch.len() as u64;
        match self.sink.try_send(batch) {
            Ok(()) => 0,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => lines,
        }
    }
}

/// The writer thread; [`Writer::finish`] once every [`Sink`] is dropped.
#[derive(Debug)]
pub struct Writer(JoinHandle<io::Result<u64>>);

impl Writer {
    /// Waits for the writer to write what it was given; returns the lines written.
    pub fn finish(self) -> io::Result<u64> {
        self.0
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the request log's writer panicked")))
    }
}

impl RequestLog {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> io::Result<RequestLog> {
        Ok(RequestLog {
            path: path.to_owned(),
            file: File::create(path)?,
            format: Format::of(path),
        })
    }

    /// Starts the writer for a run whose endpoints are `names`.
    pub fn start(&self, names: Vec<String>) -> io::Result<(Sink, Writer)> {
        let file = self.file.try_clone()?;
        let (sender, lines) = std::sync::mpsc::sync_channel(CHANNEL_LINES / BATCH_LINES);
        let format = self.format;
        let thread = std::thread::Builder::new()
            .name("api-cannon-log".into())
            .spawn(move || write_lines(file, format, &names, &lines))?;
        Ok((Sink(sender), Writer(thread)))
    }
}

/// A line as written: milliseconds, names instead of indices.
#[derive(Serialize)]
struct Row<'a> {
    t_s: f64,
    endpoint: &'a str,
    lane: u32,
    iteration: u64,
    status: Option<u16>,
    error: Option<&'static str>,
    latency_ms: Option<f64>,
    ttfb_ms: Option<f64>,
    server_ms: Option<f64>,
    new_connection: bool,
    cold: bool,
    request_id: Option<&'a str>,
}

fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1_000.0
}

impl<'a> Row<'a> {
    fn of(line: &'a LogLine, names: &'a [String]) -> Row<'a> {
        Row {
            t_s: (line.intended.as_micros() as f64 / 1e6),
            endpoint: names.get(line.endpoint).map_or("", String::as_str),
            lane: line.lane,
            iteration: line.iteration,
            status: line.status,
            error: line.error.map(ErrorKind::as_str),
            latency_ms: line.latency.map(ms),
            ttfb_ms: line.ttfb.map(ms),
            server_ms: line.server_ms,
            new_connection: line.new_connection,
            cold: line.cold,
            request_id: line.request_id.as_deref(),
        }
    }
}

/// The writer's loop: until every sender is gone, write what arrives, flushing at least
/// every [`FLUSH_EVERY`].
fn write_lines(
    file: File,
    format: Format,
    names: &[String],
    batches: &Receiver<Vec<LogLine>>,
) -> io::Result<u64> {
    let mut out = Out::new(file, format);
    let mut flushed = Instant::now();
    loop {
        match batches.recv_timeout(FLUSH_EVERY) {
            Ok(batch) => {
                for line in &batch {
                    out.write(&Row::of(line, names))?;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if flushed.elapsed() >= FLUSH_EVERY {
            out.flush()?;
            flushed = Instant::now();
        }
    }
    out.flush()?;
    Ok(out.written)
}

/// The file behind a buffer, in its format.
enum Encoder {
    Ndjson(BufWriter<File>),
    // Boxed: one per run, and the CSV writer's state is ten times the buffered file's.
    Csv(Box<csv::Writer<File>>),
}

struct Out {
    writer: Encoder,
    written: u64,
}

impl Out {
    fn new(file: File, format: Format) -> Out {
        let writer = match format {
            Format::Ndjson => Encoder::Ndjson(BufWriter::with_capacity(64 * 1024, file)),
            Format::Csv => Encoder::Csv(Box::new(csv::Writer::from_writer(file))),
        };
        Out { writer, written: 0 }
    }

    fn write(&mut self, row: &Row<'_>) -> io::Result<()> {
        match &mut self.writer {
            Encoder::Ndjson(out) => {
                serde_json::to_writer(&mut *out, row)?;
                out.write_all(b"\n")?;
            }
            Encoder::Csv(out) => out.serialize(row).map_err(io::Error::other)?,
        }
        self.written += 1;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.writer {
            Encoder::Ndjson(out) => out.flush(),
            Encoder::Csv(out) => out.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64) -> LogLine {
        LogLine {
            intended: Duration::from_millis(n),
            endpoint: (n % 2) as usize,
            lane: 1,
            iteration: n,
            status: Some(200),
            error: None,
            latency: Some(Duration::from_micros(1_500)),
            ttfb: Some(Duration::from_micros(900)),
            server_ms: Some(0.25),
            new_connection: n == 0,
            cold: false,
            request_id: Some(format!("id,\"{n}\"").into()),
        }
    }

    fn logged(name: &str, lines: u64) -> String {
        let dir =
            std::env::temp_dir().join(format!("api-cannon-log-{}-{name}", std::process::id()));
        let log = RequestLog::create(&dir).expect("created");
        let (sink, writer) = log
            .start(vec!["a,b".to_owned(), "plain".to_owned()])
            .expect("started");
        let mut batcher = sink.batcher();
        drop(sink);
        for n in 0..lines {
            assert_eq!(batcher.push(line(n)), 0);
        }
        assert_eq!(batcher.hand_over(), 0);
        drop(batcher);
        assert_eq!(writer.finish().expect("written"), lines);
        let text = std::fs::read_to_string(&dir).expect("read back");
        let _ = std::fs::remove_file(&dir);
        text
    }

    #[test]
    fn a_writer_that_falls_behind_loses_whole_batches_counted_never_a_stalled_lane() {
        // Room for one batch, and nobody reading: the second batch has nowhere to go.
        let (sender, _unread) = std::sync::mpsc::sync_channel(1);
        let mut batcher = Sink(sender).batcher();
        let dropped: u64 = (0..3 * BATCH_LINES as u64)
            .map(|n| batcher.push(line(n)))
            .sum();
        assert_eq!(dropped, 2 * BATCH_LINES as u64);
        assert_eq!(batcher.push(line(0)) + batcher.hand_over(), 1);
    }

    #[test]
    fn ndjson_has_one_object_per_request() {
        let text = logged("x.ndjson", 3);
        let rows: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1]["endpoint"], "plain");
        assert_eq!(rows[1]["latency_ms"], 1.5);
        assert_eq!(rows[1]["request_id"], "id,\"1\"");
        assert_eq!(rows[0]["error"], serde_json::Value::Null);
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let text = logged("x.csv", 2);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(
                "t_s,endpoint,lane,iteration,status,error,latency_ms,ttfb_ms,server_ms,new_connection,cold,request_id"
            )
        );
        assert_eq!(
            lines.next(),
            Some(r#"0.0,"a,b",1,0,200,,1.5,0.9,0.25,true,false,"id,""0""""#)
        );
        assert_eq!(lines.count(), 1);
    }
}
