//! The crate's module graph, checked: which top-level module may use which, as a named
//! table, and no cycles. Read from the sources, so a new `use crate::...` (or a `super::`
//! chain that climbs to the crate root) that breaks the layering fails here, whichever file
//! it is in. Test modules (`#[cfg(test)] mod ...`, inline or in their own file) are left out:
//! a test may reach further than the code it tests. Not seen: paths built by macros.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use. Bottom to top: the leaves, storage,
/// keys and audit, protocol and biometric (pure), flow, http, then config (which only
/// combines the settings each owner declares) and the command line.
const LAYERS: &[(&str, &[&str])] = &[
    ("secret", &[]),
    ("clock", &[]),
    ("canonical", &[]),
    ("ids", &[]),
    ("tenant", &[]),
    ("metrics", &["secret"]),
    ("biometric", &[]),
    ("protocol", &["canonical", "secret", "tenant"]),
    ("store", &["clock", "metrics", "secret"]),
    ("keys", &["clock", "protocol", "secret", "store"]),
    (
        "audit",
        &["canonical", "clock", "keys", "protocol", "store", "tenant"],
    ),
    (
        "webhook",
        &[
            "canonical",
            "clock",
            "ids",
            "metrics",
            "secret",
            "store",
            "tenant",
        ],
    ),
    (
        "flow",
        &[
            "audit",
            "biometric",
            "canonical",
            "clock",
            "ids",
            "keys",
            "metrics",
            "protocol",
            "secret",
            "store",
            "tenant",
            "webhook",
        ],
    ),
    (
        "http",
        &[
            "biometric",
            "clock",
            "flow",
            "keys",
            "metrics",
            "protocol",
            "secret",
            "tenant",
            "webhook",
        ],
    ),
    (
        "config",
        &[
            "audit",
            "biometric",
            "flow",
            "http",
            "keys",
            "metrics",
            "secret",
            "store",
            "tenant",
            "webhook",
        ],
    ),
    ("eval", &["biometric"]),
    ("cli", &["*"]),
];

/// Where a file sits: its top-level module and its module path (`src/audit/witness.rs`:
/// `audit`, depth 2; `src/audit/mod.rs`: depth 1).
fn module_of(rel: &Path) -> (String, usize) {
    let parts: Vec<String> = rel
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    let depth = parts.len() - usize::from(parts.last().is_some_and(|p| p == "mod"));
    (parts[0].clone(), depth)
}

/// Every `.rs` file under `src/`, relative to it.
fn sources() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path.strip_prefix(&src).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn read(rel: &Path) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(rel)).unwrap()
}

/// Files that are test modules of another file (`#[cfg(test)] mod tests;`, with or without
/// `#[path = "..."]`).
fn test_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for rel in files {
        let text = read(rel);
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for (i, l) in lines.iter().enumerate() {
            if *l != "#[cfg(test)]" {
                continue;
            }
            let mut j = i + 1;
            let mut path = None;
            while let Some(attr) = lines.get(j).and_then(|l| l.strip_prefix("#[")) {
                if let Some(p) = attr.strip_prefix("path = \"") {
                    path = Some(p.trim_end_matches("\"]").to_string());
                }
                j += 1;
            }
            let Some(name) = lines
                .get(j)
                .and_then(|l| l.strip_prefix("mod "))
                .and_then(|n| n.strip_suffix(';'))
            else {
                continue;
            };
            let dir = if rel
                .file_name()
                .is_some_and(|f| f == "mod.rs" || f == "lib.rs")
            {
                rel.parent().unwrap().to_path_buf()
            } else {
                rel.with_extension("")
            };
            out.insert(match path {
                Some(p) => rel.parent().unwrap().join(p),
                None => dir.join(format!("{name}.rs")),
            });
        }
    }
    out
}

/// The top-level modules each top-level module uses (`crate::x` paths, `use crate::{x, ..}`
/// groups, `super::` chains that climb to the crate root, and functions of the crate root,
/// counted as `lib`), outside comments and test modules.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let tops: BTreeSet<String> = LAYERS.iter().map(|(m, _)| m.to_string()).collect();
    let root_items = root_functions();
    let files = sources();
    let tests = test_files(&files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rel in &files {
        let (top, depth) = module_of(rel);
        if !tops.contains(&top) || tests.contains(rel) {
            continue;
        }
        let code = code_only(&read(rel));
        let deps = graph.entry(top.clone()).or_default();
        let mut used = uses(&code);
        used.extend(climbs(&code, depth));
        for u in used {
            if u != top && tops.contains(&u) {
                deps.insert(u);
            } else if root_items.contains(&u) {
                deps.insert("lib".into());
            }
        }
    }
    graph
}

/// The functions defined at the crate root (`lib.rs`), e.g. `namespaces`.
fn root_functions() -> BTreeSet<String> {
    read(Path::new("lib.rs"))
        .lines()
        .filter_map(|l| l.strip_prefix("pub fn "))
        .map(ident)
        .collect()
}

/// Top-level modules reached by `super::` chains at least as long as the file's depth.
fn climbs(code: &str, depth: usize) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("super::") {
        let before = rest[..i].chars().next_back();
        rest = &rest[i..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            rest = &rest["super::".len()..];
            continue;
        }
        let mut n = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            n += 1;
            rest = r;
        }
        if n >= depth {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

/// The code of a file without comments and without its test modules (an inline one is
/// skipped to its closing brace only; code after it is kept).
fn code_only(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            let mut j = i + 1;
            while lines
                .get(j)
                .is_some_and(|l| l.trim_start().starts_with("#["))
            {
                j += 1;
            }
            let mut depth = 0i32;
            let mut opened = false;
            while j < lines.len() {
                for c in lines[j].chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth -= 1,
                        _ => {}
                    }
                }
                let ends = if opened {
                    depth == 0
                } else {
                    lines[j].trim_end().ends_with(';')
                };
                j += 1;
                if ends {
                    break;
                }
            }
            i = j;
            continue;
        }
        if !lines[i].trim_start().starts_with("//") {
            out.push(lines[i]);
        }
        i += 1;
    }
    out.join("\n")
}

/// The first segment of every `crate::` path, including each item of a `crate::{..}` group.
fn uses(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut items = Vec::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if c == ',' && depth == 1 {
                    items.push(std::mem::take(&mut item));
                } else {
                    item.push(c);
                }
            }
            items.push(item);
            out.extend(items.iter().map(|i| ident(i.trim_start())));
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn every_top_level_module_is_in_the_layer_table() {
    let lib = read(Path::new("lib.rs"));
    let lines: Vec<&str> = lib.lines().map(str::trim).collect();
    let declared: BTreeSet<String> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || lines[i - 1] != "#[cfg(test)]")
        .filter_map(|(_, l)| {
            let l = l
                .strip_prefix("pub ")
                .or(l.strip_prefix("pub(crate) "))
                .unwrap_or(l);
            l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
        })
        .collect();
    let table: BTreeSet<String> = LAYERS.iter().map(|(m, _)| m.to_string()).collect();
    assert_eq!(
        declared, table,
        "add the new module to LAYERS, with what it may use"
    );
}

#[test]
fn every_source_file_belongs_to_a_module_of_the_table() {
    let tops: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    let stray: Vec<PathBuf> = sources()
        .into_iter()
        .filter(|rel| {
            let (top, _) = module_of(rel);
            !tops.contains(top.as_str()) && !["lib", "main", "layering"].contains(&top.as_str())
        })
        .collect();
    assert!(
        stray.is_empty(),
        "files outside every checked module: {stray:?}"
    );
}

#[test]
fn the_parser_sees_climbs_to_the_root_but_not_within_a_module() {
    let code = "use super::super::http::AppState;\nuse super::record::Entry;\nlet x = a::super::b;";
    let at_depth_2: Vec<String> = climbs(code, 2).into_iter().collect();
    assert_eq!(at_depth_2, ["http"]);
    let at_depth_1: Vec<String> = climbs(code, 1).into_iter().collect();
    assert_eq!(at_depth_1, ["http", "record"]);
    assert_eq!(
        module_of(Path::new("audit/witness.rs")),
        ("audit".into(), 2)
    );
    assert_eq!(module_of(Path::new("audit/mod.rs")), ("audit".into(), 1));
}

#[test]
fn test_modules_are_skipped_to_their_closing_brace_only() {
    let code = code_only(
        "use crate::store::Kv;\n#[cfg(test)]\nmod tests {\n    fn f() { crate::cli::x(); }\n}\n\
         use crate::keys::KeyRing;\n#[cfg(test)]\n#[path = \"t.rs\"]\nmod t;\nuse crate::clock::Clock;\n",
    );
    let found: Vec<String> = uses(&code).into_iter().collect();
    assert_eq!(found, ["clock", "keys", "store"]);
}

#[test]
fn the_test_files_of_other_files_are_found() {
    let tests = test_files(&sources());
    assert!(
        tests.contains(Path::new("protocol/authorize_tests.rs")),
        "{tests:?}"
    );
    assert!(tests.contains(Path::new("config/tests.rs")), "{tests:?}");
}

#[test]
fn every_module_uses_only_what_its_layer_allows() {
    let allowed: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut broken = Vec::new();
    for (module, deps) in module_graph() {
        let may = allowed[module.as_str()];
        if may == ["*"] {
            continue;
        }
        for d in deps {
            if !may.contains(&d.as_str()) {
                broken.push(format!("{module} -> {d}"));
            }
        }
    }
    assert!(broken.is_empty(), "uses outside the layering: {broken:?}");
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = module_graph();
    // Depth-first search; a node met again while on the path closes a cycle.
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_string());
            return Some(cycle);
        }
        if !done.insert(n.to_string()) {
            return None;
        }
        path.push(n.to_string());
        for d in graph.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for n in graph.keys() {
        let cycle = visit(n, &graph, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}

#[test]
fn the_parser_sees_paths_and_groups_but_not_comments_or_tests() {
    let code = code_only(
        "use crate::store::{Kv, Namespace};\nuse crate::{keys::KeyRing, audit};\n\
         // crate::http in a comment\nfn f() { crate::clock::now(); }\n\
         #[cfg(test)]\nmod tests { use crate::cli; }\n",
    );
    let found: Vec<String> = uses(&code).into_iter().collect();
    assert_eq!(found, ["audit", "clock", "keys", "store"]);
}
