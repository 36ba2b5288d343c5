//! The HTML report: its structure, and a real render in headless Chromium (installed by
//! .ci/run; without it the browser test is skipped locally, never in CI).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{TempDir, cannon, demo};

fn run_with_report(dir: &TempDir, name: &str, args: &[&str]) -> (serde_json::Value, String) {
    let out = dir.join(&format!("{name}.json"));
    let report = dir.join(&format!("{name}.html"));
    let output = cannon()
        .arg("run")
        .args(args)
        .arg("-q")
        .arg("-o")
        .arg(&out)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    (json, std::fs::read_to_string(&report).unwrap())
}

/// The five demo functions, each reporting its own time (Server-Timing `handler`).
fn slipspace_targets(dir: &TempDir, base: &str) -> PathBuf {
    let targets: String = ["rust", "go", "kotlin", "fsharp", "csharp"]
        .iter()
        .map(|n| format!("[[target]]\nname = \"{n}\"\nurl = \"{base}/slipspace/{n}\"\n"))
        .collect();
    let text = format!("[defaults]\nserver_time = \"server-timing:handler\"\n{targets}");
    dir.write("targets.toml", &text)
}

/// Charts of a report of the five demo functions: one per endpoint, every endpoint's
/// mean, the spectrum, and per endpoint the server side over time and by percentile.
const FIVE_FUNCTION_CHARTS: usize = 5 + 2 + 5 * 2;

#[test]
fn the_report_is_one_self_contained_page_with_every_section() {
    let server = demo();
    let dir = TempDir::new("report");
    let targets = slipspace_targets(&dir, &server.base_url());
    let (json, html) = run_with_report(
        &dir,
        "run",
        &[
            "--targets",
            targets.to_str().unwrap(),
            "-n",
            "8",
            "-c",
            "2",
            "--sleep",
            "20ms",
        ],
    );
    for section in [
        "<h2>Endpoints</h2>",
        "<h2>Latency over time</h2>",
        "<h2>Latency distribution</h2>",
        "<h2>Statuses and errors</h2>",
        "<h2>Slowest requests</h2>",
        "<h2>Where the time went</h2>",
        "<h2>Cold starts</h2>",
    ] {
        assert!(html.contains(section), "missing {section}");
    }
    // Self-contained: nothing is fetched from anywhere.
    for external in ["src=\"http", "href=\"http", "<link ", "@import", "src=\"//"] {
        assert!(!html.contains(external), "external reference {external}");
    }
    // One chart per endpoint, every endpoint's mean, and the spectrum, each with data.
    assert_eq!(
        html.matches("<figure class=\"chart\"").count(),
        FIVE_FUNCTION_CHARTS
    );
    assert!(html.matches("<polyline").count() >= FIVE_FUNCTION_CHARTS * 2);
    // Every endpoint's first requests start cold: ringed on its chart, listed with its ID.
    assert!(
        html.matches("<circle").count() >= 5 * 2,
        "cold starts ringed"
    );
    let cold_rows = html
        .split("<h2>Cold starts</h2>")
        .nth(1)
        .unwrap_or_default();
    let first_id = json["endpoints"][0]["cold_starts"]["events"][0]["request_id"]
        .as_str()
        .expect("the demo sends request IDs");
    assert!(cold_rows.contains(first_id), "cold start {first_id} listed");
    assert!(html.contains("<dt>server p50</dt>") && html.contains("<dt>cold starts</dt>"));
    for e in json["endpoints"].as_array().unwrap() {
        let tile = format!(
            "data-endpoint=\"{}\" data-requests=\"{}\"",
            e["name"].as_str().unwrap(),
            e["requests"]
        );
        assert!(html.contains(&tile), "no call-out for {tile}");
    }
    assert!(html.len() < 1_000_000);
}

#[test]
fn several_files_are_overlaid_with_their_labels() {
    let server = demo();
    let dir = TempDir::new("report-overlay");
    let (hello, slow) = (server.url("/hello"), server.url("/delay/1ms"));
    let (_, _) = run_with_report(&dir, "a", &[hello.as_str(), &slow, "-n", "5"]);
    let (_, _) = run_with_report(&dir, "b", &[hello.as_str(), &slow, "-n", "5"]);
    let out = dir.join("both.html");
    let status = cannon()
        .args(["report", "--label", "before", "--label", "after"])
        .arg(dir.join("a.json"))
        .arg(dir.join("b.json"))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let html = std::fs::read_to_string(&out).unwrap();
    // One group per endpoint, holding that endpoint's tile of each run and no other.
    for url in [&hello, &slow] {
        let name = url.trim_start_matches("http://");
        let group = html
            .split(&format!("<div class=\"tile-group\" data-group=\"{name}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("no group for {name}"));
        // A tile ends its list and itself; the group closes right after its last tile.
        let group = group
            .split("</dl></div>\n</div>\n")
            .next()
            .unwrap_or_default();
        let tiles: Vec<&str> = group
            .split("data-endpoint=\"")
            .skip(1)
            .map(|t| t.split('"').next().unwrap_or_default())
            .collect();
        assert_eq!(
            tiles,
            [format!("before · {name}"), format!("after · {name}")],
            "{group}"
        );
    }
    assert!(html.contains("<ul class=\"legend\">"));
}

/// Two runs of one endpoint, the second with a burst every 300 ms (buckets with no request
/// between bursts), overlaid: tiles side by side, and the second run's lines broken at
/// its gaps. Returns the report's path.
fn two_run_overlay(dir: &TempDir, url: &str) -> PathBuf {
    run_with_report(dir, "steady", &[url, "-n", "20", "--sleep", "20ms"]);
    run_with_report(
        dir,
        "bursts",
        &[url, "--every", "300ms", "-n", "4", "-c", "2"],
    );
    let out = dir.join("overlay.html");
    let status = cannon()
        .args(["report", "--label", "steady", "--label", "bursts"])
        .arg(dir.join("steady.json"))
        .arg(dir.join("bursts.json"))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    out
}

/// The figure of `caption` in a report's HTML.
fn figure_of<'a>(html: &'a str, caption: &str) -> &'a str {
    let start = format!("<figure class=\"chart\" data-caption=\"{caption}\">");
    let figure = html
        .split(&start)
        .nth(1)
        .unwrap_or_else(|| panic!("no figure {caption}"));
    figure.split("</figure>").next().unwrap_or_default()
}

#[test]
fn gaps_between_bursts_are_drawn_as_gaps() {
    let server = demo();
    let dir = TempDir::new("report-gaps");
    let url = server.url("/hello");
    let html = std::fs::read_to_string(two_run_overlay(&dir, &url)).unwrap();
    let name = url.trim_start_matches("http://");
    let steady = figure_of(&html, &format!("steady · {name}"));
    let bursts = figure_of(&html, &format!("bursts · {name}"));
    // Four lines (max, p99, mean, min) on two scales: one piece each when there is no gap.
    let pieces = |svg: &str| svg.matches("<polyline").count() + svg.matches("<circle").count();
    assert!(
        pieces(bursts) >= 2 * 4 * 4,
        "every line broken at the three gaps: {}",
        pieces(bursts)
    );
    assert!(pieces(steady) < pieces(bursts));
}

#[test]
fn incomplete_and_error_only_runs_render_with_a_note() {
    let server = demo();
    let dir = TempDir::new("report-notes");
    let refused = format!("http://127.0.0.1:{}/", support::refused_port());
    let (_, html) = run_with_report(&dir, "errors", &[refused.as_str(), "-n", "3"]);
    assert!(html.contains("no timed response to draw"), "error-only run");
    let failing = server.url("/status/500");
    let (json, html) = run_with_report(
        &dir,
        "stopped",
        &[
            failing.as_str(),
            "-n",
            "100000",
            "--sleep",
            "10ms",
            "--threshold",
            "errors<2",
            "--fail-fast",
        ],
    );
    assert_eq!(json["run"]["complete"], false);
    assert!(
        html.contains("Incomplete run: it was stopped by threshold"),
        "interrupted run"
    );
}

/// Chromium, if installed.
fn chromium() -> Option<PathBuf> {
    let candidates = [
        std::env::var("API_CANNON_CHROMIUM").ok(),
        Some("/usr/bin/chromium".into()),
        Some("/usr/bin/chromium-browser".into()),
    ];
    candidates
        .into_iter()
        .flatten()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Renders `page` headless: (DOM after scripts ran, console messages); writes a screenshot.
fn render(chrome: &Path, page: &Path, screenshot: &Path, profile: &Path) -> (String, Vec<String>) {
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1100,2400",
    ];
    let url = format!("file://{}", page.display());
    let shot = Command::new(chrome)
        .args(flags)
        .arg(format!(
            "--user-data-dir={}",
            profile.join("shot").display()
        ))
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(&url)
        .output()
        .expect("chromium starts");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = Command::new(chrome)
        .args(flags)
        .arg(format!("--user-data-dir={}", profile.join("dom").display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium starts");
    let console: Vec<String> = [&shot.stderr, &dom.stderr]
        .iter()
        .flat_map(|err| {
            String::from_utf8_lossy(err)
                .lines()
                .filter(|l| l.contains(":CONSOLE"))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    (String::from_utf8_lossy(&dom.stdout).into_owned(), console)
}

#[test]
fn the_report_renders_in_a_real_browser() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have Chromium: .ci/run installs it"
        );
        eprintln!("skipped: Chromium is not installed (apt-get install chromium, or run .ci/run)");
        return;
    };
    let server = demo();
    let dir = TempDir::new("report-browser");
    let targets = slipspace_targets(&dir, &server.base_url());
    let (json, _) = run_with_report(
        &dir,
        "demo",
        &[
            "--targets",
            targets.to_str().unwrap(),
            "-n",
            "10",
            "-c",
            "3",
            "--sleep",
            "30ms",
        ],
    );
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&artifacts).unwrap();
    let screenshot = artifacts.join("report.png");
    let (dom, console) = render(&chrome, &dir.join("demo.html"), &screenshot, dir.path());
    eprintln!("report screenshot: {}", screenshot.display());
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        std::fs::metadata(&screenshot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "no screenshot"
    );
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_default()
        .to_owned();
    assert!(
        body.contains(&format!("data-charts-drawn=\"{FIVE_FUNCTION_CHARTS}\""))
            && body.contains(&format!("data-charts=\"{FIVE_FUNCTION_CHARTS}\"")),
        "charts not drawn: <body{body}>"
    );
    for e in json["endpoints"].as_array().unwrap() {
        let tile = format!(
            "data-endpoint=\"{}\" data-requests=\"{}\" data-p99=\"{}\"",
            e["name"].as_str().unwrap(),
            e["requests"],
            e["latency_ms"]["p99"]
        );
        assert!(
            dom.contains(&tile),
            "call-out differs from the JSON: {tile}"
        );
    }

    // Two runs overlaid: every chart still draws, the endpoint's tiles stand side by
    // side, and the bursty run's lines are broken at its gaps, not drawn across them.
    let url = server.url("/hello");
    let overlay = two_run_overlay(&dir, &url);
    let shot = artifacts.join("overlay.png");
    let (dom, console) = render(&chrome, &overlay, &shot, &dir.join("overlay-profile"));
    assert!(console.is_empty(), "console messages: {console:#?}");
    let body = dom
        .split("<body")
        .nth(1)
        .and_then(|b| b.split('>').next())
        .unwrap_or_default();
    let attribute = |name: &str| {
        let after = body
            .split(&format!(" {name}=\""))
            .nth(1)
            .unwrap_or_default();
        after.split('"').next().unwrap_or_default().to_owned()
    };
    let (charts, drawn) = (attribute("data-charts"), attribute("data-charts-drawn"));
    assert!(
        !charts.is_empty() && charts == drawn,
        "charts not all drawn: <body{body}>"
    );
    let name = url.trim_start_matches("http://");
    let group = dom
        .split(&format!("data-group=\"{name}\""))
        .nth(1)
        .unwrap_or_default();
    let group = group.split("<h2>").next().unwrap_or_default();
    assert!(
        group.contains("steady · ") && group.contains("bursts · "),
        "{group}"
    );
    let bursts = figure_of(&dom, &format!("bursts · {name}"));
    let pieces = bursts.matches("<polyline").count() + bursts.matches("<circle").count();
    assert!(
        pieces >= 2 * 4 * 4,
        "the bursty run's lines are one piece per burst: {pieces}"
    );
}

#[test]
fn a_three_day_five_endpoint_report_stays_under_a_megabyte() {
    let server = demo();
    let dir = TempDir::new("report-size");
    let targets = slipspace_targets(&dir, &server.base_url());
    let (mut json, _) = run_with_report(
        &dir,
        "short",
        &["--targets", targets.to_str().unwrap(), "-n", "3", "-c", "3"],
    );
    // Stretch the timelines to a three-day run's: 1,000 buckets of 259.2 s per endpoint.
    for e in json["endpoints"].as_array_mut().unwrap() {
        e["timeline_bucket_s"] = 259.2.into();
        e["timeline"] = (0..1_000)
            .map(|i| {
                let spike = if i % 97 == 0 { 1_400.0 } else { 0.0 };
                serde_json::json!({"t_s": i as f64 * 259.2, "requests": 150, "errors": 0, "min_ms": 5.1,
                    "mean_ms": 8.0 + (i % 7) as f64, "p99_ms": 20.0 + spike, "max_ms": 30.0 + spike})
            })
            .collect();
    }
    let long = dir.write("long.json", &json.to_string());
    let out = dir.join("long.html");
    assert!(
        cannon()
            .arg("report")
            .arg(&long)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    let size = std::fs::metadata(&out).unwrap().len();
    assert!(size < 1_000_000, "{size} bytes");
}

#[test]
fn a_flow_is_shown_as_a_flow_and_not_ranked_against_single_requests() {
    let server = demo();
    let dir = TempDir::new("report-flow");
    let toml = format!(
        "[[target]]\nname = \"hello\"\nurl = \"{base}/hello\"\n\
         [[flow]]\nname = \"slow\"\n\
         [[flow.step]]\nname = \"a\"\nurl = \"{base}/delay/5ms\"\n\
         [[flow.step]]\nname = \"b\"\nurl = \"{base}/delay/5ms\"\n",
        base = server.base_url()
    );
    let targets = dir.write("targets.toml", &toml);
    let (_, page) = run_with_report(
        &dir,
        "flow",
        &["--targets", targets.to_str().unwrap(), "-n", "5"],
    );
    assert!(
        page.contains("3 endpoints and 1 flow"),
        "the header counts them apart"
    );
    let tile = |name: &str| {
        let at = page.find(&format!("data-endpoint=\"{name}\"")).unwrap();
        page[at..at + page[at..].find("</div></div>").unwrap_or(400)].to_owned()
    };
    // The flow's 10 ms end to end would otherwise be the "highest p99".
    assert!(
        tile("slow").contains("flow, end to end"),
        "{}",
        tile("slow")
    );
    assert!(!page.contains("tile worst\" data-endpoint=\"slow\""));
    // Requests are still ranked among themselves (which one is slowest is up to timing).
    assert_eq!(page.matches("tile worst\"").count(), 1);
}

#[test]
fn a_skipped_step_says_so_and_a_failing_one_is_not_ranked() {
    let server = demo();
    let dir = TempDir::new("report-skipped");
    let toml = format!(
        "[[target]]\nname = \"hello\"\nurl = \"{base}/hello\"\n\
         [[flow]]\nname = \"broken\"\n\
         [[flow.step]]\nname = \"fails\"\nurl = \"{base}/status/500\"\n\
         [[flow.step]]\nname = \"never\"\nurl = \"{base}/hello\"\n",
        base = server.base_url()
    );
    let targets = dir.write("targets.toml", &toml);
    let (_, page) = run_with_report(
        &dir,
        "skipped",
        &["--targets", targets.to_str().unwrap(), "-n", "3"],
    );
    assert!(
        page.contains("broken/never: nothing was sent: all 3 skipped"),
        "the chart note says why"
    );
    assert!(page.contains("skipped×3"));
    // A step whose every response failed is not the "lowest p99".
    let at = page.find("data-endpoint=\"broken/fails\"").unwrap();
    assert!(page[at..at + 400].contains("no ok response"));
}
