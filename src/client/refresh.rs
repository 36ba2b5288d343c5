//! Values a background thread renews while a run lasts: a token command's output, AWS
//! credentials from a `credential_process`. Lanes read the current value without a lock
//! (arc-swap); only the renewing thread runs the program, so a slow or hanging one never
//! holds up a request. A renewal that fails keeps the last value and is remembered, so the
//! results can say so.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption, Guard};

/// Runs `argv` (its program and arguments: no shell, no stdin) and returns what it wrote
/// on stdout. A failure says why: it could not start, or its exit status with its stderr.
pub fn run_program(argv: &[String]) -> Result<Vec<u8>, String> {
    let (program, args) = argv.split_first().ok_or("there is no program to run")?;
    let output = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot start it: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{}: {}", output.status, stderr.trim()));
    }
    Ok(output.stdout)
}

/// How a value is renewed and when.
pub trait Renew: Send + Sync + 'static {
    /// What is renewed.
    type Value: Send + Sync + 'static;

    /// What renews it, for messages (`the token command `gcloud``); never a value.
    fn what(&self) -> String;

    /// Fetches a new value (runs the program). The error says why, never a value.
    fn fetch(&self) -> Result<Self::Value, String>;

    /// How long after `value` was fetched to fetch again; `None`: never.
    fn renew_after(&self, value: &Self::Value) -> Option<Duration>;

    /// How long after a failed renewal to try again, while `value` is still the current.
    fn retry_after(&self, value: &Self::Value) -> Duration;

    /// What a failed renewal leaves (`the last token is kept`), for the message.
    fn kept(&self, value: &Self::Value) -> String;
}

/// Renewals that failed, for the results: how many, and the last reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    /// Failed renewals so far.
    pub failures: u64,
    /// The last one's reason.
    pub last: String,
}

/// A value renewed in the background by `R`.
pub struct Refreshed<R: Renew> {
    renew: R,
    current: ArcSwap<R::Value>,
    failures: AtomicU64,
    last_failure: ArcSwapOption<String>,
}

impl<R: Renew> std::fmt::Debug for Refreshed<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the value: it is a secret.
        write!(f, "Refreshed({})", self.renew.what())
    }
}

/// How often the renewing thread looks whether its value is still in use: it ends within
/// this long after the run drops the value.
const WAKE_EVERY: Duration = Duration::from_millis(100);

/// The shortest time between two runs of a renewing program.
const SHORTEST_WAIT: Duration = Duration::from_millis(10);

impl<R: Renew> Refreshed<R> {
    /// Fetches the first value (its failure is the error) and, when it needs renewing,
    /// starts the thread that renews it for as long as the value is in use.
    pub fn start(renew: R) -> Result<Arc<Refreshed<R>>, String> {
        let first = renew.fetch()?;
        let first_renewal = renew.renew_after(&first);
        let refreshed = Arc::new(Refreshed {
            renew,
            current: ArcSwap::from_pointee(first),
            failures: AtomicU64::new(0),
            last_failure: ArcSwapOption::empty(),
        });
        if let Some(wait) = first_renewal {
            let weak = Arc::downgrade(&refreshed);
            std::thread::Builder::new()
                .name("api-cannon-renew".into())
                .spawn(move || renew_while_used(&weak, wait))
                .map_err(|e| format!("cannot start a thread to renew credentials: {e}"))?;
        }
        Ok(refreshed)
    }

    /// A value that is never renewed.
    pub fn constant(renew: R, value: R::Value) -> Arc<Refreshed<R>> {
        Arc::new(Refreshed {
            renew,
            current: ArcSwap::from_pointee(value),
            failures: AtomicU64::new(0),
            last_failure: ArcSwapOption::empty(),
        })
    }

    /// The current value (lock-free; the guard is cheap to hold for one request).
    pub fn load(&self) -> Guard<Arc<R::Value>> {
        self.current.load()
    }

    /// Renewals that failed so far; `None` when none has.
    pub fn trouble(&self) -> Option<Trouble> {
        let last = self.last_failure.load_full()?;
        Some(Trouble {
            failures: self.failures.load(Ordering::Relaxed),
            last: String::clone(&last),
        })
    }

    /// What renews the value.
    pub fn renew(&self) -> &R {
        &self.renew
    }

    /// Fetches once: stores a new value, or counts and says the failure. Returns when to
    /// try next.
    fn renew_once(&self, failing: &mut bool) -> Option<Duration> {
        match self.renew.fetch() {
            Ok(value) => {
                if std::mem::take(failing) {
                    let works = format!("api-cannon: {} works again", self.renew.what());
                    crate::fit::say(&works);
                }
                let next = self.renew.renew_after(&value);
                self.current.store(Arc::new(value));
                next
            }
            Err(why) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let current = self.current.load();
                // Said once per streak of failures: retries can be seconds apart.
                if !std::mem::replace(failing, true) {
                    let kept = self.renew.kept(&current);
                    crate::fit::say(&format!("api-cannon: {why}; {kept}"));
                }
                self.last_failure.store(Some(Arc::new(why)));
                Some(self.renew.retry_after(&current))
            }
        }
    }
}

/// The renewing thread: waits `wait`, renews, and so on, until the value is dropped.
fn renew_while_used<R: Renew>(refreshed: &Weak<Refreshed<R>>, mut wait: Duration) {
    let mut failing = false;
    let mut waited = Duration::ZERO;
    loop {
        // A program is never run back to back, whatever a schedule or an expiry says.
        wait = wait.max(SHORTEST_WAIT);
        let slice = WAKE_EVERY.min(wait.saturating_sub(waited));
        std::thread::sleep(slice);
        waited += slice;
        let Some(refreshed) = refreshed.upgrade() else {
            return;
        };
        if waited < wait {
            continue;
        }
        waited = Duration::ZERO;
        match refreshed.renew_once(&mut failing) {
            Some(next) => wait = next,
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_program_gives_its_stdout_or_says_why_not() {
        let argv = |args: &[&str]| args.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let out = run_program(&argv(&["sh", "-c", "printf token"]));
        assert_eq!(out.as_deref(), Ok(&b"token"[..]));
        let failed = run_program(&argv(&["sh", "-c", "echo denied >&2; exit 3"]));
        assert!(
            failed
                .as_ref()
                .is_err_and(|e| e.contains("3") && e.ends_with("denied")),
            "{failed:?}"
        );
        let missing = run_program(&argv(&["/nonexistent/api-cannon-test"]));
        assert!(missing.is_err_and(|e| e.starts_with("cannot start it")));
        assert!(run_program(&[]).is_err());
    }

    /// Hands out the numbers 1, 2, 3...; fails on the calls listed.
    struct Counter {
        calls: Mutex<u32>,
        fail_on: Vec<u32>,
    }

    impl Renew for Counter {
        type Value = u32;
        fn what(&self) -> String {
            "the counter".to_owned()
        }
        fn fetch(&self) -> Result<u32, String> {
            let mut calls = self.calls.lock().map_err(|_| "poisoned")?;
            *calls += 1;
            match self.fail_on.contains(&calls) {
                true => Err(format!("call {calls} fails")),
                false => Ok(*calls),
            }
        }
        fn renew_after(&self, _: &u32) -> Option<Duration> {
            Some(Duration::from_millis(1))
        }
        fn retry_after(&self, _: &u32) -> Duration {
            Duration::from_millis(1)
        }
        fn kept(&self, _: &u32) -> String {
            "the last number is kept".to_owned()
        }
    }

    fn counter(fail_on: Vec<u32>) -> Refreshed<Counter> {
        Refreshed {
            current: ArcSwap::from_pointee(0),
            renew: Counter {
                calls: Mutex::new(0),
                fail_on,
            },
            failures: AtomicU64::new(0),
            last_failure: ArcSwapOption::empty(),
        }
    }

    #[test]
    fn a_failed_renewal_keeps_the_value_and_is_counted_with_its_reason() {
        let refreshed = counter(vec![2, 3]);
        let mut failing = false;
        refreshed.renew_once(&mut failing);
        assert_eq!(**refreshed.load(), 1);
        assert!(refreshed.trouble().is_none());
        refreshed.renew_once(&mut failing);
        refreshed.renew_once(&mut failing);
        assert_eq!(**refreshed.load(), 1, "the last good value stays");
        let trouble = refreshed.trouble().expect("failures are remembered");
        assert_eq!(trouble.failures, 2);
        assert_eq!(trouble.last, "call 3 fails");
        refreshed.renew_once(&mut failing);
        assert_eq!(**refreshed.load(), 4, "a renewal that works again is taken");
        assert!(!failing);
    }

    #[test]
    fn the_first_fetch_failing_is_the_error_of_start() {
        let renew = Counter {
            calls: Mutex::new(0),
            fail_on: vec![1],
        };
        let error = Refreshed::start(renew).expect_err("the first call fails");
        assert_eq!(error, "call 1 fails");
    }
}
