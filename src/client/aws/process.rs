//! `credential_process`: a program that prints temporary credentials as JSON
//! (`{"Version": 1, "AccessKeyId": ..., "SecretAccessKey": ..., "SessionToken": ...,
//! "Expiration": "2026-12-05T20:00:00Z"}`), split into words as the AWS CLI does (no shell).
//! Nothing it prints reaches a message: its errors name the field, never a value.

use std::time::SystemTime;

use aws_smithy_types::date_time::{DateTime, Format};
use serde_json::Value;

use super::AwsCredentials;

/// A profile's `credential_process`.
#[derive(Debug, Clone)]
pub struct CredentialProcess {
    argv: Vec<String>,
    /// The profile it came from and the file, for messages.
    pub from: String,
}

impl CredentialProcess {
    /// `command` as written in the profile (`/usr/bin/get-creds --role ci`), split into
    /// words with shell quoting rules; `from` names the profile and file.
    pub fn parse(command: &str, from: String) -> Result<CredentialProcess, String> {
        match shlex::split(command) {
            Some(argv) if !argv.is_empty() => Ok(CredentialProcess { argv, from }),
            _ => Err(format!(
                "the credential_process of {from} is not a command line (unbalanced quotes?)"
            )),
        }
    }

    /// What it is called in messages: the program, without its arguments (which may carry
    /// names one would rather not print).
    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// Runs it and reads its credentials; credentials that have already expired are an
    /// error too (nothing could be signed with them).
    pub fn run(&self, now: SystemTime) -> Result<AwsCredentials, String> {
        let stdout = crate::client::refresh::run_program(&self.argv)?;
        let credentials = parse_output(&stdout)?;
        match credentials.expires() {
            Some(at) if at <= now => Err(format!(
                "it gave credentials that expired at {}",
                humantime::format_rfc3339_seconds(at)
            )),
            _ => Ok(credentials),
        }
    }
}

/// The credentials in a `credential_process`'s output (its documented JSON, version 1).
fn parse_output(stdout: &[u8]) -> Result<AwsCredentials, String> {
    let form = "it must print {\"Version\": 1, \"AccessKeyId\", \"SecretAccessKey\", \
                and optionally \"SessionToken\" and \"Expiration\"}";
    // Read as a plain value first: serde's messages for a typed read quote what they met,
    // and what this program prints is secret.
    let json: Value = serde_json::from_slice(stdout).map_err(|e| {
        format!(
            "its output is not JSON (line {}, column {}): {form}",
            e.line(),
            e.column()
        )
    })?;
    if json.get("Version").and_then(Value::as_u64) != Some(1) {
        return Err(format!("its output has no \"Version\": 1: {form}"));
    }
    let text = |field: &str| {
        json.get(field)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let required =
        |field: &str| text(field).ok_or_else(|| format!("its output has no \"{field}\": {form}"));
    let key = required("AccessKeyId")?;
    let secret = required("SecretAccessKey")?;
    let session = text("SessionToken").map(str::to_owned);
    let expires = match json.get("Expiration") {
        None | Some(Value::Null) => None,
        Some(value) => Some(expiration(value)?),
    };
    Ok(AwsCredentials::expiring(key, secret, session, expires))
}

/// An `Expiration` (RFC 3339, `Z` or an offset, as `aws configure export-credentials`
/// writes it) as a time.
fn expiration(value: &Value) -> Result<SystemTime, String> {
    let bad =
        || "its \"Expiration\" is not an RFC 3339 time such as 2026-12-05T20:00:00Z".to_owned();
    let text = value.as_str().ok_or_else(bad)?;
    let time = DateTime::from_str(text, Format::DateTimeWithOffset).map_err(|_| bad())?;
    SystemTime::try_from(time).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn the_documented_output_reads_with_its_expiration_in_either_form() {
        for expiration in ["2026-12-05T20:00:00Z", "2026-12-05T21:00:00+01:00"] {
            let out = format!(
                r#"{{"Version": 1, "AccessKeyId": "AKID", "SecretAccessKey": "{SECRET}",
                    "SessionToken": "T", "Expiration": "{expiration}"}}"#
            );
            let credentials = parse_output(out.as_bytes()).expect("reads");
            let at = humantime::parse_rfc3339("2026-12-05T20:00:00Z").expect("a time");
            assert_eq!(credentials.expires(), Some(at), "{expiration}");
        }
        let lasting = format!(r#"{{"Version":1,"AccessKeyId":"A","SecretAccessKey":"{SECRET}"}}"#);
        assert_eq!(
            parse_output(lasting.as_bytes()).expect("reads").expires(),
            None
        );
    }

    #[test]
    fn a_bad_output_is_named_by_its_field_and_never_quoted() {
        let cases = [
            format!(r#"{{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "{SECRET}"}}"#),
            format!(r#"{{"Version": 1, "SecretAccessKey": "{SECRET}"}}"#),
            format!(r#"{{"Version": 1, "AccessKeyId": 7, "SecretAccessKey": "{SECRET}"}}"#),
            format!(
                r#"{{"Version":1,"AccessKeyId":"A","SecretAccessKey":"{SECRET}","Expiration":"{SECRET}"}}"#
            ),
            format!("{SECRET} is not json"),
        ];
        for case in cases {
            let error = parse_output(case.as_bytes()).expect_err("refused");
            assert!(!error.contains(SECRET), "{error}");
        }
    }

    #[test]
    fn credentials_that_already_expired_are_refused() {
        let json = r#"'{"Version":1,"AccessKeyId":"A","SecretAccessKey":"S","Expiration":"2000-01-01T00:00:00Z"}'"#;
        let process =
            CredentialProcess::parse(&format!("printf %s {json}"), "test".into()).expect("parses");
        let error = process.run(SystemTime::now()).expect_err("expired");
        assert!(error.contains("expired at 2000-01-01T00:00:00Z"), "{error}");
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        assert!(process.run(later).is_ok(), "valid before it expired");
    }

    #[test]
    fn the_command_is_split_like_a_shell_line() {
        let process = CredentialProcess::parse(r#"/bin/get "a b" c"#, "t".into()).expect("parses");
        assert_eq!(process.argv, ["/bin/get", "a b", "c"]);
        assert!(CredentialProcess::parse(r#"/bin/get "a"#, "t".into()).is_err());
        assert!(CredentialProcess::parse("  ", "t".into()).is_err());
    }
}
