//! The code's layout follows the data flow, and stays that way: this test reads `src/` and fails
//! on an import against the flow, an import cycle between modules, a file over 700 lines of
//! code outside its tests, or a file that does not say what it owns in its first lines.
//!
//! Stages, lowest first; a module may import its own stage and any lower one:
//! `model` < `telemetry`, `error` < `config` < `source` < `state`, `sink` < `core` < `admin`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const STAGES: [(&str, u8); 9] = [
    ("model", 0),
    ("telemetry", 1),
    ("error", 1),
    ("config", 2),
    ("source", 3),
    ("state", 4),
    ("sink", 4),
    ("core", 5),
    ("admin", 6),
];

const MAX_CODE_LINES: usize = 700;

fn rank(stage: &str) -> u8 {
    STAGES
        .iter()
        .find(|(s, _)| *s == stage)
        .unwrap_or_else(|| panic!("module `{stage}` has no stage in tests/layout.rs"))
        .1
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/core/router/mod.rs` -> `["core", "router"]`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix("src").unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The lines of code outside `#[cfg(test)]` items and comments. A test module declared in a
/// file of its own (`#[cfg(test)] mod tests;`) is skipped and counting goes on; an inline one
/// ends the file's code.
fn code_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t == "#[cfg(test)]" && !line.starts_with(' ') {
            if lines.peek().is_some_and(|next| next.trim().ends_with(';')) {
                lines.next();
                continue;
            }
            break; // the file's tests follow
        }
        if !t.is_empty() && !t.starts_with("//") {
            out.push(line);
        }
    }
    out
}

/// The `crate::a::b` paths named in `code`, as `(a, b)` (`b` empty when `a` is a file).
fn crate_paths(code: &[&str]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for line in code {
        for (i, _) in line.match_indices("crate::") {
            let rest = &line[i + "crate::".len()..];
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            };
            let first = ident(rest);
            let second = rest[first.len()..]
                .strip_prefix("::")
                .map(ident)
                .unwrap_or_default();
            if !first.is_empty() {
                out.insert((first, second));
            }
        }
    }
    out
}

#[test]
fn imports_follow_the_data_flow_without_cycles_and_files_stay_small() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    files.sort();
    let mut problems = Vec::new();
    // Second-level modules of each stage and what they import within the stage.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let folders: BTreeSet<String> = files
        .iter()
        .filter_map(|f| {
            let m = module_of(f);
            (m.len() >= 2).then(|| format!("{}::{}", m[0], m[1]))
        })
        .collect();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.display().to_string();
        if !text.starts_with("//!") {
            problems.push(format!(
                "{name}: does not open with a //! doc saying what it owns"
            ));
        }
        let module = module_of(file);
        // Test-only modules (`#[cfg(test)] mod tests;`) count as tests.
        if module.last().is_some_and(|m| m == "tests") {
            continue;
        }
        let code = code_lines(&text);
        if code.len() > MAX_CODE_LINES {
            problems.push(format!(
                "{name}: {} lines of code outside its tests (at most {MAX_CODE_LINES}): split it by job",
                code.len()
            ));
        }
        if module
            .first()
            .is_some_and(|m| m == "bin" || m == "main" || m == "lib")
        {
            continue;
        }
        let stage = &module[0];
        let from = match module.get(1) {
            Some(second) if folders.contains(&format!("{stage}::{second}")) => {
                format!("{stage}::{second}")
            }
            _ => stage.clone(),
        };
        for (to_stage, to_second) in crate_paths(&code) {
            if to_stage != *stage {
                if rank(&to_stage) >= rank(stage) {
                    problems.push(format!(
                        "{name}: imports crate::{to_stage} ({stage} may only import lower stages)"
                    ));
                }
                continue;
            }
            let to = if folders.contains(&format!("{to_stage}::{to_second}")) {
                format!("{to_stage}::{to_second}")
            } else {
                to_stage.clone()
            };
            if to != from {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    // A cycle between modules of one stage.
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(i) = path.iter().position(|p| p == node) {
            cycles.push(format!("{} -> {node}", path[i..].join(" -> ")));
            return;
        }
        if !done.insert(node.to_string()) {
            return;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            visit(next, edges, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        visit(node, &edges, &mut Vec::new(), &mut done, &mut cycles);
    }
    for c in cycles {
        problems.push(format!("import cycle: {c}"));
    }
    assert!(
        problems.is_empty(),
        "the layout drifted:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_checker_sees_paths_and_skips_tests_and_comments() {
    let text = "//! doc\n#[cfg(test)]\nmod tests;\nuse crate::core::router::Router;\n// crate::admin::x in a comment\nfn f() { crate::model::naming::fnv1a(b\"\"); }\n#[cfg(test)]\nmod tests { use crate::admin::check; }\n";
    let code = code_lines(text);
    assert_eq!(
        code.len(),
        2,
        "counting goes on past `mod tests;`: {code:?}"
    );
    let paths = crate_paths(&code);
    assert_eq!(
        paths,
        BTreeSet::from([
            ("core".to_string(), "router".to_string()),
            ("model".to_string(), "naming".to_string())
        ])
    );
    assert_eq!(
        module_of(Path::new("src/core/router/mod.rs")),
        ["core", "router"]
    );
}
