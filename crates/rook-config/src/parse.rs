//! Parsing that reports every problem of a run at once.
//!
//! serde stops at the first unknown key or wrong type. To list them all, the
//! merged layers are read as an untyped tree first, then extracted section
//! by section (each `[[accounts]]`, `[[pools]]` and `[[routes]]` entry on
//! its own): after each error the offending key is taken out of the tree and
//! the extraction is retried, so one bad field hides nothing else. Unknown
//! keys stay errors (`deny_unknown_fields`). What could be extracted is then
//! validated too, and the validation problems of keys that failed to parse
//! are left out (they would only repeat the parse problem).
//!
//! TOML syntax errors are reported by line and column, with the offending
//! line quoted only up to its `=` (the value could be a secret).

use std::path::Path;

use figment::error::{Actual, Kind};
use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::Figment;
use serde::de::DeserializeOwned;

use crate::load::{env_var_for_key, ConfigError, FLAGS_PROVIDER};
use crate::model::{AccountConfig, Config, PoolConfig, RouteConfig, Strategy, Vendor};
use crate::suggest::closest;
use crate::validate::Problem;

mod describe;
mod extract;
mod syntax;

use describe::*;
pub(crate) use describe::{describe_kind, display_path, figment_problems};
pub(crate) use extract::extract_config;
pub(crate) use syntax::check_toml_syntax;

#[cfg(test)]
mod tests {
    use super::syntax::{masked_line, position};
    use super::*;

    #[test]
    fn path_display() {
        let p = |v: &[&str]| display_path(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&["accounts", "1", "vendor"]), "accounts[1].vendor");
        assert_eq!(p(&["port"]), "port");
        assert_eq!(p(&[]), "");
    }

    #[test]
    fn positions() {
        // (text, byte offset, line, column, line text)
        let table = [
            ("port = ", 7, 1, 8, "port = "),
            ("a = 1\nb = \"x\n", 10, 2, 5, "b = \"x"),
            ("a = 1\r\nbé = x\n", 11, 2, 4, "bé = x"),
            ("", 0, 1, 1, ""),
        ];
        for (text, offset, line, column, source) in table {
            assert_eq!(position(text, offset), (line, column, source), "{text:?}");
        }
    }

    #[test]
    fn masked_lines() {
        let table = [
            ("[[accounts]", "`[[accounts]`"),
            ("port = ", "`port =`"),
            (
                "database_url = \"postgres://u:CANARY@h",
                "`database_url = …` (value not shown)",
            ),
            ("sk-CANARY", "(not shown: it is not a `key = value` line)"),
        ];
        for (line, shown) in table {
            assert_eq!(masked_line(line), shown, "{line}");
        }
    }

    #[test]
    fn kinds_in_words() {
        let table = [
            ("u16", "an integer (0..=65535)"),
            ("u64", "an integer (0 or more)"),
            ("i32", "an integer"),
            ("f64", "a number"),
            ("a boolean", "a boolean (true or false)"),
            ("struct Upstream", "a table"),
            ("a sequence", "an array"),
        ];
        for (serde, words) in table {
            assert_eq!(expected_kind(serde), words, "{serde}");
        }
        assert_eq!(
            describe_kind(&Kind::InvalidType(
                Actual::Str("CANARY".into()),
                "u64".into()
            )),
            "expected an integer (0 or more), found a string"
        );
        assert_eq!(
            describe_kind(&Kind::UnknownField("vendr".into(), &["id", "vendor"])),
            "unknown key `vendr`; did you mean `vendor`?"
        );
    }
}
