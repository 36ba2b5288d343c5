//! The layering stays visible: read from the `crate::` paths in src/, no two top-level
//! modules import each other, directly or through others, and the leaf vocabulary imports
//! nothing of the project. A module's own files (src/engine/*.rs) count as that module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules every stage may use, which therefore use none: shared words, not stages.
const LEAVES: [&str; 7] = [
    "fit",
    "outcome",
    "server_time",
    "thresholds",
    "signals",
    "rng",
    "timeline",
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/engine/lane.rs` → `engine`); `None` for
/// the crate root and the binary, which may name everything.
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    let name = first.trim_end_matches(".rs");
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// The module names a line of code refers to through `crate::`: `crate::a::b`,
/// `crate::{a, b::c}`. Comments are left out.
fn referred(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or_default();
    let mut names = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = group.split('}').next().unwrap_or_default();
                names.extend(group.split(',').filter_map(first_word));
            }
            None => names.extend(first_word(rest)),
        }
    }
    names
}

fn first_word(text: &str) -> Option<String> {
    let word: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!word.is_empty()).then_some(word)
}

fn graph_of_src() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in &files {
        if let Some(module) = module_of(&src, file) {
            graph.entry(module).or_default();
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).expect("source is UTF-8");
        let used: BTreeSet<String> = text
            .lines()
            .flat_map(referred)
            .filter(|name| *name != module && modules.contains(name))
            .collect();
        graph.entry(module).or_default().extend(used);
    }
    graph
}

/// Every module from which `start` can be reached again, with the path that does it.
fn cycle_through(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![start.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().expect("paths are never empty");
        for next in graph.get(last).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push(longer);
            }
        }
    }
    None
}

fn cycles(graph: &Graph) -> Vec<String> {
    graph
        .keys()
        .filter_map(|m| cycle_through(graph, m))
        .map(|cycle| cycle.join(" → "))
        .collect()
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = graph_of_src();
    assert!(graph.len() > 10, "read the modules: {graph:?}");
    let found = cycles(&graph);
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn the_leaf_vocabulary_imports_nothing_of_the_project() {
    let graph = graph_of_src();
    for leaf in LEAVES {
        let used = graph
            .get(leaf)
            .unwrap_or_else(|| panic!("no module `{leaf}`"));
        assert!(used.is_empty(), "`{leaf}` imports {used:?}");
    }
}

#[test]
fn the_reader_finds_direct_and_indirect_circles() {
    let mut graph = Graph::new();
    for line in [
        ("a", "use crate::b::Thing;"),
        ("b", "use crate::{c, outcome::X}; // crate::a in a comment"),
        ("c", "let x = crate::a::f();"),
        ("d", "use crate::a;"),
    ] {
        graph
            .entry(line.0.to_owned())
            .or_default()
            .extend(referred(line.1));
    }
    assert_eq!(
        referred("use crate::{c, outcome::X}; // crate::a"),
        ["c", "outcome"]
    );
    let found = cycles(&graph);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(found.contains(&"a → b → c → a".to_owned()), "{found:?}");
    graph.get_mut("c").expect("c").clear();
    assert!(cycles(&graph).is_empty());
}
