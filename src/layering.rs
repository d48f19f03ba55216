//! The crate's module graph, checked: which top-level module may use which, as a named
//! table, and no cycles. Read from the sources, so a new `use crate::...` that breaks the
//! layering fails here, whichever file it is in. Test modules (`#[cfg(test)] mod ...`, at the
//! end of a file) are left out: a test may reach further than the code it tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module and the modules it may use. Bottom to top: the leaves, storage,
/// keys and audit, protocol and biometric (pure), flow, http, then config (which only
/// combines the settings each owner declares) and the command line.
const LAYERS: &[(&str, &[&str])] = &[
    ("secret", &[]),
    ("clock", &[]),
    ("canonical", &[]),
    ("ids", &[]),
    ("tenant", &[]),
    ("biometric", &[]),
    ("protocol", &["canonical", "secret", "tenant"]),
    ("store", &["clock", "secret"]),
    ("keys", &["clock", "protocol", "secret", "store"]),
    (
        "audit",
        &["canonical", "clock", "keys", "protocol", "store", "tenant"],
    ),
    (
        "webhook",
        &["canonical", "clock", "ids", "secret", "store", "tenant"],
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
            "protocol",
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
            "secret",
            "store",
            "tenant",
            "webhook",
        ],
    ),
    ("eval", &["biometric"]),
    ("cli", &["*"]),
];

/// The top-level modules each top-level module uses (`crate::x` paths, `use crate::{x, ..}`
/// groups), outside comments and test modules.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let tops: BTreeSet<String> = LAYERS.iter().map(|(m, _)| m.to_string()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let top = first.trim_end_matches(".rs").to_string();
            if !tops.contains(&top) {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let deps = graph.entry(top.clone()).or_default();
            for used in uses(&code_only(&text)) {
                if used != top && tops.contains(&used) {
                    deps.insert(used);
                }
            }
        }
    }
    graph
}

/// The code of a file without comments and without its test module.
fn code_only(text: &str) -> String {
    let end = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
    text[..end]
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
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
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs");
    let lib = std::fs::read_to_string(src).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let table: BTreeSet<&str> = LAYERS.iter().map(|(m, _)| *m).collect();
    assert_eq!(
        declared, table,
        "add the new module to LAYERS, with what it may use"
    );
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
