//! The commands: turns parsed arguments into a plan, drives the engine (signals, progress,
//! checkpoints), and writes the results. `main` only maps what this returns to an exit code.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cli::{
    Cli, Command, CompareArgs, CompareFormat, DemoArgs, LoadArgs, MergeArgs, OutputArgs,
    ReportArgs, RunArgs,
};
use crate::client::{ProxyRules, RequestTemplate, TlsConfigError, TlsOptions, client_config_for};
use crate::demo::{DemoServer, slipspace_targets};
use crate::export::{Destination, WriteError, json, junit, markdown, report, summary};
use crate::plan::{Open, Plan, RunSpec};
use crate::results::Results;
use crate::targets::{Target, TargetsError};
use crate::thresholds::Threshold;

mod coordinator;
mod dry_run;
pub mod files;
pub mod signals;

/// A failure that ends the program, with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Bad targets file or URL arguments.
    #[error(transparent)]
    Targets(Box<TargetsError>),
    /// Bad TLS settings.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// A target that cannot be prepared for sending.
    #[error("target `{name}`: {problem}")]
    Target {
        /// The target's name.
        name: String,
        /// What is wrong.
        problem: String,
    },
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

impl From<TargetsError> for AppError {
    /// Boxed: a targets error carries places and names, and would make every `Result` of
    /// the app as large.
    fn from(error: TargetsError) -> AppError {
        AppError::Targets(Box::new(error))
    }
}

impl AppError {
    /// 2 for anything caught before a request was sent; 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Targets(_)
            | AppError::Tls(_)
            | AppError::Target { .. }
            | AppError::OutputUnwritable(_) => 2,
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

fn file_label(path: &std::path::Path) -> String {
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
    check_named_endpoints(&names, &args.thresholds)?;
    for warning in &merged.warnings {
        crate::say!("api-cannon merge: warning: {warning}");
    }
    Destination::from_arg(Some(&args.output), SystemTime::now())
        .write(&json::render(&merged.results))?;
    let reports = Reports {
        junit: args.junit.map(Destination::File),
        markdown: args.markdown.map(Destination::File),
        html: None,
    };
    reports.write(&merged.results)?;
    // The merge is the gate of a sharded run: its verdicts are shown, not only stored.
    let lines = summary::threshold_lines(&merged.results, false);
    if !lines.is_empty() {
        crate::say!("{}", lines.trim_end());
    }
    let failed = merged.results.thresholds.iter().any(|t| !t.passed);
    Ok(u8::from(failed))
}

fn run(args: RunArgs) -> Result<u8, AppError> {
    let timeout = args.load.timeout;
    let mut targets = match &args.targets {
        Some(path) => {
            let lookup = |name: &str| std::env::var(name).ok();
            crate::targets::load_file(path, timeout, &lookup)?
        }
        None => crate::targets::from_urls(&args.urls, timeout)?,
    };
    for target in &mut targets {
        target.insecure |= args.load.insecure;
    }
    fire(targets, &args.load, &args.output, args.dry_run)
}

fn demo(args: DemoArgs) -> Result<u8, AppError> {
    let port = if args.serve { args.port } else { 0 };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let server = match args.tls {
        true => {
            let (server, pem) = DemoServer::start_tls(addr, args.seed)
                .map_err(|source| AppError::Demo { addr, source })?;
            Destination::File(args.cert_out.clone()).write(pem.as_bytes())?;
            crate::say!(
                "api-cannon demo: its certificate is in {}: trust it with --cacert {}",
                args.cert_out.display(),
                args.cert_out.display()
            );
            server
        }
        false => {
            DemoServer::start(addr, args.seed).map_err(|source| AppError::Demo { addr, source })?
        }
    };
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
    let load = LoadArgs {
        iterations: Some(30),
        concurrency: 3,
        sleep: Duration::from_millis(100),
        duration: None,
        timeout: Duration::from_secs(10),
        fresh_connections: false,
        cacert: Vec::new(),
        insecure: false,
        cert: None,
        key: None,
        connect_to: Vec::new(),
        compressed: false,
        follow_redirects: 0,
        http2: false,
        http1: false,
        use_env_proxy: false,
        threads: None,
        rate: None,
        every: None,
        ramp_up: None,
        max_connections: 1_000,
        shard: None,
    };
    if !args.output.quiet {
        crate::say!(
            "api-cannon demo: firing 30 iterations × 3 requests, 100 ms apart, at the simulated Slipspace API on {}",
            server.base_url()
        );
    }
    fire(
        slipspace_targets(&server.base_url(), load.timeout),
        &load,
        &args.output,
        false,
    )
}

/// Everything checked; fires the run (or, with `dry_run`, describes it) and writes its results.
fn fire(
    targets: Vec<Target>,
    load: &LoadArgs,
    output: &OutputArgs,
    dry_run: bool,
) -> Result<u8, AppError> {
    let templates = templates(&targets, load)?;
    let thresholds = all_thresholds(&targets, &output.thresholds)?;
    let started = SystemTime::now();
    let mut destination = Destination::from_arg(output.output.as_deref(), started);
    let reports = Reports::new(output);
    for d in std::iter::once(&destination).chain(reports.destinations()) {
        d.check_writable().map_err(AppError::OutputUnwritable)?;
    }
    let plan = Plan::new(targets, run_spec(load)?);
    if dry_run {
        print!("{}", dry_run::describe(&plan, &thresholds, &destination));
        return Ok(0);
    }
    if output.output.is_none() {
        let reserved = crate::export::reserve_default_path(started);
        destination = Destination::File(reserved.map_err(AppError::OutputUnwritable)?);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let settings = coordinator::Settings {
        timeout: load.timeout,
        checkpoint: output.checkpoint,
        quiet: output.quiet,
        destination: &destination,
        thresholds: &thresholds,
        fail_fast: output.fail_fast,
        reports: &reports,
    };
    let ended = match runtime.block_on(coordinator::coordinate(&plan, templates, &settings)) {
        Ok(ended) => ended,
        Err(error) => {
            // Leave no empty reserved file behind for merge to trip over.
            if let (None, Destination::File(path)) = (&output.output, &destination)
                && std::fs::metadata(path).is_ok_and(|m| m.len() == 0)
            {
                let _ = std::fs::remove_file(path);
            }
            return Err(error);
        }
    };
    // Results first: whatever happens to the terminal afterwards, they are safe. If their
    // file cannot be written now (its folder went away, the disk filled), a run's worth of
    // figures still goes somewhere, and the exit code says something went wrong.
    let rendered = json::render(&ended.results);
    let (destination, unwritten) = match destination.write(&rendered) {
        Ok(()) => (destination, None),
        Err(error) => {
            let stamp = started
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let fallback = std::env::temp_dir()
                .join(format!("api-cannon-{stamp}-{}.json", std::process::id()));
            let rescue = Destination::File(fallback.clone());
            rescue.write(&rendered)?;
            crate::say!(
                "api-cannon: {error}; the results were written to {} instead",
                fallback.display()
            );
            (rescue, Some(error))
        }
    };
    reports.write(&ended.results)?;
    if !output.quiet {
        crate::say!("{}", summary::render(&ended.results).trim_end());
        match &destination {
            Destination::File(path) => crate::say!("results: {}", path.display()),
            Destination::Stdout => {}
        }
    } else {
        // Quiet, but a gate that fails says why.
        let failed = summary::threshold_lines(&ended.results, true);
        if !failed.is_empty() {
            crate::say!("{}", failed.trim_end());
        }
    }
    if let Some(error) = unwritten {
        return Err(AppError::Write(error));
    }
    // A --fail-fast stop is a failure even if the final figures happen to pass.
    let failed = ended.results.thresholds.iter().any(|t| !t.passed)
        || ended.results.run.stopped_by.as_deref() == Some("threshold");
    Ok(match ended.signal {
        Some(signal) => signal.exit_code(),
        None if failed => 1,
        None => 0,
    })
}

/// One prepared request per target, each https target with its TLS configuration: built
/// once, verifying unless the target (or `--insecure`) says otherwise. TLS files given on
/// the command line are checked even when no target needs them.
fn templates(targets: &[Target], load: &LoadArgs) -> Result<Vec<Arc<RequestTemplate>>, AppError> {
    let options = TlsOptions {
        extra_roots: load.cacert.clone(),
        client_auth: load.cert.clone().zip(load.key.clone()),
    };
    let https = |insecure: bool| {
        targets
            .iter()
            .any(|t| t.url.scheme_str() == Some("https") && t.insecure == insecure)
    };
    let given = !options.extra_roots.is_empty() || options.client_auth.is_some();
    // A redirect may lead from http:// to https://: keep a configuration ready for each
    // target that may follow one, verifying or not as the target says.
    let redirects = |insecure: bool| {
        targets.iter().any(|t| {
            t.insecure == insecure && t.follow_redirects.unwrap_or(load.follow_redirects) > 0
        })
    };
    let verified = if https(false) || given || redirects(false) {
        Some(client_config_for(&options, false, load.http2)?)
    } else {
        None
    };
    let insecure = if https(true) || redirects(true) {
        Some(client_config_for(&options, true, load.http2)?)
    } else {
        None
    };
    // Proxies only when asked: a stray HTTP_PROXY must never reroute a benchmark.
    let proxy_rules = match load.use_env_proxy {
        true => Some(Arc::new(
            ProxyRules::from_env(&|name| std::env::var(name).ok()).map_err(AppError::Usage)?,
        )),
        false => None,
    };
    targets
        .iter()
        .map(|t| {
            let tls = if t.insecure {
                insecure.clone()
            } else {
                verified.clone()
            };
            if load.http2 && t.headers.contains_key(http::header::HOST) {
                return Err(AppError::Target {
                    name: t.name.clone(),
                    problem: "a Host header cannot go with --http2, which names the host in :authority from the URL: \
                              put the host in the URL and aim it at an address with --connect-to HOST:PORT:ADDRESS:PORT"
                        .to_owned(),
                });
            }

            RequestTemplate::new(t)
                .map(|template| {
                    let template = template
                        .with_tls(tls)
                        .with_connect_to(&load.connect_to)
                        .with_compression(load.compressed)
                        .with_redirects(t.follow_redirects.unwrap_or(load.follow_redirects))
                        .with_http2(load.http2)
                        .with_proxy_rules(proxy_rules.clone());
                    Arc::new(template)
                })
                .map_err(|problem| AppError::Target {
                    name: t.name.clone(),
                    problem,
                })
        })
        .collect()
}

/// The targets file's thresholds and the command line's, with every endpoint a command-line
/// threshold names checked against the targets.
fn all_thresholds(targets: &[Target], cli: &[Threshold]) -> Result<Vec<Threshold>, AppError> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    check_named_endpoints(&names, cli)?;
    Ok(targets
        .iter()
        .flat_map(|t| t.thresholds.iter().cloned())
        .chain(cli.iter().cloned())
        .collect())
}

/// Every endpoint a `--threshold` names must exist: a typo would otherwise be a gate that
/// judges nothing and passes.
fn check_named_endpoints(names: &[&str], cli: &[Threshold]) -> Result<(), AppError> {
    for threshold in cli {
        if let Some(name) = &threshold.endpoint
            && !names.contains(&name.as_str())
        {
            return Err(AppError::Usage(format!(
                "--threshold '{threshold}' names endpoint `{name}`, which is not one; the endpoints are: {}",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// The extra report files (`--junit`, `--markdown`), written after the results.
pub(crate) struct Reports {
    junit: Option<Destination>,
    markdown: Option<Destination>,
    html: Option<Destination>,
}

impl Reports {
    fn new(output: &OutputArgs) -> Reports {
        Reports {
            junit: output.junit.clone().map(Destination::File),
            markdown: output.markdown.clone().map(Destination::File),
            html: output.report.clone().map(Destination::File),
        }
    }

    fn destinations(&self) -> impl Iterator<Item = &Destination> {
        self.junit.iter().chain(&self.markdown).chain(&self.html)
    }

    fn write(&self, results: &Results) -> Result<(), AppError> {
        if let Some(d) = &self.junit {
            d.write(&junit::render(results))?;
        }
        if let Some(d) = &self.markdown {
            d.write(&markdown::render(results))?;
        }
        self.write_html(results)
    }

    /// The HTML report alone: also rewritten at every checkpoint, so a long run can be
    /// followed by reloading the page.
    pub(crate) fn write_html(&self, results: &Results) -> Result<(), AppError> {
        if let Some(d) = &self.html {
            d.write(&report::render(&[report::Labeled {
                label: "run".to_owned(),
                results,
            }]))?;
        }
        Ok(())
    }
}

fn run_spec(load: &LoadArgs) -> Result<RunSpec, AppError> {
    let open = match (load.rate, load.every) {
        (Some(per_second), _) => Some(Open::Rate {
            per_second,
            ramp_up: load.ramp_up.unwrap_or_default(),
        }),
        (None, Some(period)) => Some(Open::Every { period }),
        (None, None) => None,
    };
    if let Some(shard) = load.shard
        && !matches!(open, Some(Open::Rate { .. }))
        && crate::plan::shard_lanes(load.concurrency, shard).is_empty()
    {
        return Err(AppError::Usage(format!(
            "--shard {}/{} gets no lane: -c {} gives each endpoint {} lane(s) to share among {} shards; \
             use -c {} or more, or fewer shards",
            shard.index, shard.of, load.concurrency, load.concurrency, shard.of, shard.of
        )));
    }
    if open.is_some() && load.iterations.is_none() && load.duration.is_none() {
        return Err(AppError::Usage(
            "--rate and --every need --duration or --iterations to know when to stop".to_owned(),
        ));
    }
    Ok(RunSpec {
        iterations: load.iterations,
        concurrency: load.concurrency,
        sleep: load.sleep,
        duration: load.duration,
        fresh_connections: load.fresh_connections,
        threads: load.threads.map_or_else(default_threads, |n| n.get()),
        open,
        max_connections: load.max_connections,
        shard: load.shard,
    })
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
