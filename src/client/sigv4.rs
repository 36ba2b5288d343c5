//! AWS Signature Version 4, by the `aws-sigv4` crate (smithy-rs, what the AWS SDK itself
//! uses): every request signed as it goes on the wire, with its own `X-Amz-Date`.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http::Request;
use http_body_util::Full;

use crate::targets::SigV4Scope;

/// AWS credentials, from the environment. Their debug form shows no secret.
#[derive(Clone)]
pub struct AwsCredentials(Identity);

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsCredentials(***)")
    }
}

impl AwsCredentials {
    /// Credentials from their parts (`session_token` for temporary ones).
    pub fn new(access_key: &str, secret_key: &str, session_token: Option<String>) -> Self {
        let credentials =
            Credentials::new(access_key, secret_key, session_token, None, "api-cannon");
        AwsCredentials(credentials.into())
    }

    /// Credentials in the AWS CLI's order: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
    /// and `AWS_SESSION_TOKEN` through `lookup`; then the shared credentials file
    /// (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`) for `profile` (else
    /// `AWS_PROFILE`, else `default`). The error says where they were looked for, never a
    /// value. (`credential_process` and the config file are not read yet.)
    pub fn find(
        lookup: &dyn Fn(&str) -> Option<String>,
        profile: Option<&str>,
    ) -> Result<Self, String> {
        let read = |name: &str| lookup(name).filter(|v| !v.is_empty());
        if let (Some(key), Some(secret)) =
            (read("AWS_ACCESS_KEY_ID"), read("AWS_SECRET_ACCESS_KEY"))
        {
            return Ok(AwsCredentials::new(
                &key,
                &secret,
                read("AWS_SESSION_TOKEN"),
            ));
        }
        let profile = profile.map(str::to_owned).or_else(|| read("AWS_PROFILE"));
        let profile = profile.as_deref().unwrap_or("default");
        let file = read("AWS_SHARED_CREDENTIALS_FILE")
            .or_else(|| read("HOME").map(|home| format!("{home}/.aws/credentials")));
        let from_file = file.as_deref().and_then(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let keys = profile_keys(&text, profile);
            let get = |k: &str| {
                keys.iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            Some(AwsCredentials::new(
                &get("aws_access_key_id")?,
                &get("aws_secret_access_key")?,
                get("aws_session_token"),
            ))
        });
        from_file.ok_or_else(|| {
            format!(
                "signing with AWS SigV4 needs credentials: none in AWS_ACCESS_KEY_ID / \
                 AWS_SECRET_ACCESS_KEY, nor for profile `{profile}` in {}",
                file.as_deref()
                    .unwrap_or("~/.aws/credentials (HOME is not set)")
            )
        })
    }
}

/// The `key = value` lines of `[profile]` in an INI-style AWS credentials file.
fn profile_keys(text: &str, profile: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = section.trim() == profile;
        } else if let (true, Some((key, value))) = (inside, line.split_once('=')) {
            keys.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    keys
}

/// A target's signer: its scope and the run's credentials.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Where signatures are scoped.
    pub scope: SigV4Scope,
    credentials: AwsCredentials,
}

impl Signer {
    /// Signs with `credentials` for `scope`.
    pub fn new(scope: SigV4Scope, credentials: AwsCredentials) -> Signer {
        Signer { scope, credentials }
    }

    /// Signs `request`, whose absolute URL is `url` and body `body`, as of `time`: the
    /// method, path, query, every header it carries (Host included) and the body's SHA-256
    /// go into the signature; `Authorization`, `X-Amz-Date` (and `X-Amz-Security-Token`
    /// with session credentials) are added.
    pub fn sign(
        &self,
        request: &mut Request<Full<Bytes>>,
        url: &str,
        body: &[u8],
        time: SystemTime,
    ) -> Result<(), String> {
        let settings = SigningSettings::default();
        let params = v4::SigningParams::builder()
            .identity(&self.credentials.0)
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
        let signable = SignableRequest::new(
            request.method().as_str(),
            url,
            headers,
            SignableBody::Bytes(body),
        )
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

    #[test]
    fn a_profile_s_keys_are_read_from_its_section_only() {
        let text = "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n\
                    # a comment\n[demo]\nAWS_ACCESS_KEY_ID=A2\naws_secret_access_key = S2\n\
                    aws_session_token = T2\n";
        let keys = profile_keys(text, "demo");
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], ("aws_access_key_id".to_owned(), "A2".to_owned()));
        assert!(profile_keys(text, "other").is_empty());
    }

    /// AWS's published example ("get-vanilla" of the SigV4 test suite): its credentials,
    /// date, region and service, and the signature the documentation gives.
    #[test]
    fn the_published_example_signs_to_the_documented_signature() {
        let signer = Signer::new(
            "us-east-1:service".parse().expect("a scope"),
            AwsCredentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                None,
            ),
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
