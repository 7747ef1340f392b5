//! Repository rules, checked by a test rather than by reviewers.
//!
//! - `rook-config` depends on no other Rook crate; `rook-registry` only on
//!   `rook-config` (for the entity rules); the other leaves (protocol, routing,
//!   resilience, observability) on none; `rook-admin` only on config and
//!   registry; the binaries only on the gateway. `rook-protocol` depends on
//!   serde, serde_json, bytes and base64 only.
//! - `sqlx` only in `rook-registry`, `figment` only in `rook-config`, the Prometheus
//!   exporter and tracing-subscriber only in `rook-observability`, the HTTP stack
//!   (hyper, hyper-util, hyper-rustls, rustls) only in the gateway, test support
//!   and the CLI — directly or through any other crate. The OTLP message types
//!   (`opentelemetry-proto`) and `prost` only in `rook-observability`. `ring` is a direct
//!   dependency of `rook-registry` only (its `seal` module seals keys at rest);
//!   others reach it only through rustls or the registry.
//! - Libraries install no global state (subscriber, recorder): binaries do.
//! - Every source file stays under 500 lines before its tests, and only the
//!   gateway's `app` and `control` parts take the whole `App`.
//! - `rook-test-support` is used only as a dev-dependency.
//! - `rook-fuzz` (the fuzz targets, dev-only) depends on the parsers it fuzzes
//!   (protocol, config, resilience) and nothing depends on it.
//! - Every crate has crate-level docs and forbids unsafe code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

struct Dep {
    name: String,
    kind: Option<String>,
}

fn metadata() -> BTreeMap<String, (Vec<Dep>, PathBuf)> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut map = BTreeMap::new();
    for p in v["packages"].as_array().unwrap() {
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| Dep {
                name: d["name"].as_str().unwrap().to_string(),
                kind: d["kind"].as_str().map(str::to_string),
            })
            .collect();
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
        map.insert(p["name"].as_str().unwrap().to_string(), (deps, manifest));
    }
    map
}

fn normal_deps(deps: &[Dep]) -> impl Iterator<Item = &str> {
    deps.iter()
        .filter(|d| d.kind.is_none())
        .map(|d| d.name.as_str())
}

const LEAVES: &[&str] = &[
    "rook-config",
    "rook-registry",
    "rook-routing",
    "rook-resilience",
    "rook-observability",
    "rook-protocol",
];

#[test]
fn crate_dependency_directions() {
    let meta = metadata();
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("rook-config", &[][..]),
        ("rook-registry", &["rook-config"][..]),
        ("rook-routing", &[][..]),
        ("rook-resilience", &[][..]),
        ("rook-observability", &[][..]),
        ("rook-protocol", &[][..]),
        ("rook-test-support", &[][..]),
        ("rook-admin", &["rook-config", "rook-registry"][..]),
        (
            "rook-gateway",
            &[
                "rook-config",
                "rook-registry",
                "rook-routing",
                "rook-resilience",
                "rook-observability",
                "rook-protocol",
                "rook-admin",
            ][..],
        ),
        ("rook-server", &["rook-gateway"][..]),
        ("rook-cli", &["rook-gateway"][..]),
        ("xtask", &[][..]),
        (
            "rook-fuzz",
            &["rook-protocol", "rook-config", "rook-resilience"][..],
        ),
    ]);
    let mut problems = Vec::new();
    for (name, (deps, _)) in &meta {
        let Some(ok) = allowed.get(name.as_str()) else {
            problems.push(format!(
                "{name}: a workspace crate the tidy rules do not know"
            ));
            continue;
        };
        for d in normal_deps(deps).filter(|d| d.starts_with("rook-")) {
            if !ok.contains(&d) {
                problems.push(format!("{name} must not depend on {d}"));
            }
        }
        for d in deps {
            if d.name == "rook-fuzz" {
                problems.push(format!("{name}: nothing depends on rook-fuzz"));
            }
            if d.name == "rook-test-support" && d.kind.as_deref() != Some("dev") {
                problems.push(format!(
                    "{name}: rook-test-support only as a dev-dependency"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn heavy_dependencies_stay_in_their_crate() {
    let meta = metadata();
    let owners: &[(&str, &[&str])] = &[
        ("sqlx", &["rook-registry"]),
        ("figment", &["rook-config"]),
        ("metrics-exporter-prometheus", &["rook-observability"]),
        ("tracing-subscriber", &["rook-observability"]),
        ("hyper", HTTP_STACK_OWNERS),
        ("hyper-util", HTTP_STACK_OWNERS),
        ("hyper-rustls", HTTP_STACK_OWNERS),
        ("rustls", HTTP_STACK_OWNERS),
        // Cryptography on stored keys happens in one module (rook_registry::seal);
        // the gateway uses ring only for the OS RNG (the generated admin token).
        ("ring", &["rook-registry", "rook-gateway"]),
        // The OTLP message types and their protobuf encoding are the pure part
        // of traces (rook_observability::otel); the gateway only POSTs the bytes.
        ("opentelemetry-proto", &["rook-observability"]),
        ("prost", &["rook-observability"]),
    ];
    let mut problems = Vec::new();
    for (name, (deps, _)) in &meta {
        for d in normal_deps(deps) {
            if let Some((_, who)) = owners.iter().find(|(dep, _)| *dep == d) {
                if !who.contains(&name.as_str()) {
                    problems.push(format!("{name} depends on {d}, which belongs to {who:?}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The crates that may use the HTTP stack (hyper, hyper-util, hyper-rustls,
/// rustls): the gateway, test support, and the CLI's `--server`/`--probe` client.
const HTTP_STACK_OWNERS: &[&str] = &["rook-gateway", "rook-test-support", "rook-cli"];

/// The resolved dependency graph: package id → (name, normal dependency ids).
fn resolved_graph() -> BTreeMap<String, (String, Vec<String>)> {
    // For the host only: other platforms' crates need not be downloaded.
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .expect("rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("host triple");
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
            &host,
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: BTreeMap<String, String> = v["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut graph = BTreeMap::new();
    for node in v["resolve"]["nodes"].as_array().unwrap() {
        let id = node["id"].as_str().unwrap().to_string();
        let deps = node["deps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| {
                d["dep_kinds"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|k| k["kind"].is_null())
            })
            .map(|d| d["pkg"].as_str().unwrap().to_string())
            .collect();
        graph.insert(id.clone(), (names[&id].clone(), deps));
    }
    graph
}

/// No crate reaches the HTTP stack, sqlx, figment or the exporter through
/// another crate either: walking each workspace crate's normal dependencies
/// (stopping at the crates that own them), none of them is found.
#[test]
fn heavy_dependencies_are_not_reached_transitively() {
    let meta = metadata();
    let graph = resolved_graph();
    let owned: &[(&str, &[&str])] = &[
        ("hyper", HTTP_STACK_OWNERS),
        ("hyper-util", HTTP_STACK_OWNERS),
        ("hyper-rustls", HTTP_STACK_OWNERS),
        ("rustls", HTTP_STACK_OWNERS),
        ("sqlx", &["rook-registry"]),
        ("figment", &["rook-config"]),
        ("metrics-exporter-prometheus", &["rook-observability"]),
        ("tracing-subscriber", &["rook-observability"]),
        ("opentelemetry-proto", &["rook-observability"]),
        ("prost", &["rook-observability"]),
    ];
    let mut problems = Vec::new();
    for (start, (name, _)) in graph.iter().filter(|(_, (n, _))| meta.contains_key(n)) {
        for (heavy, owners) in owned {
            if owners.contains(&name.as_str()) {
                continue;
            }
            // Depth-first over normal dependencies, not entering owners.
            let mut stack = vec![start.clone()];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(id) = stack.pop() {
                if !seen.insert(id.clone()) {
                    continue;
                }
                let (n, deps) = &graph[&id];
                if n == heavy {
                    problems.push(format!("{name} reaches {heavy}"));
                    break;
                }
                if id != *start && owners.contains(&n.as_str()) {
                    continue;
                }
                stack.extend(deps.iter().cloned());
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// `rook-protocol` is pure: serde, serde_json, bytes and base64 (OpenAI's
/// base64 embeddings) are its only normal dependencies.
#[test]
fn the_protocol_crate_is_pure() {
    let meta = metadata();
    let (deps, _) = &meta["rook-protocol"];
    let extra: Vec<&str> = normal_deps(deps)
        .filter(|d| !["serde", "serde_json", "bytes", "base64"].contains(d))
        .collect();
    assert!(extra.is_empty(), "rook-protocol depends on {extra:?}");
}

/// Libraries install no global state: only the binaries install the tracing
/// subscriber and the metrics recorder (`rook-observability` defines the
/// installers; nobody else's library code calls them).
#[test]
fn libraries_install_no_global_state() {
    let calls = [
        "install_prometheus(",
        "init_tracing(",
        "set_global_default(",
        "set_global_recorder(",
        "install_recorder(",
        ".try_init(",
    ];
    let mut problems = Vec::new();
    walk(&root().join("crates"), &mut |p| {
        let s = p.to_string_lossy();
        if !s.ends_with(".rs")
            || !s.contains("/src/")
            || s.contains("/rook-observability/")
            || s.contains("/rook-test-support/")
        {
            return;
        }
        let text = std::fs::read_to_string(p).unwrap();
        let production = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, line) in production.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if calls.iter().any(|c| code.contains(c)) {
                problems.push(format!("{}:{}: {}", p.display(), i + 1, code));
            }
        }
    });
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Source files stay small enough to read in one sitting: at most 500 lines
/// before their tests, in every crate, binary and xtask (test files — `tests/`
/// directories and `tests.rs` modules — are not held to it).
#[test]
fn source_files_are_small() {
    let mut problems = Vec::new();
    for dir in ["crates", "bins", "xtask/src"] {
        walk(&root().join(dir), &mut |p| {
            if p.extension().is_none_or(|e| e != "rs")
                || p.file_name().is_some_and(|n| n == "tests.rs")
                || p.components()
                    .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "target")
            {
                return;
            }
            let text = std::fs::read_to_string(p).unwrap();
            let production = text.split("#[cfg(test)]").next().unwrap_or("");
            let n = production.lines().count();
            if n > 500 {
                problems.push(format!("{}: {n} lines", p.display()));
            }
        });
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// Only the app and control parts of the gateway take the whole `App`.
#[test]
fn only_app_and_control_take_the_app() {
    let mut problems = Vec::new();
    let src = root().join("crates/rook-gateway/src");
    walk(&src, &mut |p| {
        let rel = p.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        if !rel.ends_with(".rs") || rel.starts_with("app/") || rel.starts_with("control/") {
            return;
        }
        let text = std::fs::read_to_string(p).unwrap();
        for (i, line) in text.lines().enumerate() {
            if line.contains("&Arc<App>") || line.contains("&App") || line.contains("Weak<App>") {
                problems.push(format!("{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    });
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The one edge between leaves: the registry checks records with the entity rules of
/// `rook-config` (which itself depends on no Rook crate, see `crate_dependency_directions`).
const LEAF_EDGES: &[(&str, &str)] = &[("rook-registry", "rook-config")];

#[test]
fn leaves_do_not_depend_on_each_other() {
    let meta = metadata();
    for leaf in LEAVES {
        let (deps, _) = &meta[*leaf];
        let rook: Vec<&str> = deps
            .iter()
            .map(|d| d.name.as_str())
            .filter(|d| d.starts_with("rook-") && *d != "rook-test-support")
            .filter(|d| !LEAF_EDGES.contains(&(*leaf, *d)))
            .collect();
        assert!(rook.is_empty(), "{leaf} depends on {rook:?}");
    }
}

#[test]
fn workspace_lints_forbid_unsafe() {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    assert!(
        text.contains("[workspace.lints.rust]\nunsafe_code = \"forbid\""),
        "workspace lints must forbid unsafe code"
    );
}

#[test]
fn every_crate_has_docs_and_forbids_unsafe() {
    let meta = metadata();
    let mut problems = Vec::new();
    for (name, (_, manifest)) in &meta {
        let dir = manifest.parent().unwrap();
        let root_file = ["src/lib.rs", "src/main.rs"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .unwrap();
        let text = std::fs::read_to_string(&root_file).unwrap();
        if !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "{name}: {} has no crate-level docs",
                root_file.display()
            ));
        }
        // `unsafe_code = "forbid"` comes from [workspace.lints]; a crate must opt in.
        let manifest_text = std::fs::read_to_string(manifest).unwrap();
        let opted_in = manifest_text.contains("[lints]\nworkspace = true");
        if !opted_in && !text.contains("#![forbid(unsafe_code)]") {
            problems.push(format!(
                "{name}: neither [lints] workspace = true nor #![forbid(unsafe_code)]"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn no_unfinished_markers_in_production_code() {
    let mut problems = Vec::new();
    for dir in ["crates", "bins", "xtask/src"] {
        walk(&root().join(dir), &mut |p| {
            let s = p.to_string_lossy();
            if !s.ends_with(".rs") || s.contains("/tests/") || s.contains("/examples/") {
                return;
            }
            let text = std::fs::read_to_string(p).unwrap();
            for (i, line) in text.lines().enumerate() {
                let banned = ["todo!(", "unimplemented!(", "// TODO", "// FIXME", "dbg!("];
                if banned.iter().any(|b| line.contains(b)) {
                    problems.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                }
            }
        });
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}
