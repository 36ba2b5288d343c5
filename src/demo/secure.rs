//! `/secure/...`: an IAM-style protected route. It accepts a request only when it is signed
//! with AWS SigV4 by the demo's own credentials, which are the AWS documentation's example
//! ones: demo-only, public, never to be used anywhere else.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;

use crate::client::{AwsCredentials, Signer};

/// The demo's access key (the AWS documentation's example; demo-only).
pub const DEMO_ACCESS_KEY: &str = "AKIDEXAMPLE";
/// The demo's secret key (the AWS documentation's example; demo-only).
pub const DEMO_SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// Whether the request's signature is the one the demo's credentials make for it: the
/// signature is computed again, by the same crate, over the headers it says it signed.
pub(super) fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let given =
        text(headers, "authorization").ok_or("no Authorization header: sign the request")?;
    let field = |name: &str| {
        given
            .split([' ', ','])
            .find_map(|part| part.strip_prefix(name))
            .ok_or(format!("the Authorization header has no {name}"))
    };
    let scope: Vec<&str> = field("Credential=")?.split('/').collect();
    let [key, _date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err("the credential scope is not KEY/DATE/REGION/SERVICE/aws4_request".to_owned());
    };
    if *key != DEMO_ACCESS_KEY {
        return Err(format!("unknown access key `{key}`"));
    }
    let signed = field("SignedHeaders=")?;
    let time = amz_time(text(headers, "x-amz-date").ok_or("no X-Amz-Date header")?)?;
    let session = text(headers, "x-amz-security-token").map(str::to_owned);
    let mut request = Request::new(Full::new(Bytes::copy_from_slice(body)));
    *request.method_mut() = method.clone();
    for name in signed.split(';') {
        if matches!(name, "x-amz-date" | "x-amz-security-token") {
            continue; // the signer adds these itself
        }
        if let Some(value) = headers.get(name) {
            request.headers_mut().insert(
                http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?,
                value.clone(),
            );
        }
    }
    let host = text(headers, "host").ok_or("no Host header")?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let credentials = AwsCredentials::new(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, session);
    let scope = crate::targets::SigV4Scope {
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    };
    Signer::new(scope, credentials).sign(
        &mut request,
        &format!("http://{host}{path}"),
        body,
        time,
    )?;
    match text(request.headers(), "authorization") == Some(given) {
        true => Ok(()),
        false => Err("the signature does not match the request".to_owned()),
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// `20150830T123600Z` as a time.
fn amz_time(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("X-Amz-Date `{text}` is not YYYYMMDDTHHMMSSZ");
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    humantime::parse_rfc3339(&rfc3339).map_err(|_| bad())
}
