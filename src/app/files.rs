//! Reading results files written by `run` (for `merge`, and later `compare` and `report`).

use std::path::Path;

use crate::results::{Results, SCHEMA_VERSION};

/// A results file that cannot be used; exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Missing or unreadable.
    #[error("{path}: cannot read it: {source}")]
    Io {
        /// The file as given.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not JSON, or not a results file.
    #[error("{path}: not an api-cannon results file: {problem}")]
    Format {
        /// The file as given.
        path: String,
        /// The parser's message.
        problem: String,
    },
    /// Written by a version with another schema.
    #[error(
        "{path}: schema_version {found}, but this api-cannon reads schema_version {SCHEMA_VERSION}; use the api-cannon that wrote it"
    )]
    Version {
        /// The file as given.
        path: String,
        /// What it declares.
        found: String,
    },
}

/// Reads and checks one results file.
pub fn read_results(path: &Path) -> Result<Results, ReadError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: shown.clone(),
        source,
    })?;
    // The version first, read without building the document (a JSON value tree of a
    // 94 MB file took over a gigabyte); then the results themselves, straight from bytes.
    #[derive(serde::Deserialize)]
    struct Version {
        schema_version: Option<serde_json::Value>,
    }
    let version: Version = serde_json::from_slice(&bytes).map_err(|e| ReadError::Format {
        path: shown.clone(),
        problem: e.to_string(),
    })?;
    match version
        .schema_version
        .as_ref()
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(ReadError::Version {
                path: shown,
                found: v.to_string(),
            });
        }
        None => {
            return Err(ReadError::Format {
                path: shown,
                problem: "no schema_version".to_owned(),
            });
        }
    }
    serde_json::from_slice(&bytes).map_err(|e| ReadError::Format {
        path: shown,
        problem: e.to_string(),
    })
}
