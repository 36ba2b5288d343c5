//! Command-line definitions (clap derive). No side effects: parsing only; `app` acts on it.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::plan::Share;
use crate::thresholds::Threshold;

mod spec;

const RUN_EXAMPLES: &str = "\
Examples:
  # The story's run: every endpoint, 3 at a time, every 5 s, for 3 days
  api-cannon run --targets targets.toml \\
      --iterations 50000 --concurrency 3 --sleep 5s

  # Ad hoc, no file: 1000 iterations on 50 keep-alive connections
  api-cannon run https://api.example.test/hello -n 1000 -c 50

  # JSON on stdout for jq
  api-cannon run --targets targets.toml -n 100 -c 3 --output - \\
      | jq '.endpoints[] | {name, p99: .latency_ms.p99}'

  # Open model: 200 requests/s per endpoint for a minute
  api-cannon run --targets targets.toml --rate 200 --duration 1m

  # Gate a CI job: fail unless p99 < 300 ms and under 1% errors
  api-cannon run --targets targets.toml -n 100 -c 3 \\
      --threshold 'p99<300ms' --threshold 'error_rate<1%' \\
      --junit report.xml --markdown \"$GITHUB_STEP_SUMMARY\"

Exit codes: 0 finished, every threshold held; 1 a threshold failed, an endpoint got no ok response (unless --allow-failures), or results could not be written; 2 bad usage or config (nothing sent); 130 / 143 stopped by SIGINT / SIGTERM (results written).";

const DEMO_EXAMPLES: &str = "\
Examples:
  # Serve the Slipspace API, fire a short run at it, show the summary
  api-cannon demo
  # Only serve; then fire from another terminal
  api-cannon demo --serve --port 8787
  api-cannon run --targets targets.toml -n 20 -c 3 --sleep 200ms
  # HTTPS with a certificate made at start-up, for --cacert
  api-cannon demo --serve --tls --port 8443";

/// A load generator for HTTP APIs: fires bursts (or free-running lanes) of requests at
/// each endpoint and records their latencies in HDR histograms, written out as JSON.
#[derive(Debug, Parser)]
#[command(name = "api-cannon", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fire at the endpoints of a targets file or of URL arguments.
    #[command(after_help = RUN_EXAMPLES)]
    Run(Box<RunArgs>),
    /// Start the built-in simulated Slipspace API and fire a short run at it (works offline).
    #[command(after_help = DEMO_EXAMPLES)]
    Demo(DemoArgs),
    /// Write a self-contained HTML report (charts, call-outs, distributions) of results files.
    #[command(
        after_help = "Examples:\n  api-cannon report results.json -o report.html\n  api-cannon report before.json after.json \\\n      --label before --label after -o report.html"
    )]
    Report(ReportArgs),
    /// Compare a current results file against a baseline: did it get slower?
    #[command(after_help = COMPARE_EXAMPLES)]
    Compare(CompareArgs),
    /// Merge results files (shards, or runs from several machines) into one, losslessly.
    #[command(after_help = MERGE_EXAMPLES)]
    Merge(MergeArgs),
    /// Write a commented targets.toml to start from: one target per URL (the demo's when
    /// none is given), [defaults], thresholds and a flow to fill in.
    #[command(
        after_help = "Examples:\n  api-cannon init https://api.example.com/health https://api.example.com/users\n  api-cannon init -o load/targets.toml --force"
    )]
    Init {
        /// The endpoints to start with.
        #[arg(value_name = "URL")]
        urls: Vec<String>,
        /// Where to write it.
        #[arg(short = 'o', long, value_name = "FILE", default_value = "targets.toml")]
        output: PathBuf,
        /// Replace the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    #[command(
        after_help = "Example:\n  api-cannon completions bash \\\n      > ~/.local/share/bash-completion/completions/api-cannon"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff) to stdout: api-cannon(1), or a command's own page with
    /// every option (api-cannon-run(1), ...).
    #[command(
        after_help = "Examples:\n  api-cannon man > ~/.local/share/man/man1/api-cannon.1\n  api-cannon man run > ~/.local/share/man/man1/api-cannon-run.1"
    )]
    Man {
        /// The command whose page to print (run, demo, report, merge, compare, completions);
        /// none: the overview.
        command: Option<String>,
    },
}

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// URLs to fire at, each a GET target named by its host and path (instead of --targets).
    // Not `required`: with neither URLs nor --targets, `run` says what it needs itself,
    // with examples, where clap would only name `<URL>`.
    #[arg(value_name = "URL", conflicts_with = "targets")]
    pub urls: Vec<String>,

    /// Targets file (TOML): names, URLs, methods, headers, bodies, expected statuses.
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// Validate everything and print the plan (endpoints, lanes, schedule, expected requests
    /// and duration); send nothing; exit 0.
    #[arg(long)]
    pub dry_run: bool,

    /// Send one request per endpoint and show it whole: the request head (secrets masked),
    /// the response's status, headers and first 2 KB of body, and the time of each phase.
    /// Records nothing; exit 1 when an endpoint did not answer.
    #[arg(long, conflicts_with = "dry_run")]
    pub inspect: bool,

    #[command(flatten)]
    pub request: RequestArgs,

    #[command(flatten)]
    pub load: LoadArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// What to send, curl-style: the request of URL arguments, and with --targets the lowest
/// defaults (the file's [defaults] and each target override them).
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// A request header 'Name: value' (repeatable). Values are never written anywhere.
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,

    /// HTTP method [default: GET, or POST with -d].
    #[arg(short = 'm', long, value_name = "METHOD")]
    pub method: Option<String>,

    /// Request body: TEXT, or @FILE to send a file's bytes.
    #[arg(short = 'd', long, value_name = "TEXT|@FILE")]
    pub body: Option<String>,

    /// The body's Content-Type (the same as -H 'Content-Type: TYPE').
    #[arg(long, value_name = "TYPE")]
    pub content_type: Option<String>,
}

/// How hard and how long to fire.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Iterations per endpoint [default: 1, or unlimited when --duration is set].
    #[arg(short = 'n', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub iterations: Option<u64>,

    /// Concurrent requests (lanes, each its own connection) per endpoint.
    #[arg(short = 'c', long, value_name = "C", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: u32,

    /// Pause after each iteration of an endpoint; 0s lets lanes run free (maximum throughput).
    #[arg(short = 's', long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub sleep: Duration,

    /// Stop after this long even if iterations remain (requests in flight then are dropped).
    #[arg(short = 'z', long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,

    /// Per-request timeout, connection set-up included (targets.toml may override it).
    #[arg(short = 't', long, value_name = "DURATION", default_value = "30s", value_parser = parse_positive_duration)]
    pub timeout: Duration,

    /// Open model: requests per second per endpoint (500, 500/s, 30000/m), due on the clock
    /// whatever earlier requests are doing; latency counts from the due time.
    #[arg(long, value_name = "R", value_parser = parse_rate, conflicts_with_all = ["sleep", "every"])]
    pub rate: Option<f64>,

    /// Open model: a burst of C requests every DURATION on a fixed clock (the
    /// coordinated-omission-safe form of --sleep).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration, conflicts_with = "sleep")]
    pub every: Option<Duration>,

    /// With --rate: climb linearly from 0 to R over DURATION, then hold.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, requires = "rate")]
    pub ramp_up: Option<Duration>,

    /// With --rate or --every: most connections per endpoint; a request due while all are
    /// busy waits, and the wait counts in its latency.
    #[arg(long, value_name = "N", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Open a new connection for every request (as the original curl script did).
    #[arg(long)]
    pub fresh_connections: bool,

    /// Run shard I (0-based) of N: this process takes every N-th lane of each endpoint (with
    /// --rate, every N-th request). Merge the shards' results with `api-cannon merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Share>,

    /// Extra trusted root certificate(s), PEM (repeatable), e.g. for a self-signed test server.
    #[arg(long, value_name = "FILE")]
    pub cacert: Vec<PathBuf>,

    /// Do not verify servers' TLS certificates (self-signed test servers): the results and
    /// the summary say so. Prefer --cacert.
    #[arg(long)]
    pub insecure: bool,

    /// Client certificate chain (PEM) for mutual TLS; needs --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,

    /// Private key (PEM: PKCS#8, PKCS#1 or SEC1) of the --cert certificate.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Send requests for HOST:PORT to TARGET_HOST:TARGET_PORT instead, keeping the Host header
    /// and TLS name (pin one instance behind a load balancer); repeatable.
    #[arg(long, value_name = "HOST:PORT:TARGET_HOST:TARGET_PORT")]
    pub connect_to: Vec<crate::client::ConnectTo>,

    /// Follow up to N redirects (default 0: a 3xx is the response, as the original cannon
    /// saw it); targets.toml may set `follow_redirects` per target.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub follow_redirects: u32,

    /// Speak HTTP/2: offered over ALPN for https:// (the server may still pick HTTP/1.1),
    /// prior knowledge (h2c) for http://. The results say which version was used.
    #[arg(long, conflicts_with = "http1")]
    pub http2: bool,

    /// Speak HTTP/1.1 only (the default; for scripts that want to say so).
    #[arg(long)]
    pub http1: bool,

    /// Go through the proxies in HTTP_PROXY / HTTPS_PROXY (minus NO_PROXY). Without this,
    /// proxy variables are ignored, so a stray one never reroutes a benchmark.
    #[arg(long)]
    pub use_env_proxy: bool,

    /// Ask for compressed responses (Accept-Encoding: gzip, br). Off by default, so the
    /// figures are for what the wire carries uncompressed.
    #[arg(long)]
    pub compressed: bool,

    /// Worker threads [default: the number of CPU cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,

    /// Where the server's own time is, for targets that name none: server-timing:NAME (a
    /// Server-Timing metric), header:NAME (milliseconds) or /json/pointer (into the body).
    #[arg(long, value_name = "SOURCE")]
    pub server_time: Option<crate::server_time::TimeSource>,

    /// The response header that names a request in the platform's logs [default: the first
    /// of x-amzn-RequestId, x-amz-apigw-id, x-request-id, traceparent's trace ID].
    #[arg(long, value_name = "NAME")]
    pub request_id_header: Option<crate::server_time::RequestIdSource>,

    /// Sign every request with AWS Signature Version 4 for REGION:SERVICE (execute-api for
    /// API Gateway, lambda for function URLs), with the credentials of AWS_ACCESS_KEY_ID /
    /// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN; targets.toml may set aws_sigv4 per target.
    #[arg(long, value_name = "REGION:SERVICE")]
    pub aws_sigv4: Option<crate::targets::SigV4Scope>,

    /// The AWS profile to sign with when AWS_ACCESS_KEY_ID is not set: its keys or its
    /// credential_process in ~/.aws/credentials or ~/.aws/config [default: AWS_PROFILE, else
    /// default].
    #[arg(long, value_name = "NAME")]
    pub aws_profile: Option<String>,
}

/// Where the results go and what is shown meanwhile.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Results file (JSON); `-` for stdout [default: api-cannon-YYYYMMDD-HHMMSS.json, UTC; -2, -3, ... rather than replace one].
    #[arg(short = 'o', long, value_name = "FILE", value_parser = output_path)]
    pub output: Option<PathBuf>,

    /// Rewrite the results file (complete=false) this often while the run goes on.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_positive_duration)]
    pub checkpoint: Duration,

    /// No progress display and no summary (errors and failed thresholds are still printed).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Log every finished request to FILE, one line each (CSV when FILE ends in .csv,
    /// NDJSON otherwise): time, endpoint, lane, status, error, latency, server time, cold
    /// start, request ID. Joins with the platform's logs by request ID.
    #[arg(long, value_name = "FILE")]
    pub log_requests: Option<PathBuf>,

    /// Fail the run (exit 1) unless this holds, e.g. 'p99<200ms', 'rust:p95<=50ms',
    /// 'error_rate<1%', 'errors<=0', 'rps>=100' (repeatable; see README "Thresholds").
    #[arg(long = "threshold", value_name = "EXPR", value_parser = Threshold::parse)]
    pub thresholds: Vec<Threshold>,

    /// Stop as soon as a threshold can no longer pass (error counts, checked every second)
    /// or has failed at a checkpoint (the others); write the results and exit 1.
    #[arg(long)]
    pub fail_fast: bool,

    /// Serve the run's figures for Prometheus at http://ADDR/metrics while it runs, e.g.
    /// 127.0.0.1:9464 (port 0: any free one, printed). 0.0.0.0 exposes them to the network.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen_address)]
    pub metrics_listen: Option<std::net::SocketAddr>,

    /// Keep serving the final figures this long after the run, for a last scrape.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration, requires = "metrics_listen")]
    pub metrics_linger: Duration,

    /// Exit 0 even when an endpoint got no ok response at all (by default that is exit 1:
    /// a run against a dead server must not pass a CI job). Thresholds still apply.
    #[arg(long)]
    pub allow_failures: bool,

    /// Also write a JUnit XML report (one testcase per endpoint and per threshold).
    #[arg(long, value_name = "FILE", value_parser = output_path)]
    pub junit: Option<PathBuf>,

    /// Also write the summary and thresholds as GitHub-flavoured Markdown
    /// (for $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE", value_parser = output_path)]
    pub markdown: Option<PathBuf>,

    /// Also write the HTML report, at the end and at every checkpoint (reload to follow a
    /// long run).
    #[arg(long, value_name = "FILE", value_parser = output_path)]
    pub report: Option<PathBuf>,
}

/// `IP:PORT` to listen on (`[::1]:9464` for IPv6).
fn parse_listen_address(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("`{text}` is not an address to listen on: write IP:PORT, e.g. 127.0.0.1:9464")
    })
}

/// A file to write. An empty one gets its own message: `--markdown "$GITHUB_STEP_SUMMARY"`
/// outside GitHub Actions expands to nothing, and clap's "a value is required" hides why.
fn output_path(text: &str) -> Result<PathBuf, String> {
    match text.is_empty() {
        true => Err(
            "the file name is empty (an unset variable? $GITHUB_STEP_SUMMARY is \
                     set only inside GitHub Actions): give a file name"
                .to_owned(),
        ),
        false => Ok(PathBuf::from(text)),
    }
}

const MERGE_EXAMPLES: &str = "\
Examples:
  api-cannon merge shard-0.json shard-1.json shard-2.json -o merged.json
  api-cannon merge machine-a.json machine-b.json \\
      --threshold 'p99<300ms' -o - | jq .totals

Exit codes: 0 merged, every threshold held; 1 a threshold failed; 2 a file is unreadable, of another schema version, or its endpoints differ (without --union).";

const COMPARE_EXAMPLES: &str = "\
Examples:
  api-cannon compare baseline.json current.json
  api-cannon compare main.json pr.json --tolerance 5% --format markdown \\
      >> \"$GITHUB_STEP_SUMMARY\"

Verdict per endpoint: `slower` when a Kolmogorov-Smirnov test on the two latency histograms says the distributions differ (alpha 0.01) and p50 or p99 rose by more than the tolerance; `faster` when they differ and both fell by more than it; else `no significant change`.

Exit codes: 0 no regression; 1 an endpoint is slower, its error rate rose beyond the tolerance, or it is missing from the current file; 2 a file is unreadable or of another schema version, or the files share no endpoint.";

/// Options of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The reference results file.
    #[arg(value_name = "BASELINE")]
    pub baseline: PathBuf,

    /// The results file to judge.
    #[arg(value_name = "CURRENT")]
    pub current: PathBuf,

    /// How much worse counts as slower (relative, for p50/p99 and the error rate).
    #[arg(long, value_name = "PCT", default_value = "10%", value_parser = parse_tolerance)]
    pub tolerance: f64,

    /// Output format.
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    pub format: CompareFormat,
}

/// How `compare` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CompareFormat {
    /// A table per endpoint.
    Text,
    /// The comparison as JSON.
    Json,
    /// GitHub-flavoured Markdown.
    Markdown,
}

fn parse_tolerance(text: &str) -> Result<f64, String> {
    crate::compare::parse_tolerance(text).map_err(|e| e.to_string())
}

/// Options of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Results files; several are overlaid (runs or shards side by side).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// The HTML file to write.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "report.html")]
    pub output: PathBuf,

    /// A name for each file, in order (default: the file names).
    #[arg(long = "label", value_name = "NAME")]
    pub labels: Vec<String>,
}

/// Options of `merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Results files written by `api-cannon run`.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Where to write the merged results; `-` for stdout.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "-")]
    pub output: PathBuf,

    /// Keep endpoints that only some files have (default: their endpoints must match).
    #[arg(long)]
    pub union: bool,

    /// Evaluate this threshold on the merged figures too (repeatable; the files' own
    /// thresholds are always evaluated again).
    #[arg(long = "threshold", value_name = "EXPR", value_parser = Threshold::parse)]
    pub thresholds: Vec<Threshold>,

    /// Also write a JUnit XML report of the merged results.
    #[arg(long, value_name = "FILE", value_parser = output_path)]
    pub junit: Option<PathBuf>,

    /// Also write the merged summary and thresholds as Markdown (for $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE", value_parser = output_path)]
    pub markdown: Option<PathBuf>,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Only serve the demo API (until Ctrl-C), for `run --targets targets.toml` elsewhere.
    #[arg(long)]
    pub serve: bool,

    /// Port for --serve (0 picks a free one).
    #[arg(long, default_value_t = 8787, requires = "serve")]
    pub port: u16,

    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a certificate made at start-up for
    /// 127.0.0.1 and localhost, written to --cert-out for `run --cacert`.
    #[arg(long, requires = "serve")]
    pub tls: bool,

    /// Where --tls writes the server's certificate (PEM).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "demo-cert.pem",
        requires = "tls"
    )]
    pub cert_out: PathBuf,

    /// Seed of the simulated latencies and cold starts (same seed, same behaviour).
    #[arg(long, default_value_t = 2016)]
    pub seed: u64,

    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{e}: expected a duration like 250ms, 5s, 1m30s or 2h"))
}

/// `I/N` with 0 ≤ I < N.
fn parse_shard(text: &str) -> Result<Share, String> {
    let form = "write I/N with 0 <= I < N, e.g. 0/3";
    let (index, of) = text
        .split_once('/')
        .ok_or_else(|| format!("no `/`: {form}"))?;
    match (index.trim().parse::<u32>(), of.trim().parse::<u32>()) {
        (Ok(index), Ok(of)) if index < of => Ok(Share { index, of }),
        _ => Err(form.to_owned()),
    }
}

/// `500`, `500/s`, `30000/m` or `10/h`, as requests per second.
fn parse_rate(text: &str) -> Result<f64, String> {
    let (count, per) = match text.split_once('/') {
        Some((count, unit)) => (count, unit),
        None => (text, "s"),
    };
    let seconds = match per {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        other => {
            return Err(format!(
                "unknown unit `/{other}`: write 500, 500/s, 30000/m or 10/h"
            ));
        }
    };
    match count.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(n / seconds),
        _ => Err(format!(
            "`{count}` is not a positive number: write 500, 500/s, 30000/m or 10/h"
        )),
    }
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err("must be greater than zero".to_owned()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_bad_duration_names_the_flag() {
        let err = Cli::try_parse_from(["api-cannon", "run", "http://x/", "--sleep", "5 parsecs"])
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("--sleep"), "{text}");
        assert!(text.contains("expected a duration"), "{text}");
    }

    #[test]
    fn rates_read_per_second_per_minute_and_per_hour() {
        assert_eq!(parse_rate("500"), Ok(500.0));
        assert_eq!(parse_rate("500/s"), Ok(500.0));
        assert_eq!(parse_rate("30000/m"), Ok(500.0));
        assert_eq!(parse_rate("7200/h"), Ok(2.0));
        assert!(
            parse_rate("0").is_err() && parse_rate("5/d").is_err() && parse_rate("x/s").is_err()
        );
    }

    #[test]
    fn open_schedules_exclude_sleep_and_each_other() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from([&["api-cannon", "run", "http://x/"], args].concat())
        };
        assert!(parse(&["--rate", "10", "--sleep", "1s"]).is_err());
        assert!(parse(&["--rate", "10", "--every", "1s"]).is_err());
        assert!(parse(&["--ramp-up", "5s"]).is_err());
        assert!(parse(&["--rate", "10", "--ramp-up", "5s", "-z", "10s"]).is_ok());
    }

    #[test]
    fn targets_and_urls_are_mutually_exclusive() {
        // Neither parses: `run` itself says what it needs (tests/first_use.rs).
        assert!(Cli::try_parse_from(["api-cannon", "run"]).is_ok());
        assert!(
            Cli::try_parse_from(["api-cannon", "run", "--targets", "t.toml", "http://x/"]).is_err()
        );
        assert!(Cli::try_parse_from(["api-cannon", "run", "--targets", "t.toml"]).is_ok());
    }

    /// Example lines must survive an 80-column terminal unwrapped, or copying one breaks
    /// it; prose paragraphs are single lines that clap wraps itself.
    #[test]
    fn example_lines_fit_80_columns() {
        let top = <super::Cli as clap::CommandFactory>::command();
        for command in std::iter::once(&top).chain(top.get_subcommands()) {
            let Some(help) = command.get_after_help() else {
                continue;
            };
            for line in help.to_string().lines().filter(|l| l.starts_with("  ")) {
                assert!(line.chars().count() <= 80, "{}: {line}", command.get_name());
            }
        }
    }
}
