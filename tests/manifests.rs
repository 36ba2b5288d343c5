//! Every `api-cannon` command line in the shipped Kubernetes manifests and the CI example
//! parses with the real binary: `run` lines with `--dry-run` (which validates everything and
//! sends nothing), `merge` and `compare` lines up to `--help`.

mod support;

use std::path::Path;

use support::{TempDir, cannon};

const FILES: [&str; 3] = [
    "deploy/kubernetes/shards-job.yaml",
    "deploy/kubernetes/merge-job.yaml",
    "examples/ci/github-actions.yml",
];

/// Splits a shell command line into words (single and double quotes, no expansion).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// The `api-cannon ...` lines of a file, with the variables a runner would set.
fn command_lines(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|line| {
            line.find("api-cannon run ")
                .or_else(|| line.find("api-cannon merge "))
                .or_else(|| line.find("api-cannon compare "))
                .map(|at| &line[at..])
        })
        .map(|line| {
            let line = line
                .replace("${JOB_COMPLETION_INDEX}", "0")
                .replace("${{ matrix.shard }}", "0")
                .replace("\"$GITHUB_STEP_SUMMARY\"", "summary.md");
            // The command ends where the shell's redirections and pipes begin.
            words(&line)
                .into_iter()
                .take_while(|w| !matches!(w.as_str(), ">" | ">>" | "|" | "&&"))
                .collect()
        })
        .collect()
}

fn configmap_targets() -> String {
    let yaml = std::fs::read_to_string("deploy/kubernetes/configmap.yaml").unwrap();
    let body = yaml
        .split("targets.toml: |\n")
        .nth(1)
        .expect("the ConfigMap holds targets.toml");
    body.lines()
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_command_in_the_manifests_and_the_ci_example_parses() {
    let dir = TempDir::new("manifests");
    dir.write(
        "targets.toml",
        &std::fs::read_to_string("targets.toml").unwrap(),
    );
    let config = dir.write("config-targets.toml", &configmap_targets());
    let mut checked = 0;
    for file in FILES {
        for mut args in command_lines(Path::new(file)) {
            assert_eq!(args.remove(0), "api-cannon");
            for arg in &mut args {
                *arg = arg
                    .replace("/config/targets.toml", config.to_str().unwrap())
                    .replace("/results/", "");
            }
            let mut command = cannon();
            command.current_dir(dir.path()).args(&args);
            match args[0].as_str() {
                "run" => command.arg("--dry-run"),
                _ => command.arg("--help"),
            };
            let output = command.output().unwrap();
            assert!(
                output.status.success(),
                "{file}: `api-cannon {}` does not parse:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
            if args[0] == "run" {
                assert!(String::from_utf8_lossy(&output.stdout).contains("nothing was sent"));
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "found only {checked} command lines");
}

#[test]
fn the_word_splitter_handles_quotes() {
    assert_eq!(words("a 'b c' \"d e\" f"), ["a", "b c", "d e", "f"]);
}

/// Every targets file a user is pointed at (the root targets.toml, examples/*.toml) loads
/// and validates: a key renamed in the code cannot leave an example behind.
#[test]
fn every_example_targets_file_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("targets.toml")];
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    assert!(files.len() >= 3, "{files:?}");
    for file in files {
        let output = cannon()
            .args(["run", "--dry-run", "--targets"])
            .arg(&file)
            .env("EXAMPLE_TOKEN", "t0ken")
            // The demo's (the AWS documentation's example) keys, as every-field.toml says.
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            )
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
