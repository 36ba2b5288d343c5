//! Token commands: a header whose value a program prints (`gcloud auth print-access-token`),
//! run before the first request and again every `refresh`, off the hot path (see
//! [`super::refresh`]). A refresh that fails keeps the last token.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::refresh::{Refreshed, Renew, Trouble};
use crate::targets::TokenCommand;

/// A token command's current value, shared by every request that carries it.
#[derive(Debug)]
pub struct TokenSource(Arc<Refreshed<Command>>);

/// The command, as [`Refreshed`] runs it.
#[derive(Debug)]
struct Command(TokenCommand);

/// How soon a failed refresh is tried again (or the refresh period, when shorter).
const RETRY_AFTER: Duration = Duration::from_secs(30);

impl TokenSource {
    /// Runs the command once (its failure, with its stderr, is the error) and, when it has
    /// a `refresh`, starts a thread that runs it again that often for as long as the
    /// source is in use.
    pub fn start(command: &TokenCommand) -> Result<TokenSource, String> {
        Refreshed::start(Command(command.clone())).map(TokenSource)
    }

    /// The header it fills, and its value now.
    pub fn header(&self) -> (&HeaderName, HeaderValue) {
        (&self.0.renew().0.header, HeaderValue::clone(&self.0.load()))
    }

    /// Refreshes that failed so far, said for the results (never the token).
    pub fn trouble(&self) -> Option<String> {
        let Trouble { failures, last } = self.0.trouble()?;
        let times = if failures == 1 { "once" } else { "times" };
        let count = if failures == 1 {
            String::new()
        } else {
            format!("{failures} ")
        };
        Some(format!(
            "refreshing the token failed {count}{times}, the last token was kept: {last}"
        ))
    }
}

impl Renew for Command {
    type Value = HeaderValue;

    fn what(&self) -> String {
        format!(
            "the token command `{}`",
            self.0.command.first().map_or("", String::as_str)
        )
    }

    fn fetch(&self) -> Result<HeaderValue, String> {
        run(&self.0).map_err(|why| format!("{} failed: {why}", self.what()))
    }

    fn renew_after(&self, _: &HeaderValue) -> Option<Duration> {
        self.0.refresh
    }

    fn retry_after(&self, _: &HeaderValue) -> Duration {
        self.0
            .refresh
            .map_or(RETRY_AFTER, |every| every.min(RETRY_AFTER))
    }

    fn kept(&self, _: &HeaderValue) -> String {
        "the last token is kept".to_owned()
    }
}

/// The command's trimmed output after the prefix, as a sensitive header value.
fn run(command: &TokenCommand) -> Result<HeaderValue, String> {
    let stdout = super::refresh::run_program(&command.command)?;
    let token = String::from_utf8_lossy(&stdout);
    let token = token.trim();
    if token.is_empty() {
        return Err("it printed nothing".to_owned());
    }
    let mut value = HeaderValue::from_str(&format!("{}{token}", command.prefix))
        .map_err(|_| "it printed characters a header cannot carry".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}
