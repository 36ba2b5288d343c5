//! AWS Signature Version 4, by the `aws-sigv4` crate (smithy-rs, what the AWS SDK itself
//! uses): every request signed as it goes on the wire, with its own `X-Amz-Date`, by the
//! run's current credentials ([`credentials`]: found in the AWS CLI's order, renewed
//! before they expire).

use std::time::SystemTime;

use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use crate::targets::SigV4Scope;

mod credentials;
mod files;
mod process;

pub use credentials::{AwsCredentials, CredentialSource};

/// A target's signer: its scope and the run's credentials.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Where signatures are scoped.
    pub scope: SigV4Scope,
    credentials: CredentialSource,
}

impl Signer {
    /// Signs with `credentials` for `scope`.
    pub fn new(scope: SigV4Scope, credentials: CredentialSource) -> Signer {
        Signer { scope, credentials }
    }

    /// Renewals of the credentials that failed, for the results.
    pub fn trouble(&self) -> Option<String> {
        self.credentials.trouble()
    }

    /// Signs `request`, whose absolute URL is `url` and body `body`, as of `time`: the
    /// method, path, query, every header it carries (Host included) and the body's SHA-256
    /// go into the signature (`UNSIGNED-PAYLOAD` instead of the hash, in
    /// `X-Amz-Content-Sha256`, when the scope says so); `Authorization`, `X-Amz-Date` (and
    /// `X-Amz-Security-Token` with session credentials) are added. Credentials that have
    /// expired sign nothing: the error says when, and why renewing them failed.
    pub fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        url: &str,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), String> {
        let credentials = self.credentials.current();
        if let Some(at) = credentials.expires().filter(|at| *at <= time) {
            let why = self.trouble().map_or(String::new(), |t| format!(" ({t})"));
            let at = humantime::format_rfc3339_seconds(at);
            return Err(format!("the AWS credentials expired at {at}{why}"));
        }
        let mut settings = SigningSettings::default();
        let body = match self.scope.unsigned_payload {
            true => {
                settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
                SignableBody::UnsignedPayload
            }
            false => SignableBody::Bytes(body),
        };
        let params = v4::SigningParams::builder()
            .identity(&credentials.identity)
            .region(&self.scope.region)
            .name(&self.scope.service)
            .time(time)
            .settings(settings)
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(request.method().as_str(), url, headers, body)
            .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example ("get-vanilla" of the SigV4 test suite): its credentials,
    /// date, region and service, and the signature the documentation gives.
    #[test]
    fn the_published_example_signs_to_the_documented_signature() {
        let signer = Signer::new(
            "us-east-1:service".parse().expect("a scope"),
            CredentialSource::fixed(AwsCredentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                None,
            )),
        );
        let mut request = Request::new(Full::new(Bytes::new()));
        request.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_static("example.amazonaws.com"),
        );
        // 2015-08-30T12:36:00Z
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160);
        signer
            .sign(&mut request, "https://example.amazonaws.com/", b"", time)
            .expect("signs");
        assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
        assert_eq!(
            request.headers()["authorization"],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert!(!format!("{signer:?}").contains("EXAMPLEKEY"));
    }
}
