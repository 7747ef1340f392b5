//! Repository rules, checked by a test rather than by reviewers.
//!
//! - `rook-config` depends on no other Rook crate; `rook-registry` only on
//!   `rook-config` (for the entity rules); the other leaves (routing,
//!   resilience, observability) on none; `rook-admin` only on config, registry
//!   and observability; the binaries only on the gateway.
//! - `sqlx` only in `rook-registry`, `figment` only in `rook-config`, the Prometheus
//!   exporter only in `rook-observability`, hyper only in the gateway, the admin
//!   crate and test support.
//! - `rook-test-support` is used only as a dev-dependency.
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
        ("rook-test-support", &[][..]),
        (
            "rook-admin",
            &["rook-config", "rook-registry", "rook-observability"][..],
        ),
        (
            "rook-gateway",
            &[
                "rook-config",
                "rook-registry",
                "rook-routing",
                "rook-resilience",
                "rook-observability",
                "rook-admin",
            ][..],
        ),
        ("rook-server", &["rook-gateway"][..]),
        ("rook-cli", &["rook-gateway"][..]),
        ("xtask", &[][..]),
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
        (
            "hyper",
            &[
                "rook-gateway",
                "rook-admin",
                "rook-test-support",
                "rook-cli",
            ],
        ),
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
