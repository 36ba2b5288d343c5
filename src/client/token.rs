//! Token commands: a header whose value a program prints (`gcloud auth print-access-token`),
//! run before the first request and again every `refresh`, off the hot path. Lanes read
//! the current value without a lock; a refresh that fails keeps the last one.

use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{HeaderName, HeaderValue};

use crate::targets::TokenCommand;

/// A token command's current value, shared by every request that carries it.
#[derive(Debug)]
pub struct TokenSource {
    command: TokenCommand,
    value: ArcSwap<HeaderValue>,
}

impl TokenSource {
    /// Runs the command once (its failure, with its stderr, is the error) and, when it has
    /// a `refresh`, starts a thread that runs it again that often for as long as the
    /// source is in use.
    pub fn start(command: &TokenCommand) -> Result<Arc<TokenSource>, String> {
        let value = run(command)?;
        let source = Arc::new(TokenSource {
            command: command.clone(),
            value: ArcSwap::from_pointee(value),
        });
        if let Some(every) = command.refresh {
            let weak = Arc::downgrade(&source);
            std::thread::Builder::new()
                .name("api-cannon-token".into())
                .spawn(move || refresh(&weak, every))
                .map_err(|e| format!("cannot start the token refresher: {e}"))?;
        }
        Ok(source)
    }

    /// The header it fills, and its value now.
    pub fn header(&self) -> (&HeaderName, HeaderValue) {
        (&self.command.header, HeaderValue::clone(&self.value.load()))
    }
}

/// Runs the command again every `every` while the source lives; a failure keeps the last
/// value and says so (never the value itself).
fn refresh(source: &Weak<TokenSource>, every: Duration) {
    let slice = Duration::from_millis(100).min(every);
    let mut waited = Duration::ZERO;
    loop {
        std::thread::sleep(slice);
        waited += slice;
        let Some(source) = source.upgrade() else {
            return;
        };
        if waited < every {
            continue;
        }
        waited = Duration::ZERO;
        match run(&source.command) {
            Ok(value) => source.value.store(Arc::new(value)),
            Err(why) => crate::say!("api-cannon: {why}; the last token is kept"),
        }
    }
}

/// The command's trimmed output after the prefix, as a sensitive header value.
fn run(command: &TokenCommand) -> Result<HeaderValue, String> {
    let program = command.command.first().map_or("", String::as_str);
    let failed = |why: String| format!("the token command `{program}` failed: {why}");
    let output = std::process::Command::new(program)
        .args(&command.command[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!("{}: {}", output.status, stderr.trim())));
    }
    let token = String::from_utf8_lossy(&output.stdout);
    let token = token.trim();
    if token.is_empty() {
        return Err(failed("it printed nothing".to_owned()));
    }
    let mut value = HeaderValue::from_str(&format!("{}{token}", command.prefix))
        .map_err(|_| failed("it printed characters a header cannot carry".to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}
