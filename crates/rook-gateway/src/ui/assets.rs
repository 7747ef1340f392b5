//! The dashboard's files, embedded in the binary at build time (`include_bytes!`):
//! plain HTML, CSS and ES modules from `crates/rook-gateway/web/`, no build step.
//!
//! Assets are served under `/ui/assets/<hash>/<name>`, where `<hash>` is the first 16
//! hex digits of the SHA-256 over every asset's name and bytes. Any change to any file
//! changes the prefix, so a browser may cache assets forever (`immutable`) and modules
//! can import each other by relative name (`./api.js`) without rewriting.

use sha2::{Digest, Sha256};

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asset {
    /// The file name (no directories).
    pub(crate) name: &'static str,
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Its bytes.
    pub(crate) body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/", $name)),
        }
    };
}

/// Every asset served under `/ui/assets/<hash>/`.
pub(crate) const ASSETS: &[Asset] = &[
    asset!("style.css", CSS),
    asset!("favicon.svg", SVG),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("charts.js", JS),
    asset!("login.js", JS),
    asset!("overview.js", JS),
    asset!("accounts.js", JS),
    asset!("routing.js", JS),
    asset!("usage.js", JS),
    asset!("live.js", JS),
    asset!("audit.js", JS),
];

/// The dashboard's page (`/ui`); `{{assets}}` stands for the asset prefix.
pub(crate) const INDEX_HTML: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/index.html"));
/// The sign-in page (`/ui/login`); `{{assets}}` as above, `{{token_hint}}` says where
/// the admin token is.
pub(crate) const LOGIN_HTML: &str =
    include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/web/login.html"));

/// The content hash of the asset set (16 hex digits).
pub(crate) fn content_hash() -> String {
    let mut h = Sha256::new();
    for a in ASSETS {
        h.update((a.name.len() as u64).to_le_bytes());
        h.update(a.name.as_bytes());
        h.update((a.body.len() as u64).to_le_bytes());
        h.update(a.body);
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The asset called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `text` with `&`, `<`, `>`, `"` and `'` escaped for HTML.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_complete_and_self_contained() {
        let hash = content_hash();
        assert_eq!(hash.len(), 16);
        assert_eq!(hash, content_hash());
        for a in ASSETS {
            assert!(!a.body.is_empty(), "{}", a.name);
            // Nothing is fetched from another origin (the SVG namespace is a name, not a fetch).
            let text = String::from_utf8_lossy(a.body).replace("http://www.w3.org/2000/svg", "");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{}",
                a.name
            );
            // Every relative import names an embedded module.
            for part in text.split("from './").skip(1) {
                let name = part.split('\'').next().unwrap_or_default();
                assert!(find(name).is_some(), "{} imports missing {name}", a.name);
            }
        }
        for page in [INDEX_HTML, LOGIN_HTML] {
            assert!(
                !page.contains("<script>") && !page.contains(" style=") && !page.contains("<style")
            );
            for part in page.split("{{assets}}/").skip(1) {
                let name = part.split('"').next().unwrap_or_default();
                assert!(find(name).is_some(), "page references missing {name}");
            }
        }
        assert_eq!(
            escape_html("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
