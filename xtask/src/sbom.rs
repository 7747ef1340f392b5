//! A CycloneDX 1.5 SBOM (JSON) of what the shipped binaries link, from
//! `cargo metadata` (normal and build dependencies reachable from the binaries'
//! packages; dev-dependencies and other platforms left out).
//!
//! A small writer over `serde_json` rather than a CycloneDX crate: the document needs
//! a dozen fields, and the crates that model the full schema bring a large tree for
//! them (see `docs/dependencies.md`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// The SBOM of `roots` (package names, e.g. `rook-server`) in `metadata` (the JSON of
/// `cargo metadata --format-version 1`), for release `version`. Deterministic: the
/// same inputs give the same bytes (no timestamp; the serial number is derived from
/// the content).
pub(crate) fn cyclonedx(metadata: &Value, roots: &[&str], version: &str) -> Result<Value, String> {
    let packages: BTreeMap<&str, &Value> = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata: no packages")?
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p)))
        .collect();
    let nodes: BTreeMap<&str, &Value> = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("cargo metadata: no resolve graph (run it without --no-deps)")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut pending: Vec<&str> = packages
        .iter()
        .filter(|(_, p)| roots.iter().any(|r| p["name"] == *r) && p["source"].is_null())
        .map(|(id, _)| *id)
        .collect();
    if pending.len() != roots.len() {
        return Err(format!(
            "cargo metadata: not every one of {roots:?} is a workspace package"
        ));
    }
    while let Some(id) = pending.pop() {
        if edges.contains_key(id) {
            continue;
        }
        let deps: BTreeSet<&str> = nodes
            .get(id)
            .and_then(|n| n["deps"].as_array())
            .into_iter()
            .flatten()
            .filter(|d| {
                d["dep_kinds"].as_array().is_some_and(|kinds| {
                    kinds
                        .iter()
                        .any(|k| k["kind"].is_null() || k["kind"] == "build")
                })
            })
            .filter_map(|d| d["pkg"].as_str())
            .collect();
        pending.extend(deps.iter().copied());
        edges.insert(id, deps);
    }
    let bom_ref = |id: &str| -> String {
        packages.get(id).map_or_else(
            || id.to_string(),
            |p| {
                format!(
                    "{}@{}",
                    p["name"].as_str().unwrap_or("?"),
                    p["version"].as_str().unwrap_or("?")
                )
            },
        )
    };
    let components: Vec<Value> = edges
        .keys()
        .filter_map(|id| packages.get(id))
        .map(|p| component(p, roots))
        .collect();
    let dependencies: Vec<Value> = edges
        .iter()
        .map(|(id, deps)| {
            json!({
                "ref": bom_ref(id),
                "dependsOn": deps.iter().map(|d| bom_ref(d)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "cargo xtask dist"}]},
            "component": {
                "type": "application",
                "bom-ref": format!("rook@{version}"),
                "name": "rook",
                "version": version,
                "licenses": [{"expression": "Apache-2.0"}],
            },
        },
        "components": components,
        "dependencies": dependencies,
    });
    let digest = crate::dist::sha256_hex(bom.to_string().as_bytes());
    bom["serialNumber"] = json!(format!(
        "urn:uuid:{}-{}-4{}-8{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[13..16],
        &digest[17..20],
        &digest[20..32]
    ));
    Ok(bom)
}

fn component(p: &Value, roots: &[&str]) -> Value {
    let name = p["name"].as_str().unwrap_or("?");
    let version = p["version"].as_str().unwrap_or("?");
    let kind = if roots.contains(&name) {
        "application"
    } else {
        "library"
    };
    let mut c = json!({
        "type": kind,
        "bom-ref": format!("{name}@{version}"),
        "name": name,
        "version": version,
    });
    if let Some(license) = p["license"].as_str() {
        // Cargo's `A/B` is the old spelling of `A OR B`.
        c["licenses"] = json!([{"expression": license.replace('/', " OR ")}]);
    }
    if p["source"]
        .as_str()
        .is_some_and(|s| s.starts_with("registry+https://github.com/rust-lang/crates.io-index"))
    {
        c["purl"] = json!(format!("pkg:cargo/{name}@{version}"));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";

    fn metadata() -> Value {
        let pkg = |name: &str, version: &str, source: Option<&str>, license: &str| json!({"id": format!("{name}-id"), "name": name, "version": version, "source": source, "license": license});
        let dep = |name: &str, kind: Option<&str>| json!({"pkg": format!("{name}-id"), "dep_kinds": [{"kind": kind, "target": null}]});
        json!({
            "packages": [
                pkg("rook-server", "0.1.0", None, "Apache-2.0"),
                pkg("tokio", "1.0.0", Some(CRATES_IO), "MIT"),
                pkg("bytes", "1.2.0", Some(CRATES_IO), "MIT/Apache-2.0"),
                pkg("proptest", "1.0.0", Some(CRATES_IO), "MIT OR Apache-2.0"),
                pkg("cc", "1.0.0", Some(CRATES_IO), "MIT"),
            ],
            "resolve": {"nodes": [
                {"id": "rook-server-id", "deps": [dep("tokio", None), dep("proptest", Some("dev")), dep("cc", Some("build"))]},
                {"id": "tokio-id", "deps": [dep("bytes", None)]},
                {"id": "bytes-id", "deps": []},
                {"id": "proptest-id", "deps": []},
                {"id": "cc-id", "deps": []},
            ]},
        })
    }

    #[test]
    fn components_follow_normal_and_build_dependencies_only() {
        let bom = cyclonedx(&metadata(), &["rook-server"], "0.1.0").unwrap();
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["specVersion"], "1.5");
        let names: Vec<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["bytes", "cc", "rook-server", "tokio"]);
        let bytes = &bom["components"][0];
        assert_eq!(bytes["purl"], "pkg:cargo/bytes@1.2.0");
        assert_eq!(bytes["licenses"][0]["expression"], "MIT OR Apache-2.0");
        assert_eq!(bom["components"][2]["type"], "application");
        assert!(bom["components"][2].get("purl").is_none());
        let server = bom["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["ref"] == "rook-server@0.1.0")
            .unwrap();
        assert_eq!(server["dependsOn"], json!(["cc@1.0.0", "tokio@1.0.0"]));
        let serial = bom["serialNumber"].as_str().unwrap();
        assert!(
            serial.starts_with("urn:uuid:") && serial.len() == 45,
            "{serial}"
        );
        // Deterministic.
        assert_eq!(
            bom,
            cyclonedx(&metadata(), &["rook-server"], "0.1.0").unwrap()
        );
    }

    #[test]
    fn an_unknown_root_is_an_error() {
        assert!(cyclonedx(&metadata(), &["rook-web"], "0.1.0").is_err());
    }
}
