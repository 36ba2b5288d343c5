//! `/secure/...`: an IAM-style protected route. It accepts a request only when it is signed
//! with AWS SigV4 by the demo's own credentials, which are the AWS documentation's example
//! ones: demo-only, public, never to be used anywhere else.

use std::time::SystemTime;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;

use crate::client::{AwsCredentials, CredentialSource, Signer};

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
        if matches!(
            name,
            "x-amz-date" | "x-amz-security-token" | "x-amz-content-sha256"
        ) {
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
        unsigned_payload: text(headers, "x-amz-content-sha256") == Some("UNSIGNED-PAYLOAD"),
    };
    Signer::new(scope, CredentialSource::fixed(credentials)).sign(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A request signed by the demo's credentials, as a client would send it.
    fn signed(method: Method, path: &str, body: &'static [u8]) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::from_static(body)));
        *request.method_mut() = method;
        *request.uri_mut() = path.parse().expect("a path");
        request.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_static("api.test"),
        );
        let signer = Signer::new(
            "us-east-1:execute-api".parse().expect("a scope"),
            CredentialSource::fixed(AwsCredentials::new(DEMO_ACCESS_KEY, DEMO_SECRET_KEY, None)),
        );
        let url = format!("http://api.test{path}");
        signer
            .sign(&mut request, &url, body, SystemTime::now())
            .expect("signs");
        request
    }

    #[test]
    fn a_signed_request_passes_and_a_tampered_one_does_not() {
        let request = signed(Method::POST, "/secure/items?q=a%20b", b"{\"n\":1}");
        let (method, uri, headers) = (request.method(), request.uri(), request.headers());
        assert_eq!(verify(method, uri, headers, b"{\"n\":1}"), Ok(()));
        let tampered_body = verify(method, uri, headers, b"{\"n\":2}");
        assert!(tampered_body.is_err());
        let other: Uri = "/secure/items?q=a%20c".parse().expect("a path");
        assert!(verify(method, &other, headers, b"{\"n\":1}").is_err());
        assert!(verify(&Method::PUT, uri, headers, b"{\"n\":1}").is_err());
        let mut other_host = headers.clone();
        other_host.insert(
            http::header::HOST,
            http::HeaderValue::from_static("evil.test"),
        );
        assert!(verify(method, uri, &other_host, b"{\"n\":1}").is_err());
    }
}
