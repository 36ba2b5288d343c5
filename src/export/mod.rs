//! Exporters turn [`Results`] into bytes, one format a file, no I/O; [`Destination`]
//! writes them, atomically for files so a reader (or a crash) never sees half a file; and
//! [`Outputs`] is the one place that decides which format goes where, and when.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::results::Results;

pub mod failures;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod report;
pub mod summary;

pub use json::Json;
pub use junit::Junit;
pub use markdown::Markdown;
pub use report::Report;
pub use summary::Summary;

/// One output format: results in, bytes out. Every format reads the same results model and
/// computes no statistic of its own.
pub trait Exporter {
    /// One run's results as the format's bytes.
    fn render(&self, results: &Results) -> Vec<u8>;
}

/// A format bound for a place.
pub struct Output {
    /// The format.
    pub exporter: Box<dyn Exporter>,
    /// Where it goes.
    pub destination: Destination,
    /// Rewritten at every checkpoint too, so a long run can be followed (the HTML report).
    pub at_checkpoints: bool,
}

/// The report files a run writes besides its results (`--junit`, `--markdown`,
/// `--report`), in that order: checked before the run, written after the results.
#[derive(Default)]
pub struct Outputs(Vec<Output>);

impl Outputs {
    /// Adds `exporter` bound for `path`, if one was given.
    pub fn add(
        &mut self,
        exporter: impl Exporter + 'static,
        path: Option<&Path>,
        at_checkpoints: bool,
    ) -> &mut Outputs {
        if let Some(path) = path {
            self.0.push(Output {
                exporter: Box::new(exporter),
                destination: Destination::File(path.to_owned()),
                at_checkpoints,
            });
        }
        self
    }

    /// Where the outputs go.
    pub fn destinations(&self) -> impl Iterator<Item = &Destination> {
        self.0.iter().map(|o| &o.destination)
    }

    /// Writes every output; stops at the first that fails.
    pub fn write(&self, results: &Results) -> Result<(), WriteError> {
        for output in &self.0 {
            output.destination.write(&output.exporter.render(results))?;
        }
        Ok(())
    }

    /// Rewrites the outputs that follow checkpoints.
    pub fn write_checkpoint(&self, results: &Results) -> Result<(), WriteError> {
        for output in self.0.iter().filter(|o| o.at_checkpoints) {
            output.destination.write(&output.exporter.render(results))?;
        }
        Ok(())
    }
}

/// Where results go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Standard output (`--output -`): written once, at the end, and nothing else goes there.
    Stdout,
    /// A file, rewritten atomically at every checkpoint and at the end.
    File(PathBuf),
}

/// The results file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write results to {}: {source}", path.display())]
pub struct WriteError {
    /// The file (or the temporary file beside it).
    pub path: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

impl Destination {
    /// `--output` as given, or `api-cannon-YYYYMMDD-HHMMSS.json` (UTC start time) in the
    /// current folder when it was not; `-2`, `-3`, ... before `.json` when that file exists,
    /// so a run started in the same second as the last never replaces its results.
    pub fn from_arg(arg: Option<&Path>, started: SystemTime) -> Destination {
        match arg {
            Some(p) if p == Path::new("-") => Destination::Stdout,
            Some(p) => Destination::File(p.to_owned()),
            None => Destination::File(free_default_path(Path::new(""), started)),
        }
    }

    /// Whether checkpoints can be written: not to stdout or a device or pipe (`-o
    /// /dev/stdout`, a FIFO), which cannot be rewritten, only written to once.
    pub fn takes_checkpoints(&self) -> bool {
        match self {
            Destination::Stdout => false,
            Destination::File(path) => !is_special(&followed(path)),
        }
    }

    /// Checks, before anything is sent, that the file's folder takes a file and that the
    /// name is not a folder (the last rename would fail after the whole run).
    pub fn check_writable(&self) -> Result<(), WriteError> {
        match self {
            Destination::Stdout => Ok(()),
            Destination::File(path) => {
                let path = &followed(path);
                if is_special(path) {
                    // A device or pipe is written into, not replaced: nothing to probe
                    // beside it (creating a file in /dev is not allowed, nor needed).
                    return Ok(());
                }
                if path.is_dir() || path.as_os_str().to_string_lossy().ends_with('/') {
                    return Err(WriteError {
                        path: path.clone(),
                        source: std::io::Error::other(
                            "it is a folder: name a file, e.g. results/run.json",
                        ),
                    });
                }
                let probe = temp_path(path);
                let result = std::fs::File::create(&probe).map(drop);
                let _ = std::fs::remove_file(&probe);
                result.map_err(|source| WriteError {
                    path: path.clone(),
                    source,
                })
            }
        }
    }

    /// Writes `bytes`: to stdout, or to a temporary file beside the target then renamed
    /// over it, so the file is always either the previous version or the new one.
    pub fn write(&self, bytes: &[u8]) -> Result<(), WriteError> {
        match self {
            Destination::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)
                    .and_then(|()| out.flush())
                    .map_err(|source| WriteError {
                        path: "<stdout>".into(),
                        source,
                    })
            }
            Destination::File(path) => write_atomic(path, bytes),
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// The file a path names once its symbolic links are followed (a link written through,
/// never replaced by a file of its own); the path itself when it is no link or loops.
fn followed(path: &Path) -> PathBuf {
    let mut current = path.to_owned();
    // As many links as the kernel follows before it gives up (ELOOP).
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&current) else {
            return current;
        };
        current = match current.parent() {
            Some(folder) if target.is_relative() => folder.join(target),
            _ => target,
        };
    }
    path.to_owned()
}

/// Whether `path` exists and is neither a regular file nor a folder: a device (`/dev/null`),
/// a FIFO or a socket. Those are written into; a rename would replace them.
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// Writes `bytes` to `path`: into a device or pipe as it is; otherwise to a temporary file
/// beside the file the path names (links followed) and renamed over it, so that file is
/// always either the previous version or the new one, and a link stays a link.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let fail = |source| WriteError {
        path: path.to_owned(),
        source,
    };
    let real = followed(path);
    if is_special(&real) {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(&real)
            .and_then(|mut device| device.write_all(bytes))
            .map_err(fail);
    }
    let path = real.as_path();
    let temp = temp_path(path);
    let written = std::fs::File::create(&temp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .and_then(|()| std::fs::rename(&temp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(fail)
}

fn default_file_name(started: SystemTime) -> String {
    // "2026-11-27T15:28:41Z" → "api-cannon-20261127-152841.json"
    let stamp = humantime::format_rfc3339_seconds(started).to_string();
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = digits.split_at(digits.len().min(8));
    format!("api-cannon-{date}-{time}.json")
}

/// Claims the default file name for a run started at `started` in the current folder:
/// creates it (empty) so a run started in the same second picks the next suffix, though it
/// only writes its results at the first checkpoint or the end.
pub fn reserve_default_path(started: SystemTime) -> Result<PathBuf, WriteError> {
    let name = default_file_name(started);
    let stem = name.trim_end_matches(".json").to_owned();
    let candidates = std::iter::once(name).chain((2..10_000).map(|n| format!("{stem}-{n}.json")));
    let mut last = None;
    for candidate in candidates.map(PathBuf::from) {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(_) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(candidate),
            Err(source) => {
                return Err(WriteError {
                    path: candidate,
                    source,
                });
            }
        }
    }
    Err(WriteError {
        path: last.unwrap_or_default(),
        source: std::io::Error::other("every suffixed name is taken"),
    })
}

/// The default file name in `dir`, suffixed until no file of that name exists.
fn free_default_path(dir: &Path, started: SystemTime) -> PathBuf {
    let name = default_file_name(started);
    let stem = name.trim_end_matches(".json");
    std::iter::once(name.clone())
        .chain((2..).map(|n| format!("{stem}-{n}.json")))
        .map(|candidate| dir.join(candidate))
        .find(|path| !path.exists())
        .unwrap_or_else(|| dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_default_name_taken_in_the_same_second_gets_a_suffix() {
        let dir = std::env::temp_dir().join(format!("api-cannon-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_793_321);
        let first = free_default_path(&dir, t);
        assert_eq!(first, dir.join("api-cannon-20261127-152841.json"));
        std::fs::write(&first, "{}").unwrap();
        let second = free_default_path(&dir, t);
        assert_eq!(second, dir.join("api-cannon-20261127-152841-2.json"));
        std::fs::write(&second, "{}").unwrap();
        assert_eq!(
            free_default_path(&dir, t),
            dir.join("api-cannon-20261127-152841-3.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn default_name_is_the_utc_start_time() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_793_321);
        assert_eq!(default_file_name(t), "api-cannon-20261127-152841.json");
    }

    #[test]
    fn atomic_write_replaces_the_file_and_leaves_no_temp_behind() {
        let dir = std::env::temp_dir().join(format!("api-cannon-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("r.json");
        let dest = Destination::File(file.clone());
        dest.check_writable().unwrap();
        dest.write(b"one").unwrap();
        dest.write(b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unwritable_folder_is_caught_before_the_run() {
        let dest = Destination::File("/nonexistent-folder/r.json".into());
        assert!(
            dest.check_writable()
                .unwrap_err()
                .to_string()
                .contains("/nonexistent-folder/r.json")
        );
    }
}
