//! `run --inspect`: one request per endpoint, shown whole (request head with secrets
//! masked, response status, headers and the start of the body, time by phase), and
//! nothing recorded: the first thing to do against an API one has not measured yet.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::AppError;
use crate::client::{Connection, RequestTemplate};
use crate::prepare::Prepared;
use crate::server_time::ServerReport;

/// Bytes of a body shown; the rest is counted.
const BODY_SHOWN: usize = 2048;

/// Sends one request per endpoint (flows: each step, alone) and prints what happened to
/// stdout. Exit 0 when every endpoint answered, whatever the status; 1 when one did not.
pub(super) fn inspect(prepared: &Prepared) -> Result<u8, AppError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(AppError::Runtime)?;
    let mut unanswered = 0;
    let pairs = prepared.plan.targets.iter().zip(&prepared.templates);
    for (target, template) in pairs.filter(|(t, _)| !t.is_whole_flow()) {
        // The URL as written: `${VAR}` values and passwords stay hidden.
        let line = format!("{} {}", target.method_label(), target.display_url);
        let (text, answered) = runtime.block_on(one(&target.name, &line, template));
        unanswered += usize::from(!answered);
        super::print_ignoring_closed_stdout(text.as_bytes());
    }
    Ok(u8::from(unanswered > 0))
}

/// One endpoint's request and response, and whether a response came.
async fn one(name: &str, request_line: &str, template: &RequestTemplate) -> (String, bool) {
    let mut out = format!("== {name}\n> {request_line}\n");
    for line in template.head_lines() {
        let _ = writeln!(out, "> {line}");
    }
    let start = Instant::now();
    let within = template.timeout;
    let opened = tokio::time::timeout(within, Connection::open(template)).await;
    let (mut connection, setup) = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(failure)) => return failed(out, failure.kind.as_str(), &failure.detail),
        Err(_) => return failed(out, "timeout", &no_answer(within)),
    };
    let mut server = ServerReport::default();
    let exchanged = connection.exchange(template, start, None, &mut server);
    let exchange = match tokio::time::timeout(within, exchanged).await {
        Ok(Ok(exchange)) => exchange,
        Ok(Err(failure)) => return failed(out, failure.kind.as_str(), &failure.detail),
        Err(_) => return failed(out, "timeout", &no_answer(within)),
    };
    let _ = writeln!(out, "< {:?} {}", exchange.version, exchange.status);
    if let Some(kept) = &exchange.kept {
        for (name, value) in &kept.headers {
            let _ = writeln!(
                out,
                "< {name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            );
        }
        out.push_str("<\n");
        match &kept.body {
            Ok(body) => out.push_str(&shown_body(body)),
            Err(why) => {
                let _ = writeln!(out, "(the body {why})");
            }
        }
    }
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let _ = writeln!(
        out,
        "time: dns {}, connect {}, tls {}, first byte {}, whole {}\n",
        setup.dns.map_or("-".to_owned(), ms),
        ms(setup.connect),
        setup.tls.map_or("-".to_owned(), ms),
        ms(exchange.ttfb),
        ms(exchange.latency)
    );
    (out, true)
}

fn no_answer(within: Duration) -> String {
    format!("no answer within {}", humantime::format_duration(within))
}

/// What an endpoint that did not answer leaves: the error kind and what was said.
fn failed(mut out: String, kind: &str, detail: &str) -> (String, bool) {
    let _ = writeln!(out, "! {kind}: {detail}\n");
    (out, false)
}

/// The first [`BODY_SHOWN`] bytes as text, and how many more there were.
fn shown_body(body: &[u8]) -> String {
    let head = &body[..body.len().min(BODY_SHOWN)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if body.len() > BODY_SHOWN {
        let _ = writeln!(text, "(… {} more bytes)", body.len() - BODY_SHOWN);
    }
    text
}
