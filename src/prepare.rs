//! From what the user asked for to a run ready to fire: the targets loaded, every request
//! template built with its TLS, proxy and redirect set-up, the lanes laid out, and the
//! thresholds checked against the endpoints. Every check that can fail on user input happens
//! here, so a bad file, flag or certificate is reported before anything is sent.
//!
//! This is the library's way in: [`prepare`] a [`RunSpec`], then [`crate::run`] the
//! [`Prepared`] run. The command line builds its `RunSpec` from flags (`cli`); a program
//! builds one by hand (examples/library.rs).

use crate::client::{CredentialSource, TokenSource};
use crate::request_log::RequestLog;
use crate::server_time::{RequestIdSource, TimeSource};
use crate::targets::{SigV4Scope, TokenCommand};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{
    ConnectTo, ProxyRules, RequestTemplate, TlsConfigError, TlsOptions, client_config_for,
};
use crate::plan::{LoadSpec, Open, Plan};
use crate::targets::{Target, TargetsError};
use crate::thresholds::Threshold;

/// Where the targets come from.
#[derive(Debug, Clone)]
pub enum Targets {
    /// A targets file (TOML); `${VAR}` references read the process environment.
    File(PathBuf),
    /// URL arguments, each a GET target named by its host and path.
    Urls(Vec<String>),
    /// Targets built by the caller (the demo's, or a program's own).
    Given(Vec<Target>),
}

/// How requests go out, for every target.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per-request timeout where a target sets none.
    pub timeout: Duration,
    /// Extra trusted roots and a client certificate (`--cacert`, `--cert`, `--key`).
    pub tls: TlsOptions,
    /// Verify no certificate, for every target (`--insecure`).
    pub insecure: bool,
    /// Send a host's connections to another address (`--connect-to`).
    pub connect_to: Vec<ConnectTo>,
    /// Ask for compressed responses (`--compressed`).
    pub compressed: bool,
    /// Redirects to follow where a target says nothing (`--follow-redirects`).
    pub follow_redirects: u32,
    /// HTTP/2 for every connection (`--http2`).
    pub http2: bool,
    /// Route through `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY` (`--use-env-proxy`).
    pub use_env_proxy: bool,
    /// The server's time where a target names no source (`--server-time`).
    pub server_time: Option<TimeSource>,
    /// The request-ID header where a target names none (`--request-id-header`).
    pub request_id: Option<RequestIdSource>,
    /// Sign requests with AWS SigV4 where a target says nothing of it (`--aws-sigv4`).
    pub aws_sigv4: Option<SigV4Scope>,
    /// The shared-credentials profile to sign with (`--aws-profile`; else `AWS_PROFILE`).
    pub aws_profile: Option<String>,
    /// `-H`, `-m`, `-d`, `--content-type` as written (`-d @FILE` is read when prepared).
    pub request: RequestFlags,
    /// Keep every response's headers and body (`--inspect` shows them).
    pub keep_responses: bool,
}

/// The curl-style request flags as written: the request of URL arguments, the lowest
/// defaults of a targets file.
#[derive(Debug, Clone, Default)]
pub struct RequestFlags {
    /// `-H 'Name: value'`, repeatable.
    pub headers: Vec<String>,
    /// `-m METHOD`.
    pub method: Option<String>,
    /// `-d TEXT` or `-d @FILE`.
    pub body: Option<String>,
    /// `--content-type TYPE`.
    pub content_type: Option<String>,
}

impl Default for ClientOptions {
    /// The command line's defaults: 30 s timeout, verified TLS, HTTP/1.1, no proxy, no
    /// redirects.
    fn default() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(30),
            tls: TlsOptions::default(),
            insecure: false,
            connect_to: Vec::new(),
            compressed: false,
            follow_redirects: 0,
            http2: false,
            use_env_proxy: false,
            server_time: None,
            request_id: None,
            aws_sigv4: None,
            aws_profile: None,
            request: RequestFlags::default(),
            keep_responses: false,
        }
    }
}

/// Everything a run is made of, as asked: no file read, no certificate loaded yet.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The endpoints.
    pub targets: Targets,
    /// Iterations, lanes, schedule, duration, threads.
    pub load: LoadSpec,
    /// How requests go out.
    pub client: ClientOptions,
    /// Thresholds besides the targets' own (`--threshold`).
    pub thresholds: Vec<Threshold>,
    /// Stop the run as soon as a threshold fails (`--fail-fast`).
    pub fail_fast: bool,
    /// How often the run takes a checkpoint (results so far) for an observer that wants
    /// them, and for `fail_fast` to judge the thresholds.
    pub checkpoint_every: Duration,
    /// Log every finished request to this file (`--log-requests`; CSV for `.csv`, NDJSON
    /// otherwise).
    pub log_requests: Option<PathBuf>,
}

impl RunSpec {
    /// A run of `targets` with the command line's defaults otherwise: one iteration of one
    /// lane, 30 s timeout, verified TLS, checkpoints every minute.
    pub fn new(targets: Targets) -> RunSpec {
        RunSpec {
            targets,
            load: LoadSpec::default(),
            client: ClientOptions::default(),
            thresholds: Vec::new(),
            fail_fast: false,
            checkpoint_every: Duration::from_secs(60),
            log_requests: None,
        }
    }
}

/// A run ready to fire: checked, with every request template built once.
#[derive(Debug)]
pub struct Prepared {
    /// The endpoints and their lanes per worker thread.
    pub plan: Plan,
    /// One request template per endpoint, indexed like `plan.targets`.
    pub templates: Vec<Arc<RequestTemplate>>,
    /// The targets' thresholds and the extra ones, each endpoint checked to exist.
    pub thresholds: Vec<Threshold>,
    /// Stop as soon as a threshold fails.
    pub fail_fast: bool,
    /// The checkpoint period.
    pub checkpoint_every: Duration,
    /// The default per-request timeout (written to the results).
    pub timeout: Duration,
    /// The per-request log, created (so a path that cannot be written stops the run
    /// before anything is sent).
    pub request_log: Option<RequestLog>,
}

/// Why a run cannot be prepared. Nothing has been sent.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// A bad targets file or URL argument.
    #[error(transparent)]
    Targets(Box<TargetsError>),
    /// Bad TLS files or settings.
    #[error(transparent)]
    Tls(#[from] TlsConfigError),
    /// A target that cannot be turned into a request.
    #[error("target `{name}`: {problem}")]
    Target {
        /// The target's name.
        name: String,
        /// What is wrong, and how to fix it.
        problem: String,
    },
    /// Options that parse but do not fit together.
    #[error("{0}")]
    Options(String),
}

impl From<TargetsError> for PrepareError {
    /// Boxed: a targets error carries places and names, and would make every `Result` of
    /// the preparation as large.
    fn from(error: TargetsError) -> PrepareError {
        PrepareError::Targets(Box::new(error))
    }
}

/// Loads, checks and sets up everything `spec` names; reads the targets file, certificate
/// files and (with `use_env_proxy`) the proxy variables, and sends nothing.
pub fn prepare(spec: RunSpec) -> Result<Prepared, PrepareError> {
    let flags = &spec.client.request;
    let request = crate::targets::RequestDefaults::from_flags(
        &flags.headers,
        flags.method.as_deref(),
        flags.body.as_deref(),
        flags.content_type.as_deref(),
    )
    .map_err(PrepareError::Options)?;
    let mut targets = load_targets(&spec.targets, spec.client.timeout, &request)?;
    let client = &spec.client;
    for target in targets.iter_mut() {
        target.insecure |= client.insecure;
        if !target.is_whole_flow() {
            let server = &mut target.server;
            server.or_defaults(client.server_time.as_ref(), client.request_id.as_ref());
            target.sigv4 = target.sigv4.take().or_else(|| client.aws_sigv4.clone());
        }
    }
    let templates = templates(&targets, &spec.client)?;
    let thresholds = all_thresholds(&targets, &spec.thresholds)?;
    check_load(&spec.load)?;
    let request_log = match &spec.log_requests {
        Some(path) => Some(RequestLog::create(path).map_err(|e| {
            PrepareError::Options(format!(
                "--log-requests {}: cannot create it: {e}",
                path.display()
            ))
        })?),
        None => None,
    };
    Ok(Prepared {
        plan: Plan::new(targets, spec.load),
        templates,
        thresholds,
        fail_fast: spec.fail_fast,
        checkpoint_every: spec.checkpoint_every,
        timeout: spec.client.timeout,
        request_log,
    })
}

fn load_targets(
    source: &Targets,
    timeout: Duration,
    request: &crate::targets::RequestDefaults,
) -> Result<Vec<Target>, TargetsError> {
    match source {
        Targets::File(path) => {
            let lookup = |name: &str| std::env::var(name).ok();
            crate::targets::load_file_with(path, timeout, &lookup, request)
        }
        Targets::Urls(urls) => crate::targets::from_urls_with(urls, timeout, request),
        Targets::Given(targets) => Ok(targets.clone()),
    }
}

/// Schedule settings that parse one by one but not together.
fn check_load(load: &LoadSpec) -> Result<(), PrepareError> {
    if let Some(shard) = load.shard
        && !matches!(load.open, Some(Open::Rate { .. }))
        && crate::plan::shard_lanes(load.concurrency, shard).is_empty()
    {
        return Err(PrepareError::Options(format!(
            "--shard {}/{} gets no lane: -c {} gives each endpoint {} lane(s) to share among {} shards; \
             use -c {} or more, or fewer shards",
            shard.index, shard.of, load.concurrency, load.concurrency, shard.of, shard.of
        )));
    }
    if load.open.is_some() && load.iterations.is_none() && load.duration.is_none() {
        return Err(PrepareError::Options(
            "--rate and --every need --duration or --iterations to know when to stop".to_owned(),
        ));
    }
    Ok(())
}

/// The source of `command`'s token: started (run once) at its first use, shared after.
fn token_source(
    tokens: &mut HashMap<TokenCommand, Arc<TokenSource>>,
    command: &TokenCommand,
) -> Result<Arc<TokenSource>, String> {
    if let Some(source) = tokens.get(command) {
        return Ok(Arc::clone(source));
    }
    let source = Arc::new(TokenSource::start(command)?);
    tokens.insert(command.clone(), Arc::clone(&source));
    Ok(source)
}

/// The two TLS configurations a run may need, built once: verifying, and (for insecure
/// targets) not. TLS files given are checked even when no target needs them.
struct TlsConfigs {
    verified: Option<Arc<rustls::ClientConfig>>,
    insecure: Option<Arc<rustls::ClientConfig>>,
}

impl TlsConfigs {
    fn for_targets(
        targets: &[Target],
        options: &ClientOptions,
    ) -> Result<TlsConfigs, PrepareError> {
        let https = |insecure: bool| {
            targets
                .iter()
                .any(|t| t.url.scheme_str() == Some("https") && t.insecure == insecure)
        };
        // A redirect may lead from http:// to https://: keep a configuration ready for each
        // target that may follow one, verifying or not as the target says.
        let redirects = |insecure: bool| {
            targets.iter().any(|t| {
                t.insecure == insecure && t.follow_redirects.unwrap_or(options.follow_redirects) > 0
            })
        };
        let tls = &options.tls;
        let given = !tls.extra_roots.is_empty() || tls.client_auth.is_some();
        let build = |needed: bool, insecure: bool| {
            needed
                .then(|| client_config_for(tls, insecure, options.http2))
                .transpose()
        };
        Ok(TlsConfigs {
            verified: build(https(false) || given || redirects(false), false)?,
            insecure: build(https(true) || redirects(true), true)?,
        })
    }

    fn for_target(&self, target: &Target) -> Option<Arc<rustls::ClientConfig>> {
        match target.insecure {
            true => self.insecure.clone(),
            false => self.verified.clone(),
        }
    }
}

/// The run's AWS credentials, found once, and only when some target signs: a run without
/// SigV4 needs no AWS keys.
fn aws_credentials(
    targets: &[Target],
    options: &ClientOptions,
) -> Result<Option<CredentialSource>, PrepareError> {
    if !targets.iter().any(|t| t.sigv4.is_some()) {
        return Ok(None);
    }
    let lookup = |name: &str| std::env::var(name).ok();
    CredentialSource::find(&lookup, options.aws_profile.as_deref())
        .map(Some)
        .map_err(PrepareError::Options)
}

/// One prepared request per target, each https target with its TLS configuration.
fn templates(
    targets: &[Target],
    options: &ClientOptions,
) -> Result<Vec<Arc<RequestTemplate>>, PrepareError> {
    let tls = TlsConfigs::for_targets(targets, options)?;
    let credentials = aws_credentials(targets, options)?;
    // One source per distinct command: targets sharing one share its runs and refreshes.
    let mut tokens: HashMap<TokenCommand, Arc<TokenSource>> = HashMap::new();
    // Proxies only when asked: a stray HTTP_PROXY must never reroute a benchmark.
    let proxy_rules = match options.use_env_proxy {
        true => Some(Arc::new(
            ProxyRules::from_env(&|name| std::env::var(name).ok())
                .map_err(PrepareError::Options)?,
        )),
        false => None,
    };
    targets
        .iter()
        .map(|t| {
            let problem = |problem: String| PrepareError::Target {
                name: t.name.clone(),
                problem,
            };
            if options.http2 && t.headers.contains_key(http::header::HOST) {
                return Err(problem(
                    "a Host header cannot go with --http2, which names the host in :authority from the URL: \
                     put the host in the URL and aim it at an address with --connect-to HOST:PORT:ADDRESS:PORT"
                        .to_owned(),
                ));
            }
            let token = match &t.token {
                Some(command) => Some(token_source(&mut tokens, command).map_err(problem)?),
                None => None,
            };
            let template = RequestTemplate::new(t)
                .map_err(problem)?
                .with_signer(t.sigv4.clone().zip(credentials.clone()))
                .with_token(token);
            Ok(Arc::new(
                template
                    .with_tls(tls.for_target(t))
                    .with_connect_to(&options.connect_to)
                    .with_compression(options.compressed)
                    .with_redirects(t.follow_redirects.unwrap_or(options.follow_redirects))
                    .with_http2(options.http2)
                    .with_proxy_rules(proxy_rules.clone())
                    .keeping_responses(options.keep_responses),
            ))
        })
        .collect()
}

/// The targets file's thresholds and the extra ones, with every endpoint an extra threshold
/// names checked against the targets.
fn all_thresholds(targets: &[Target], extra: &[Threshold]) -> Result<Vec<Threshold>, PrepareError> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    check_named_endpoints(&names, extra).map_err(PrepareError::Options)?;
    Ok(targets
        .iter()
        .flat_map(|t| t.thresholds.iter().cloned())
        .chain(extra.iter().cloned())
        .collect())
}

/// Every endpoint a `--threshold` names must exist: a typo would otherwise be a gate that
/// judges nothing and passes. The message lists the endpoints there are.
pub fn check_named_endpoints(names: &[&str], thresholds: &[Threshold]) -> Result<(), String> {
    for threshold in thresholds {
        if let Some(name) = &threshold.endpoint
            && !names.contains(&name.as_str())
        {
            return Err(format!(
                "--threshold '{threshold}' names endpoint `{name}`, which is not one; the endpoints are: {}",
                names.join(", ")
            ));
        }
    }
    Ok(())
}
