//! `api-cannon init [URL...]`: a commented targets.toml to start from, one target per URL
//! (the demo's hello when none is given), that loads as it is written.

use std::fmt::Write as _;
use std::path::Path;

use http::Uri;

use super::AppError;

/// Where the demo serves (`api-cannon demo --serve`): the URL when none is given.
const DEMO_URL: &str = "http://127.0.0.1:8787/hello";

/// Writes the file at `path` for `urls`; refuses to replace one unless `force`.
pub(super) fn init(urls: &[String], path: &Path, force: bool) -> Result<u8, AppError> {
    let urls = urls
        .iter()
        .map(|url| match crate::targets::parse_url(url) {
            Ok(uri) => Ok((url.clone(), uri)),
            Err(why) => Err(AppError::Usage(format!("init: URL `{url}`: {why}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if path.exists() && !force {
        return Err(AppError::Usage(format!(
            "init: {} exists: pass --force to replace it, or -o to write another file",
            path.display()
        )));
    }
    let text = targets_file(&urls, &path.display().to_string());
    std::fs::write(path, text)
        .map_err(|e| AppError::Usage(format!("init: cannot write {}: {e}", path.display())))?;
    crate::say!("wrote {}; check it with:", path.display());
    crate::say!("  api-cannon run --targets {} --dry-run", path.display());
    crate::say!("then fire with:");
    crate::say!("  api-cannon run --targets {} -n 100 -c 5", path.display());
    Ok(0)
}

/// The file's text: comments that say how to use it, `[defaults]`, a target per URL (as
/// written, and parsed), and a flow and more keys left commented.
fn targets_file(urls: &[(String, Uri)], shown_path: &str) -> String {
    let given = !urls.is_empty();
    let demo = [(DEMO_URL.to_owned(), Uri::from_static(DEMO_URL))];
    let urls = if given { urls } else { &demo[..] };
    let mut out = format!(
        "# Targets for api-cannon. Check:  api-cannon run --targets {shown_path} --dry-run\n\
         #                        Fire:   api-cannon run --targets {shown_path} -n 100 -c 5\n\
         # Every key, with its default: examples/every-field.toml and the README's \"targets.toml\".\n\
         {demo_note}\n\
         [defaults]                       # applies to every target; each target may override it\n\
         timeout = \"10s\"                  # per request, connection set-up included\n\
         # headers = {{ Authorization = \"Bearer ${{API_TOKEN}}\" }}   # ${{VAR}}: from the environment, never written\n\
         # expect_status = [200, 201]     # statuses that count as ok (default: any 2xx)\n\
         \n\
         [defaults.thresholds]            # checked after the run: a failure exits 1 (CI gates)\n\
         p99 = \"<1s\"\n\
         error_rate = \"<1%\"\n",
        demo_note = match given {
            false => "# No URL was given: this one is the demo's (api-cannon demo --serve).\n",
            true => "",
        }
    );
    let mut names: Vec<String> = Vec::new();
    for (url, uri) in urls {
        let name = unique(name_for(uri), &names);
        let _ = write!(
            out,
            "\n[[target]]\nname = {}\nurl = {}\n\
             # method = \"POST\"\n\
             # body = '{{\"name\": \"load-{{{{seq}}}}\"}}'   # templates: {{{{seq}}}} {{{{uuid}}}} {{{{random(1,100)}}}} ...\n",
            quoted(&name),
            quoted(url)
        );
        names.push(name);
    }
    let origin = origin_of(&urls[0].1);
    let _ = write!(
        out,
        "\n# A flow: steps in order per iteration; a step captures values for the next.\n\
         # [[flow]]\n\
         # name = \"create-then-read\"\n\
         # [[flow.step]]\n\
         # name = \"create\"\n\
         # method = \"POST\"\n\
         # url = \"{origin}/items\"\n\
         # body = '{{\"name\": \"load-{{{{seq}}}}\"}}'\n\
         # capture = {{ id = \"/id\" }}         # a JSON pointer into the body, or \"header:Name\"\n\
         # [[flow.step]]\n\
         # name = \"read\"\n\
         # url = \"{origin}/items/{{{{id}}}}\"\n"
    );
    out
}

/// A name from the URL's last path segment, else its host (`hello`, `api.test`).
fn name_for(uri: &Uri) -> String {
    let last = uri.path().split('/').rfind(|p| !p.is_empty());
    last.or(uri.host()).unwrap_or("target").to_owned()
}

/// `name`, or `name-2`, `name-3`... when taken.
fn unique(name: String, taken: &[String]) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2..)
        .map(|n| format!("{name}-{n}"))
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or(name)
}

/// `scheme://authority` of a URL.
fn origin_of(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => uri.to_string(),
    }
}

/// A TOML basic string, escaped.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_written_file_loads_as_it_is() {
        let urls = [
            "http://127.0.0.1:8787/hello".to_owned(),
            "https://api.test/v1/users?x=1".to_owned(),
            "https://api.test/v2/users".to_owned(),
        ];
        let parsed: Vec<(String, Uri)> = urls
            .iter()
            .map(|u| (u.clone(), crate::targets::parse_url(u).expect("valid")))
            .collect();
        for urls in [&parsed[..], &[]] {
            let text = targets_file(urls, "targets.toml");
            let lookup = |_: &str| None;
            let targets = crate::targets::parse_file(
                &text,
                Path::new("targets.toml"),
                std::time::Duration::from_secs(30),
                &lookup,
            )
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
            assert_eq!(targets.len(), urls.len().max(1), "{text}");
            assert!(text.lines().all(|l| l.chars().count() <= 110), "{text}");
        }
    }

    #[test]
    fn names_come_from_the_last_segment_and_stay_unique() {
        let name = |url: &str| name_for(&crate::targets::parse_url(url).expect("valid"));
        assert_eq!(name("http://h:1/a/hello?x=1"), "hello");
        assert_eq!(name("https://user:pw@api.test"), "api.test");
        assert_eq!(name("http://h:1"), "h");
        assert_eq!(unique("users".into(), &["users".into()]), "users-2");
    }

    #[test]
    fn the_demo_note_is_for_when_no_url_was_given_not_for_the_demo_url() {
        let note = "No URL was given";
        assert!(targets_file(&[], "t.toml").contains(note));
        let demo = [(DEMO_URL.to_owned(), Uri::from_static(DEMO_URL))];
        assert!(!targets_file(&demo, "t.toml").contains(note));
    }
}
