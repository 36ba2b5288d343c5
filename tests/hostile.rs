//! What a hostile set-up tried (issue 12), each kept found by a test named after what it
//! protects.

mod support;

use support::{TempDir, cannon, demo};

#[test]
fn a_seventy_thousand_character_name_is_shown_not_a_panic() {
    let server = demo();
    let dir = TempDir::new("long-name");
    let name = "n".repeat(70_000);
    let targets = dir.write(
        "targets.toml",
        &format!(
            "[[target]]\nname = \"{name}\"\nurl = \"{}/hello\"\n",
            server.base_url()
        ),
    );
    let path = targets.to_str().expect("UTF-8");
    for extra in [&["--dry-run"][..], &["-o", "out.json"]] {
        let output = cannon()
            .current_dir(dir.path())
            .args(["run", "--targets", path, "-n", "2"])
            .args(extra)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{extra:?}: {}",
            &stderr[..stderr.len().min(300)]
        );
        let shown = String::from_utf8_lossy(&output.stdout) + stderr;
        assert!(shown.contains(&name), "{extra:?}: the name is shown whole");
    }
}
