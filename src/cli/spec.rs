//! Parsed flags into the library's [`RunSpec`]: a plain translation, no I/O and no checks
//! of combinations (those are the prepare stage's, which sees the targets too).

use super::{LoadArgs, OutputArgs, RunArgs};
use crate::client::TlsOptions;
use crate::plan::{LoadSpec, Open};
use crate::prepare::{ClientOptions, RunSpec, Targets};

impl RunArgs {
    /// The run these flags ask for.
    pub fn run_spec(&self) -> RunSpec {
        let targets = match &self.targets {
            Some(path) => Targets::File(path.clone()),
            None => Targets::Urls(self.urls.clone()),
        };
        let request = crate::prepare::RequestFlags {
            headers: self.request.headers.clone(),
            method: self.request.method.clone(),
            body: self.request.body.clone(),
            content_type: self.request.content_type.clone(),
        };
        self.output.with_gates(RunSpec {
            load: self.load.load_spec(),
            client: ClientOptions {
                request,
                keep_responses: self.inspect,
                ..self.load.client_options()
            },
            ..RunSpec::new(targets)
        })
    }
}

impl OutputArgs {
    /// `spec` with these flags' thresholds, `--fail-fast` and checkpoint period.
    pub fn with_gates(&self, spec: RunSpec) -> RunSpec {
        RunSpec {
            thresholds: self.thresholds.clone(),
            fail_fast: self.fail_fast,
            checkpoint_every: self.checkpoint,
            log_requests: self.log_requests.clone(),
            ..spec
        }
    }
}

impl LoadArgs {
    /// Iterations, lanes, schedule and threads (every core when `--threads` is not given).
    pub fn load_spec(&self) -> LoadSpec {
        let open = match (self.rate, self.every) {
            (Some(per_second), _) => Some(Open::Rate {
                per_second,
                ramp_up: self.ramp_up.unwrap_or_default(),
            }),
            (None, Some(period)) => Some(Open::Every { period }),
            (None, None) => None,
        };
        LoadSpec {
            iterations: self.iterations,
            concurrency: self.concurrency,
            sleep: self.sleep,
            duration: self.duration,
            fresh_connections: self.fresh_connections,
            threads: self
                .threads
                .map_or_else(crate::plan::available_threads, |n| n.get()),
            open,
            max_connections: self.max_connections,
            shard: self.shard,
        }
    }

    /// How requests go out.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            timeout: self.timeout,
            tls: TlsOptions {
                extra_roots: self.cacert.clone(),
                client_auth: self.cert.clone().zip(self.key.clone()),
            },
            insecure: self.insecure,
            connect_to: self.connect_to.clone(),
            compressed: self.compressed,
            follow_redirects: self.follow_redirects,
            http2: self.http2,
            use_env_proxy: self.use_env_proxy,
            server_time: self.server_time.clone(),
            request_id: self.request_id_header.clone(),
            aws_sigv4: self.aws_sigv4.clone(),
            aws_profile: self.aws_profile.clone(),
            request: crate::prepare::RequestFlags::default(),
            keep_responses: false,
        }
    }
}
