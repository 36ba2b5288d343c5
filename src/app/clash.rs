//! Output paths that name one file twice: `-o X --report X` would overwrite the results
//! with HTML (and the summary would still say "results: X"). Refused before anything is
//! sent, as a usage error.

use std::path::{Path, PathBuf};

use crate::cli::OutputArgs;

/// The files a run writes, by flag.
pub(super) fn run_files(output: &OutputArgs) -> [(&'static str, Option<&Path>); 5] {
    [
        ("--output", output.output.as_deref()),
        ("--report", output.report.as_deref()),
        ("--junit", output.junit.as_deref()),
        ("--markdown", output.markdown.as_deref()),
        ("--log-requests", output.log_requests.as_deref()),
    ]
}

/// The same file however it was written: the folder resolved (links, `..`), the name kept.
/// A folder that does not exist yet is compared as written, made absolute.
fn identity(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    if let Ok(resolved) = std::fs::canonicalize(&absolute) {
        return resolved;
    }
    match (absolute.parent(), absolute.file_name()) {
        (Some(folder), Some(name)) => std::fs::canonicalize(folder)
            .map(|f| f.join(name))
            .unwrap_or(absolute),
        _ => absolute,
    }
}

/// An error naming both flags when two of them name the same file; `-` (stdout) is no file.
pub(super) fn check_distinct(flags: &[(&'static str, Option<&Path>)]) -> Result<(), String> {
    let files: Vec<(&str, &Path, PathBuf)> = flags
        .iter()
        .filter_map(|&(flag, path)| Some((flag, path?)))
        .filter(|(_, path)| *path != Path::new("-"))
        .map(|(flag, path)| (flag, path, identity(path)))
        .collect();
    for (i, (flag, path, same)) in files.iter().enumerate() {
        if let Some((other, _, _)) = files[..i].iter().find(|(_, _, seen)| seen == same) {
            return Err(format!(
                "{other} and {flag} both name {}: each output needs a file of its own",
                path.display()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn output(args: &[&str]) -> OutputArgs {
        let mut argv = vec!["api-cannon", "run", "http://h/"];
        argv.extend_from_slice(args);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Run(run) => run.output,
            _ => unreachable!("a run command"),
        }
    }

    #[test]
    fn two_flags_naming_one_file_are_refused_however_it_is_written() {
        let here = std::env::current_dir().expect("a working folder");
        let dotted = format!("{}/./x.json", here.display());
        for args in [
            vec!["-o", "x.json", "--report", "x.json"],
            vec!["-o", "x.json", "--junit", &dotted],
            vec!["--markdown", "s.md", "--log-requests", "./s.md"],
        ] {
            let error = check_distinct(&run_files(&output(&args))).expect_err("a clash");
            assert!(error.contains("both name"), "{error}");
        }
        let fine = |args: &[&str]| check_distinct(&run_files(&output(args))).is_ok();
        assert!(fine(&["-o", "-", "--report", "r.html"]));
        assert!(fine(&["-o", "x.json", "--report", "x.html"]));
    }
}
