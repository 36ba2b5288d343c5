//! What `--inspect` shows of a request before it goes: its head, with every header value
//! that could be a secret masked.

use http::HeaderName;
use http::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, HOST, USER_AGENT};

use super::RequestTemplate;

/// Headers whose values are shown: they carry no credentials. Every other value is
/// masked, whatever its name: `X-Api-Key`, a `${VAR}` or a token command's output must
/// never reach the terminal.
const SHOWN: [HeaderName; 5] = [HOST, ACCEPT, ACCEPT_ENCODING, CONTENT_TYPE, USER_AGENT];

impl RequestTemplate {
    /// Keeps every response's headers and body (for `--inspect`, which shows them).
    pub fn keeping_responses(mut self, on: bool) -> Self {
        self.keep_response |= on;
        self
    }

    /// The headers as they go out, values masked but for a few harmless ones (a host
    /// from `${VAR}` as written); what is added as it is sent (a signature, a token) said
    /// as such.
    pub fn head_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, value) in &self.headers {
            let shown = match (SHOWN.contains(name), value.to_str()) {
                (true, _) if *name == HOST && self.shown_host.is_some() => {
                    self.shown_host.clone().unwrap_or_default()
                }
                (true, Ok(text)) => text.to_owned(),
                _ => format!("*** ({} bytes, masked)", value.len()),
            };
            lines.push(format!("{name}: {shown}"));
        }
        if let Some(token) = &self.token {
            let (name, _) = token.header();
            lines.push(format!("{name}: *** (from the token command)"));
        }
        if let Some(signer) = &self.signer {
            let scope = &signer.scope;
            lines.push(format!(
                "authorization, x-amz-date: *** (AWS SigV4 for {}:{}, signed as sent)",
                scope.region, scope.service
            ));
        }
        if !self.body.is_empty() {
            lines.push(format!("(body: {} bytes)", self.body.len()));
        }
        lines
    }
}
