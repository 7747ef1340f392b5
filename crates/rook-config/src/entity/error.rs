//! The error an entity rule reports: the field, what is wrong, and a hint.

use std::fmt;

/// Where in an entity a problem is below its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sub {
    /// The `i`th element of a list field (`members[1]`).
    Index(usize),
    /// The entry of a map field with this key (`models.gpt-4o`).
    Key(String),
    /// Not one field but a combination of fields, e.g. both `api_key_env` and
    /// `api_key_file`: the config file names the entity, the admin API and
    /// the CLI name [`EntityError::field`].
    Combination,
}

/// One broken rule: which field of the entity and what is wrong.
///
/// `Display` is `path: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityError {
    /// The field, e.g. `weight`, `members`.
    pub field: &'static str,
    /// The element of the field, if the problem is in one.
    pub sub: Option<Sub>,
    /// Operator-facing explanation (never a secret).
    pub message: String,
}

impl EntityError {
    /// A problem with `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: None,
            message: message.into(),
        }
    }

    /// A problem with the `index`th element of `field`.
    pub fn at(field: &'static str, index: usize, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: Some(Sub::Index(index)),
            message: message.into(),
        }
    }

    /// A problem with the entry `key` of the map `field`.
    pub fn key(field: &'static str, key: &str, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: Some(Sub::Key(key.to_owned())),
            message: message.into(),
        }
    }

    /// A problem with a combination of fields, named by `field` where one
    /// field must be named.
    pub fn combination(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            sub: Some(Sub::Combination),
            message: message.into(),
        }
    }

    /// The field path as the admin API and the CLI name it: `weight`,
    /// `members[1]`, `models.gpt-4o`.
    pub fn path(&self) -> String {
        match &self.sub {
            None | Some(Sub::Combination) => self.field.to_owned(),
            Some(Sub::Index(i)) => format!("{}[{i}]", self.field),
            Some(Sub::Key(k)) => format!("{}.{k}", self.field),
        }
    }

    /// The field path as the config file names it, map keys quoted:
    /// `members[1]`, `models."gpt-4o"`; empty for a combination of fields
    /// (the config file names the entity).
    pub fn key_path(&self) -> String {
        match &self.sub {
            Some(Sub::Key(k)) => format!("{}.{k:?}", self.field),
            Some(Sub::Combination) => String::new(),
            _ => self.path(),
        }
    }
}

impl fmt::Display for EntityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.message)
    }
}

impl std::error::Error for EntityError {}

// ------------------------------------------------------------------ single values
