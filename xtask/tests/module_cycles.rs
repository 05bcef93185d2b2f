//! No cycles between the top-level modules of `wayfinder-model`, `wayfinder-compiler`,
//! `wayfinder-controlplane` and `terraform-provider-wayfinder`.
//!
//! A module's dependencies are read from its source: every `crate::NAME` outside comments
//! (in `use` lines, inline paths and serde attribute strings alike), and every name in a
//! grouped `use crate::{a, b::c}`. A top-level module is a file or a directory under `src/`;
//! the files of a directory module are one module. `lib.rs` and `main.rs` only declare and
//! re-export, so they are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A dependency of one top-level module on another, with where it was first seen.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// Edges that are allowed to close a cycle, each with its reason.
struct Allowed {
    from: &'static str,
    to: &'static [&'static str],
    why: &'static str,
}

/// The model's kind registry: `kinds` names every kind module's spec type and field shape,
/// the `Spec` trait they implement (`object`) and the parser its `Object` enum dispatches to
/// (`parse`), while each of them names its own `KindInfo` from `kinds`. The registry is the one
/// place that lists every kind, so these edges stay; any other edge into a kind module from
/// `kinds`, or any other cycle, fails the test.
const MODEL_REGISTRY: Allowed = Allowed {
    from: "kinds",
    to: &[
        "cloudaccess",
        "cluster",
        "compute",
        "networking",
        "object",
        "org",
        "package",
        "parse",
        "plan",
        "policy",
        "policydelivery",
    ],
    why: "the kind registry names every kind module; see MODEL_REGISTRY",
};

#[test]
fn the_model_has_no_cycle_between_its_modules_beyond_the_kind_registry() {
    assert_no_cycles("model", &[MODEL_REGISTRY]);
}

#[test]
fn the_compiler_has_no_cycle_between_its_modules() {
    assert_no_cycles("compiler", &[]);
}

#[test]
fn the_control_plane_has_no_cycle_between_its_modules() {
    assert_no_cycles("controlplane", &[]);
}

#[test]
fn the_provider_has_no_cycle_between_its_modules() {
    assert_no_cycles("provider", &[]);
}

#[test]
fn the_kind_registry_allowance_names_only_modules_that_exist() {
    let graph = graph_of(&crate_src("model"));
    let kinds = &graph[MODEL_REGISTRY.from];
    for m in MODEL_REGISTRY.to {
        assert!(
            kinds.contains_key(*m),
            "MODEL_REGISTRY allows kinds -> {m}, but kinds does not use crate::{m}: remove it from the list"
        );
    }
}

#[test]
fn dependencies_are_read_from_paths_groups_and_strings_but_not_comments() {
    let text = r##"
        //! See [`crate::doc_only`].
        use crate::a::X;
        use crate::{b, c::{D, E}, self as _};
        /* crate::block_comment */
        #[serde(with = "crate::d::path")]
        fn f() { crate::e::g(); let _ = "x"; } // crate::trailing
        const G: &str = "clusters/*"; let q = '"'; use crate::f::H; // */ crate::no
        const U: &str = "https://x"; use crate::g::I;
        let raw = r#"a "/*" b"#; use crate::h::J;
    "##;
    let deps: Vec<String> = dependencies(text).into_iter().map(|(d, _)| d).collect();
    assert_eq!(deps, ["a", "b", "c", "d", "e", "f", "g", "h"]);
}

#[test]
fn a_cycle_is_reported_with_the_lines_that_make_it() {
    let mut g = Graph::new();
    let mut edge = |a: &str, b: &str| {
        g.entry(a.into())
            .or_default()
            .insert(b.into(), format!("{a}.rs:1"));
    };
    edge("a", "b");
    edge("b", "c");
    edge("c", "a");
    edge("c", "d");
    edge("x", "y");
    let found = cycles(&g, &[]);
    assert_eq!(found, ["a -> b (a.rs:1), b -> c (b.rs:1), c -> a (c.rs:1)"]);
    let allowed = Allowed {
        from: "c",
        to: &["a"],
        why: "test",
    };
    assert!(cycles(&g, &[allowed]).is_empty());
}

fn crate_src(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir)
        .join("src")
}

fn assert_no_cycles(dir: &str, allowed: &[Allowed]) {
    let graph = graph_of(&crate_src(dir));
    assert!(
        graph.len() > 3,
        "read too few modules from {dir}/src: {:?}",
        graph.keys()
    );
    let found = cycles(&graph, allowed);
    let allowances = allowed
        .iter()
        .map(|a| format!("{} -> {} ({})", a.from, a.to.join(", "), a.why))
        .collect::<Vec<_>>();
    assert!(
        found.is_empty(),
        "{dir}: top-level modules depend on each other in a cycle; move the shared items to a module both can use:\n  {}\nallowed: {}",
        found.join("\n  "),
        if allowances.is_empty() {
            "nothing".to_string()
        } else {
            allowances.join("; ")
        }
    );
}

/// The top-level modules under `src` and what each uses.
fn graph_of(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src");
        let first = rel
            .components()
            .next()
            .expect("a path")
            .as_os_str()
            .to_string_lossy()
            .into_owned();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = fs::read_to_string(&file).expect("readable source");
        let deps = graph.entry(module.clone()).or_default();
        for (dep, line) in dependencies(&text) {
            if dep != module {
                deps.entry(dep)
                    .or_insert_with(|| format!("{}:{line}", rel.display()));
            }
        }
    }
    graph
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every top-level module `text` names through `crate::`, in order of first use, with the
/// line (1-based) of that use.
fn dependencies(text: &str) -> Vec<(String, usize)> {
    let code = without_comments(text);
    let mut out: Vec<(String, usize)> = Vec::new();
    let mut add = |name: &str, at: usize| {
        if !name.is_empty() && name != "self" && !out.iter().any(|(n, _)| n == name) {
            let line = code[..at].matches('\n').count() + 1;
            out.push((name.to_string(), line));
        }
    };
    for (at, _) in code.match_indices("crate::") {
        let preceded = code[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if preceded {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c, d::{E, F}}`: the first name of each top-level item.
            let mut depth = 0usize;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        add(ident(&group[i..]), at + "crate::{".len() + i);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            add(ident(rest), at);
        }
    }
    out
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// `text` with `//` and `/* */` comments left out (line breaks kept, so line numbers hold).
/// String and character literals are kept whole, so a `//` or `/*` inside one is not taken
/// for a comment, and a path in a string (a serde attribute) still counts.
fn without_comments(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                let mut depth = 0usize;
                while i < chars.len() {
                    match (chars[i], chars.get(i + 1).copied()) {
                        ('/', Some('*')) => {
                            depth += 1;
                            i += 2;
                        }
                        ('*', Some('/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        ('\n', _) => {
                            out.push('\n');
                            i += 1;
                        }
                        _ => i += 1,
                    }
                }
            }
            ('r', Some('"' | '#')) if i == 0 || !is_ident(chars[i - 1]) => {
                // A raw string: r"…", r#"…"#, …; kept whole.
                let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
                let open = i + 1 + hashes;
                if chars.get(open) != Some(&'"') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let body: String = chars[open + 1..].iter().collect();
                let end = body.find(&close).map_or(chars.len(), |e| {
                    open + 1 + body[..e].chars().count() + close.len()
                });
                out.extend(&chars[i..end]);
                i = end;
            }
            ('"', _) => {
                out.push(c);
                i += 1;
                while i < chars.len() {
                    out.push(chars[i]);
                    match chars[i] {
                        '\\' => {
                            if let Some(&e) = chars.get(i + 1) {
                                out.push(e);
                            }
                            i += 2;
                        }
                        '"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            ('\'', Some(n)) if n == '\\' || chars.get(i + 2) == Some(&'\'') => {
                // A character literal ('"', '\''); a lifetime has no closing quote.
                let end = if n == '\\' {
                    chars[i + 2..]
                        .iter()
                        .position(|c| *c == '\'')
                        .map_or(chars.len(), |p| i + 3 + p)
                } else {
                    i + 3
                };
                out.extend(&chars[i..end.min(chars.len())]);
                i = end;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// One line per cycle among the graph's strongly connected parts, each as the edges of one
/// cycle through the part's first module (by name), with where each edge was seen. Allowed
/// edges are left out before looking.
fn cycles(graph: &Graph, allowed: &[Allowed]) -> Vec<String> {
    let edges: BTreeMap<&str, BTreeSet<&str>> = graph
        .iter()
        .map(|(from, deps)| {
            let kept = deps
                .keys()
                .map(String::as_str)
                .filter(|to| !allowed.iter().any(|a| a.from == from && a.to.contains(to)))
                .collect();
            (from.as_str(), kept)
        })
        .collect();
    let reaches = |start: &str, goal: &str| -> Option<Vec<String>> {
        // Breadth first, so the cycle reported is a shortest one.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(m) = queue.pop_front() {
            for next in edges.get(m).into_iter().flatten().copied() {
                if next == goal {
                    let mut path = vec![m.to_string()];
                    let mut at = m;
                    while at != start {
                        at = came_from[at];
                        path.push(at.to_string());
                    }
                    path.reverse();
                    return Some(path);
                }
                if next != start && !came_from.contains_key(next) {
                    came_from.insert(next, m);
                    queue.push_back(next);
                }
            }
        }
        None
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for &module in edges.keys() {
        if seen.contains(module) {
            continue;
        }
        let Some(path) = reaches(module, module) else {
            continue;
        };
        let text = path
            .iter()
            .enumerate()
            .map(|(i, from)| {
                let to = path.get(i + 1).unwrap_or(&path[0]);
                format!("{from} -> {to} ({})", graph[from][to])
            })
            .collect::<Vec<_>>()
            .join(", ");
        // Every module on a cycle through `module` is reported with it.
        for other in edges.keys() {
            if reaches(module, other).is_some() && reaches(other, module).is_some() {
                seen.insert(other.to_string());
            }
        }
        seen.insert(module.to_string());
        out.push(text);
    }
    out
}
