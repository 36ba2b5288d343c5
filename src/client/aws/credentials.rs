//! Where AWS credentials come from, in the AWS CLI's order, and how those that expire are
//! renewed while a run lasts.
//!
//! The order: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`); then
//! for the profile (`--aws-profile`, else `AWS_PROFILE`, else `default`) keys in the
//! credentials file, a `credential_process` (credentials file, then config file), keys in
//! the config file. Profiles that assume a role or use SSO are refused with the way round
//! (`aws configure export-credentials` as their `credential_process`): doing those here
//! would mean the AWS SDK's whole HTTP stack (see the README's "Authentication").

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::identity::Identity;

use super::files::Profile;
use super::process::CredentialProcess;
use crate::client::refresh::{Refreshed, Renew};

/// AWS credentials. Their debug form shows no secret.
#[derive(Clone)]
pub struct AwsCredentials {
    pub(super) identity: Identity,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AwsCredentials(***)")
    }
}

impl AwsCredentials {
    /// Long-term credentials (`session_token` for temporary ones of unknown expiry).
    pub fn new(access_key: &str, secret_key: &str, session_token: Option<String>) -> Self {
        Self::expiring(access_key, secret_key, session_token, None)
    }

    /// Credentials that stop working at `expires`.
    pub fn expiring(
        access_key: &str,
        secret_key: &str,
        session_token: Option<String>,
        expires: Option<SystemTime>,
    ) -> Self {
        let credentials =
            Credentials::new(access_key, secret_key, session_token, expires, "api-cannon");
        AwsCredentials {
            identity: Identity::new(credentials, expires),
        }
    }

    /// When they stop working (`None`: long-term keys); the identity holds it.
    pub fn expires(&self) -> Option<SystemTime> {
        self.identity.expiration()
    }
}

/// The run's AWS credentials: fixed, or renewed from a `credential_process` before they
/// expire. Every signer of the run shares one.
#[derive(Debug, Clone)]
pub struct CredentialSource(Arc<Refreshed<Origin>>);

/// Where the credentials came from.
#[derive(Debug)]
enum Origin {
    /// The environment or a file: they are what they are.
    Fixed(AwsCredentials),
    /// A program, run again before what it gave expires.
    Process(CredentialProcess),
}

/// How long before they expire credentials are renewed, at most (the AWS SDK's margin);
/// short-lived ones are renewed halfway through their life.
const RENEW_AHEAD: Duration = Duration::from_secs(5 * 60);

/// After a failed renewal, tries again no later than this (and no sooner than a second).
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Once credentials have expired, the failing program is tried this often.
const RETRY_EXPIRED: Duration = Duration::from_secs(5);

impl CredentialSource {
    /// Fixed credentials.
    pub fn fixed(credentials: AwsCredentials) -> CredentialSource {
        CredentialSource(Refreshed::constant(
            Origin::Fixed(credentials.clone()),
            credentials,
        ))
    }

    /// Finds the credentials (module doc) through `lookup` (the environment). The error
    /// says where they were looked for, never a value.
    pub fn find(
        lookup: &dyn Fn(&str) -> Option<String>,
        profile: Option<&str>,
    ) -> Result<CredentialSource, String> {
        let read = |name: &str| lookup(name).filter(|v| !v.is_empty());
        if let (Some(key), Some(secret)) =
            (read("AWS_ACCESS_KEY_ID"), read("AWS_SECRET_ACCESS_KEY"))
        {
            let session = read("AWS_SESSION_TOKEN");
            return Ok(Self::fixed(AwsCredentials::new(&key, &secret, session)));
        }
        let named = profile.map(str::to_owned).or_else(|| read("AWS_PROFILE"));
        let profile = Profile::read(&read, named.as_deref().unwrap_or("default"));
        let origin = from_profile(&profile, named.is_some())?;
        let start = Refreshed::start(origin).map_err(|why| format!("credential_process {why}"))?;
        Ok(CredentialSource(start))
    }

    /// The credentials to sign with now.
    pub(super) fn current(&self) -> arc_swap::Guard<Arc<AwsCredentials>> {
        self.0.load()
    }

    /// Renewals that failed so far, said for the results (never a value).
    pub fn trouble(&self) -> Option<String> {
        let trouble = self.0.trouble()?;
        let times = match trouble.failures {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        };
        Some(format!(
            "renewing the AWS credentials by credential_process failed {times}: {}",
            trouble.last
        ))
    }
}

/// The profile's credentials: keys, or a process to run.
fn from_profile(profile: &Profile, named: bool) -> Result<Origin, String> {
    let name = &profile.name;
    if named && !profile.exists() {
        return Err(format!(
            "AWS profile `{name}` is in neither {}",
            profile.looked_in()
        ));
    }
    let unsupported = [
        "role_arn",
        "sso_session",
        "sso_start_url",
        "web_identity_token_file",
    ];
    if let Some((key, path)) = profile.first_of(&unsupported) {
        return Err(format!(
            "AWS profile `{name}` uses `{key}` ({path}), which api-cannon does not read; give \
             a profile `credential_process = aws configure export-credentials --profile {name} \
             --format process` and use that one"
        ));
    }
    let keys = |file: &super::files::ProfileFile| {
        let key = file.get("aws_access_key_id")?;
        let secret = file.get("aws_secret_access_key")?;
        let session = file.get("aws_session_token").map(str::to_owned);
        Some(Origin::Fixed(AwsCredentials::new(key, secret, session)))
    };
    let process = |file: &super::files::ProfileFile| {
        let command = file.get("credential_process")?;
        let from = format!("profile `{name}` ({})", file.path);
        Some(CredentialProcess::parse(command, from).map(Origin::Process))
    };
    if let Some(origin) = keys(&profile.credentials) {
        return Ok(origin);
    }
    if let Some(origin) = process(&profile.credentials).or_else(|| process(&profile.config)) {
        return origin;
    }
    keys(&profile.config).ok_or_else(|| {
        format!(
            "signing with AWS SigV4 needs credentials: none in AWS_ACCESS_KEY_ID / \
             AWS_SECRET_ACCESS_KEY, nor for profile `{name}` in {}",
            profile.looked_in()
        )
    })
}

impl Renew for Origin {
    type Value = AwsCredentials;

    fn what(&self) -> String {
        match self {
            Origin::Fixed(_) => "AWS credentials".to_owned(),
            Origin::Process(p) => format!("`{}` of {}", p.program(), p.from),
        }
    }

    fn fetch(&self) -> Result<AwsCredentials, String> {
        match self {
            Origin::Fixed(credentials) => Ok(credentials.clone()),
            Origin::Process(p) => p
                .run(SystemTime::now())
                .map_err(|why| format!("{} failed: {why}", self.what())),
        }
    }

    fn renew_after(&self, value: &AwsCredentials) -> Option<Duration> {
        if let Origin::Fixed(_) = self {
            return None;
        }
        let left = value
            .expires()?
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        Some(left - RENEW_AHEAD.min(left / 2))
    }

    fn retry_after(&self, value: &AwsCredentials) -> Duration {
        match left_of(value) {
            Some(left) if !left.is_zero() => (left / 4).clamp(Duration::from_secs(1), RETRY_MAX),
            _ => RETRY_EXPIRED,
        }
    }

    fn kept(&self, value: &AwsCredentials) -> String {
        match value
            .expires()
            .filter(|_| left_of(value).is_some_and(|l| !l.is_zero()))
        {
            Some(at) => format!(
                "the current credentials are kept until they expire at {}; it is tried again",
                humantime::format_rfc3339_seconds(at)
            ),
            None => "requests fail as `auth` errors until it works again".to_owned(),
        }
    }
}

/// How long the credentials have left (zero once expired; `None`: they do not expire).
fn left_of(credentials: &AwsCredentials) -> Option<Duration> {
    let at = credentials.expires()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds_from_now: u64) -> AwsCredentials {
        let expires = SystemTime::now() + Duration::from_secs(seconds_from_now);
        AwsCredentials::expiring("A", "S", None, Some(expires))
    }

    #[test]
    fn credentials_are_renewed_five_minutes_ahead_or_halfway_when_short_lived() {
        let process =
            Origin::Process(CredentialProcess::parse("true", "t".into()).expect("parses"));
        let hour = process.renew_after(&at(3600)).expect("expiring");
        assert!((3290..=3300).contains(&hour.as_secs()), "{hour:?}");
        let short = process.renew_after(&at(4)).expect("expiring");
        assert!((1..=2).contains(&short.as_secs()), "{short:?}");
        let lasting = AwsCredentials::new("A", "S", None);
        assert_eq!(process.renew_after(&lasting), None);
    }

    #[test]
    fn failed_renewals_are_retried_sooner_as_expiry_nears() {
        let process =
            Origin::Process(CredentialProcess::parse("true", "t".into()).expect("parses"));
        assert_eq!(process.retry_after(&at(3600)), RETRY_MAX);
        assert_eq!(process.retry_after(&at(2)), Duration::from_secs(1));
        let expired = AwsCredentials::expiring("A", "S", None, Some(SystemTime::UNIX_EPOCH));
        assert_eq!(process.retry_after(&expired), RETRY_EXPIRED);
        assert!(process.kept(&expired).contains("auth"));
    }
}
