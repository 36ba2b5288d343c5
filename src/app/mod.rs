//! The commands: turns parsed arguments into a plan, drives the engine (signals, progress,
//! checkpoints), and writes the results. `main` only maps what this returns to an exit code.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cli::{
    Cli, Command, CompareArgs, CompareFormat, DemoArgs, MergeArgs, OutputArgs, ReportArgs, RunArgs,
};
use crate::demo::{DemoServer, slipspace_targets};
use crate::export::{
    Destination, Exporter as _, Json, Junit, Markdown, Outputs, Report, Summary, WriteError, report,
};
use crate::outcome::StopReason;
use crate::plan::LoadSpec;
use crate::prepare::{ClientOptions, PrepareError, RunSpec, Targets, prepare};
use crate::results::Results;

mod clash;
mod dry_run;
pub mod files;
mod init;
mod inspect;
mod terminal;

/// A failure that ends the program, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A run that cannot be prepared: bad targets, TLS files, options or thresholds.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// The results file cannot be written (before the run: nothing was sent).
    #[error("{0} (nothing was sent)")]
    OutputUnwritable(WriteError),
    /// The results could not be written after the run.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// The demo server could not start.
    #[error("cannot start the demo API on {addr}: {source}")]
    Demo {
        /// Where it tried to listen.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A results file that cannot be read.
    #[error(transparent)]
    Read(#[from] files::ReadError),
    /// Results files that cannot be merged.
    #[error(transparent)]
    Merge(#[from] crate::merge::MergeError),
    /// Options that parse but do not fit together.
    #[error("{0}")]
    Usage(String),
    /// Threads, runtimes or signal handlers could not be set up.
    #[error("cannot start the run: {0}")]
    Runtime(#[from] std::io::Error),
}

impl AppError {
    /// 2 for anything caught before a request was sent; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Prepare(_) | AppError::OutputUnwritable(_) => 2,
            AppError::Demo { .. } | AppError::Usage(_) => 2,
            AppError::Read(_) | AppError::Merge(_) => 2,
            AppError::Write(_) | AppError::Runtime(_) => 1,
        }
    }
}

/// Runs the command line's command; returns the exit code of a run that went through.
pub fn execute(cli: Cli) -> Result<u8, AppError> {
    match cli.command {
        Command::Run(args) => run(*args),
        Command::Demo(args) => demo(args),
        Command::Merge(args) => merge(args),
        Command::Compare(args) => compare(args),
        Command::Report(args) => report(args),
        Command::Init {
            urls,
            output,
            force,
        } => init::init(&urls, &output, force),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "api-cannon", &mut script);
            if shell == clap_complete::Shell::Bash {
                script = bash_completion_fixed(&script);
            }
            print_ignoring_closed_stdout(&script);
            Ok(0)
        }
        Command::Man { command } => {
            let top = <Cli as clap::CommandFactory>::command();
            let page_of = match command {
                None => top,
                Some(name) => {
                    let names: Vec<String> = top
                        .get_subcommands()
                        .map(|c| c.get_name().to_owned())
                        .filter(|n| n != "help")
                        .collect();
                    let Some(sub) = top.find_subcommand(&name).filter(|_| name != "help") else {
                        return Err(AppError::Usage(format!(
                            "man: no command `{name}`: pick one of {}",
                            names.join(", ")
                        )));
                    };
                    sub.clone().name(format!("api-cannon-{name}"))
                }
            };
            let mut page = Vec::new();
            clap_mangen::Man::new(page_of).render(&mut page)?;
            print_ignoring_closed_stdout(&page);
            Ok(0)
        }
    }
}

/// clap_complete names a hyphenated program's subcommand states two ways in its bash
/// script (`api__cannon__subcmd__run` where it sets them, `api__subcmd__cannon__subcmd__run`
/// where it matches them; clap-rs/clap#6421), so no option of a subcommand ever completed.
/// One spelling makes them meet.
fn bash_completion_fixed(script: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(script)
        .replace("api__subcmd__cannon__subcmd__", "api__cannon__subcmd__")
        .replace("api__subcmd__cannon)", "api__cannon)")
        .into_bytes()
}

/// Generated text for a pipe (`| head`, `> file`): a reader that stops early is not an error.
fn print_ignoring_closed_stdout(bytes: &[u8]) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
}

fn report(args: ReportArgs) -> Result<u8, AppError> {
    if args.labels.len() > args.files.len() {
        return Err(AppError::Usage(format!(
            "{} --label given for {} files",
            args.labels.len(),
            args.files.len()
        )));
    }
    let results = args
        .files
        .iter()
        .map(|path| files::read_results(path))
        .collect::<Result<Vec<_>, _>>()?;
    let labeled: Vec<report::Labeled<'_>> = results
        .iter()
        .zip(&args.files)
        .enumerate()
        .map(|(i, (results, path))| report::Labeled {
            label: args
                .labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| file_label(path)),
            results,
        })
        .collect();
    Destination::File(args.output.clone()).write(&report::render(&labeled))?;
    crate::say!("report: {}", args.output.display());
    Ok(0)
}

fn file_label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn compare(args: CompareArgs) -> Result<u8, AppError> {
    let baseline = files::read_results(&args.baseline)?;
    let current = files::read_results(&args.current)?;
    let comparison = crate::compare::compare(&baseline, &current, args.tolerance);
    if comparison.endpoints.is_empty() {
        let names = |r: &crate::results::Results| {
            r.endpoints
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(AppError::Usage(format!(
            "nothing to compare: {} and {} share no endpoint name (baseline: {}; current: {})",
            args.baseline.display(),
            args.current.display(),
            names(&baseline),
            names(&current)
        )));
    }
    let text = match args.format {
        CompareFormat::Text => crate::compare::render::text(&comparison),
        CompareFormat::Json => crate::compare::render::json(&comparison),
        CompareFormat::Markdown => crate::compare::render::markdown(&comparison),
    };
    print_ignoring_closed_stdout(text.as_bytes());
    Ok(u8::from(comparison.regressed))
}

fn merge(args: MergeArgs) -> Result<u8, AppError> {
    let written = [
        ("--output", Some(args.output.as_path())),
        ("--junit", args.junit.as_deref()),
        ("--markdown", args.markdown.as_deref()),
    ];
    clash::check_distinct(&written).map_err(AppError::Usage)?;
    let inputs = args
        .files
        .iter()
        .map(|path| {
            files::read_results(path).map(|results| crate::merge::Input {
                label: path.display().to_string(),
                results,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let merged = crate::merge::merge(&inputs, args.union, &args.thresholds)?;
    let names: Vec<&str> = merged
        .results
        .endpoints
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    crate::prepare::check_named_endpoints(&names, &args.thresholds).map_err(AppError::Usage)?;
    for warning in &merged.warnings {
        crate::say!("api-cannon merge: warning: {warning}");
    }
    Destination::from_arg(Some(&args.output), SystemTime::now())
        .write(&Json.render(&merged.results))?;
    let mut outputs = Outputs::default();
    outputs
        .add(Junit, args.junit.as_deref(), false)
        .add(Markdown, args.markdown.as_deref(), false);
    outputs.write(&merged.results)?;
    let totals = &merged.results.totals;
    let into = match args.output.as_os_str() == "-" {
        true => String::new(),
        false => format!(" into {}", args.output.display()),
    };
    crate::say!(
        "api-cannon merge: {} files, {} endpoints, {} requests{into}",
        inputs.len(),
        merged.results.endpoints.len(),
        totals.requests
    );
    for (flag, path) in [("junit", &args.junit), ("markdown", &args.markdown)] {
        if let Some(path) = path {
            crate::say!("{flag}: {}", path.display());
        }
    }
    // The merge is the gate of a sharded run: its verdicts are shown, not only stored.
    let lines = crate::export::summary::threshold_lines(&merged.results, false);
    if !lines.is_empty() {
        crate::say!("{}", lines.trim_end());
    }
    let failed = merged.results.thresholds.iter().any(|t| !t.passed);
    Ok(u8::from(failed))
}

fn run(args: RunArgs) -> Result<u8, AppError> {
    if args.urls.is_empty() && args.targets.is_none() {
        return Err(AppError::Usage(
            "run needs something to fire at: URLs (api-cannon run http://127.0.0.1:8787/hello \
             -n 100 -c 5) or a targets file (--targets targets.toml; `api-cannon init URL` \
             writes one). See api-cannon run --help"
                .to_owned(),
        ));
    }
    if args.inspect {
        clash::check_distinct(&clash::run_files(&args.output)).map_err(AppError::Usage)?;
        return inspect::inspect(&prepare(args.run_spec())?);
    }
    fire(args.run_spec(), &args.output, args.dry_run).map(|fired| fired.code)
}

fn demo(args: DemoArgs) -> Result<u8, AppError> {
    let port = if args.serve { args.port } else { 0 };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let server = start_demo(&args, addr)?;
    if args.serve {
        crate::say!(
            "api-cannon demo: the Slipspace API is serving on {} (Ctrl-C stops it)",
            server.base_url()
        );
        for profile in crate::demo::model::SLIPSPACE {
            crate::say!("  {}/slipspace/{}", server.base_url(), profile.name);
        }
        server.wait_for_signal()?;
        return Ok(0);
    }
    if !args.output.quiet {
        crate::say!(
            "api-cannon demo: firing 30 iterations × 3 requests, 100 ms apart, at the simulated Slipspace API on {}",
            server.base_url()
        );
    }
    let timeout = Duration::from_secs(10);
    let spec = RunSpec {
        load: LoadSpec {
            iterations: Some(30),
            concurrency: 3,
            sleep: Duration::from_millis(100),
            threads: crate::plan::available_threads(),
            ..LoadSpec::default()
        },
        client: ClientOptions {
            timeout,
            ..ClientOptions::default()
        },
        ..RunSpec::new(Targets::Given(slipspace_targets(
            &server.base_url(),
            timeout,
        )))
    };
    let fired = fire(args.output.with_gates(spec), &args.output, false)?;
    if !args.output.quiet {
        let report = match (&args.output.report, &fired.results_file) {
            (Some(path), _) => format!("open {} in a browser", path.display()),
            (None, Some(file)) => format!(
                "see it in charts: api-cannon report {} -o report.html",
                file.display()
            ),
            (None, None) => "see it in charts: add --report report.html".to_owned(),
        };
        crate::say!("next: {report}");
        crate::say!("next: point it at your API: api-cannon init https://YOUR-API/health");
    }
    Ok(fired.code)
}

/// The demo API on `addr`, over TLS with a certificate written for `--cacert` when asked.
fn start_demo(args: &DemoArgs, addr: SocketAddr) -> Result<DemoServer, AppError> {
    let failed = |source| AppError::Demo { addr, source };
    if !args.tls {
        return DemoServer::start(addr, args.seed).map_err(failed);
    }
    let (server, pem) = DemoServer::start_tls(addr, args.seed).map_err(failed)?;
    Destination::File(args.cert_out.clone()).write(pem.as_bytes())?;
    crate::say!(
        "api-cannon demo: its certificate is in {}: trust it with --cacert {}",
        args.cert_out.display(),
        args.cert_out.display()
    );
    Ok(server)
}

/// What a run left: its exit code and the results file it wrote (not for stdout).
struct Fired {
    code: u8,
    results_file: Option<std::path::PathBuf>,
}

/// Prepares `spec` and fires it (or, with `dry_run`, describes it), then writes its results.
fn fire(spec: RunSpec, output: &OutputArgs, dry_run: bool) -> Result<Fired, AppError> {
    // Before prepare, which creates the request log: a clash must not truncate anything.
    clash::check_distinct(&clash::run_files(output)).map_err(AppError::Usage)?;
    raise_open_file_limit();
    let prepared = prepare(spec)?;
    let started = SystemTime::now();
    let mut destination = Destination::from_arg(output.output.as_deref(), started);
    let outputs = outputs(output);
    for d in std::iter::once(&destination).chain(outputs.destinations()) {
        d.check_writable().map_err(AppError::OutputUnwritable)?;
    }
    if dry_run {
        let described = dry_run::describe(&prepared.plan, &prepared.thresholds, &destination);
        print_ignoring_closed_stdout(described.as_bytes());
        return Ok(Fired {
            code: 0,
            results_file: None,
        });
    }
    let metrics = match output.metrics_listen {
        Some(address) => Some(serve_metrics(address)?),
        None => None,
    };
    if output.output.is_none() {
        let reserved = crate::export::reserve_default_path(started);
        destination = Destination::File(reserved.map_err(AppError::OutputUnwritable)?);
    }
    let mut terminal =
        terminal::Terminal::new(output.quiet, &prepared.plan, &destination, &outputs)
            .with_metrics(metrics.as_ref());
    let results = match crate::run::run(&prepared, &mut terminal) {
        Ok(results) => results,
        Err(error) => {
            // Leave no empty reserved file behind for merge to trip over.
            if let (None, Destination::File(path)) = (&output.output, &destination)
                && std::fs::metadata(path).is_ok_and(|m| m.len() == 0)
            {
                let _ = std::fs::remove_file(path);
            }
            return Err(AppError::Runtime(error));
        }
    };
    let signal = terminal.first_signal();
    let (unwritten, results_file) =
        deliver(&results, destination, &outputs, output.quiet, started)?;
    if let Some(metrics) = &metrics {
        linger(metrics, &results, output.metrics_linger);
    }
    if let Some(error) = unwritten {
        return Err(AppError::Write(error));
    }
    Ok(Fired {
        code: exit_code(&results, signal, output.allow_failures),
        results_file,
    })
}

/// The metrics endpoint on `address`, bound before anything is sent: an address in use or
/// not this machine's is a usage error. Says where it listens (port 0 picks one).
fn serve_metrics(address: SocketAddr) -> Result<crate::metrics::MetricsServer, AppError> {
    let server = crate::metrics::MetricsServer::bind(address).map_err(|e| {
        AppError::Usage(format!(
            "--metrics-listen {address}: cannot listen there: {e}"
        ))
    })?;
    crate::say!("metrics: http://{}/metrics", server.address());
    Ok(server)
}

/// Serves the final `results` `linger` longer, for a last scrape; Ctrl-C or SIGTERM ends
/// it.
fn linger(metrics: &crate::metrics::MetricsServer, results: &Results, linger: Duration) {
    metrics.publish(crate::metrics::Snapshot {
        results: results.clone(),
        in_flight: vec![0; results.endpoints.len()],
    });
    if linger.is_zero() {
        return;
    }
    crate::say!(
        "metrics: serving the final figures at http://{}/metrics for {} more",
        metrics.address(),
        humantime::format_duration(linger)
    );
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        let Ok(mut signals) = crate::signals::Signals::new() else {
            return tokio::time::sleep(linger).await;
        };
        tokio::select! {
            () = tokio::time::sleep(linger) => {}
            _ = signals.next() => {}
        }
    });
}

/// Raises the soft limit on open files to the hard limit, as wrk-style tools do: every lane
/// holds a connection, and a default soft limit of 1,024 would make lanes beyond it fail
/// locally. What the hard limit still refuses is counted as `local` errors, and said.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// 0 finished and every threshold held; 1 a threshold failed (or `--fail-fast` stopped the
/// run, even if the final figures happen to pass) or, unless `allow_failures`, an endpoint
/// got no ok response at all; 130 / 143 stopped by a signal.
fn exit_code(
    results: &Results,
    signal: Option<crate::signals::Signal>,
    allow_failures: bool,
) -> u8 {
    let stopped_by = results.run.stopped_by.as_deref();
    let dead = crate::export::failures::failed_endpoints(results)
        .next()
        .is_some();
    let failed = results.thresholds.iter().any(|t| !t.passed)
        || stopped_by == Some(StopReason::Threshold.as_str())
        || (dead && !allow_failures);
    match signal.filter(|_| stopped_by == Some(StopReason::Signal.as_str())) {
        Some(signal) => signal.exit_code(),
        None => u8::from(failed),
    }
}

/// The report files a run or merge writes besides its results; the HTML report is
/// rewritten at every checkpoint too, so a long run can be followed by reloading the page.
fn outputs(output: &OutputArgs) -> Outputs {
    let mut outputs = Outputs::default();
    outputs
        .add(Junit, output.junit.as_deref(), false)
        .add(Markdown, output.markdown.as_deref(), false)
        .add(Report, output.report.as_deref(), true);
    outputs
}

/// Writes the results, then the reports, then shows the summary. Results first: whatever
/// happens to the terminal afterwards, they are safe. If their file cannot be written now
/// (its folder went away, the disk filled), a run's worth of figures still goes to a file in
/// the temporary folder, and the error comes back for the exit code.
fn deliver(
    results: &Results,
    destination: Destination,
    outputs: &Outputs,
    quiet: bool,
    started: SystemTime,
) -> Result<(Option<WriteError>, Option<std::path::PathBuf>), AppError> {
    let rendered = Json.render(results);
    let (destination, unwritten) = match destination.write(&rendered) {
        Ok(()) => (destination, None),
        Err(error) => {
            let rescue = Destination::File(fallback_path(started));
            rescue.write(&rendered)?;
            if let Destination::File(path) = &rescue {
                crate::say!(
                    "api-cannon: {error}; the results were written to {} instead",
                    path.display()
                );
            }
            (rescue, Some(error))
        }
    };
    outputs.write(results)?;
    if !quiet {
        crate::say!(
            "{}",
            String::from_utf8_lossy(
                &Summary {
                    width: terminal::width()
                }
                .render(results)
            )
            .trim_end()
        );
        if let Destination::File(path) = &destination {
            crate::say!("results: {}", path.display());
        }
    } else {
        // Quiet, but a gate that fails, or an endpoint that never worked, says why.
        let failed = crate::export::summary::threshold_lines(results, true)
            + &crate::export::failures::failure_lines(results);
        if !failed.is_empty() {
            crate::say!("{}", failed.trim_end());
        }
    }
    let file = match destination {
        Destination::File(path) => Some(path),
        _ => None,
    };
    Ok((unwritten, file))
}

fn fallback_path(started: SystemTime) -> std::path::PathBuf {
    let stamp = started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    std::env::temp_dir().join(format!("api-cannon-{stamp}-{}.json", std::process::id()))
}
