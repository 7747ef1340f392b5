//! The catalog: vendors, protocols, `[[accounts]]`, strategies, `[[pools]]` and
//! `[[routes]]`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::secret::{Secret, SecretError, SecretSource};

/// Upstream vendor of an account; decides the adapter and default base URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vendor {
    /// OpenAI (`open_ai`).
    OpenAi,
    /// Anthropic (`anthropic`).
    Anthropic,
    /// Google Gemini (`google`): the native Gemini API by default, or its
    /// OpenAI-compatible endpoint with protocol `openai`.
    Google,
    /// OpenRouter (`open_router`).
    OpenRouter,
    /// DeepSeek (`deep_seek`).
    DeepSeek,
    /// Any OpenAI-compatible server (`custom`); `base_url` is required.
    Custom,
}

impl Vendor {
    /// Every vendor, in declaration order.
    pub const ALL: [Vendor; 6] = [
        Vendor::OpenAi,
        Vendor::Anthropic,
        Vendor::Google,
        Vendor::OpenRouter,
        Vendor::DeepSeek,
        Vendor::Custom,
    ];

    /// The snake_case name used in configuration (`"open_ai"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "open_ai",
            Self::Anthropic => "anthropic",
            Self::Google => "google",
            Self::OpenRouter => "open_router",
            Self::DeepSeek => "deep_seek",
            Self::Custom => "custom",
        }
    }

    /// The vendor for a configuration name (exact snake_case match).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// The protocol an account of this vendor speaks when it names none:
    /// `anthropic` → [`Protocol::Anthropic`], `google` → [`Protocol::Gemini`],
    /// every other vendor (`custom` included) → [`Protocol::OpenAi`].
    pub fn default_protocol(self) -> Protocol {
        match self {
            Self::Anthropic => Protocol::Anthropic,
            Self::Google => Protocol::Gemini,
            Self::OpenAi | Self::OpenRouter | Self::DeepSeek | Self::Custom => Protocol::OpenAi,
        }
    }

    /// The default base URL (no trailing `/`) of an account of this vendor
    /// speaking `protocol`; `None` for [`Vendor::Custom`].
    ///
    /// Only Google serves its protocols under different bases: the native
    /// Gemini API (`gemini`, also used for `anthropic`, which Google does not
    /// offer) at `…/v1beta`, the OpenAI-compatible one at `…/v1beta/openai`.
    /// Every other vendor has one base for all protocols.
    pub fn default_base_url_for(self, protocol: Protocol) -> Option<&'static str> {
        match (self, protocol) {
            (Self::Google, Protocol::Gemini | Protocol::Anthropic) => {
                Some("https://generativelanguage.googleapis.com/v1beta")
            }
            _ => self.default_base_url(),
        }
    }

    /// The vendor's OpenAI-compatible API base URL (no trailing `/`), the
    /// default for protocol `openai`; `None` for [`Vendor::Custom`]. For the
    /// default of an account use [`Vendor::default_base_url_for`] or
    /// [`AccountConfig::effective_base_url`].
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::OpenAi => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com/v1"),
            Self::Google => Some("https://generativelanguage.googleapis.com/v1beta/openai"),
            Self::OpenRouter => Some("https://openrouter.ai/api/v1"),
            Self::DeepSeek => Some("https://api.deepseek.com/v1"),
            Self::Custom => None,
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wire protocol Rook speaks to an account's upstream.
///
/// Rook appends the protocol's path to the account's base URL:
/// `openai` → `/chat/completions`, `anthropic` → `/messages`,
/// `gemini` → `/models/{model}:generateContent` (and
/// `:streamGenerateContent` for streams).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OpenAI Chat Completions (`openai`), also spoken by most
    /// OpenAI-compatible servers.
    OpenAi,
    /// Anthropic Messages (`anthropic`).
    Anthropic,
    /// Google Gemini `generateContent` (`gemini`).
    Gemini,
}

impl Protocol {
    /// Every protocol, in declaration order.
    pub const ALL: [Protocol; 3] = [Protocol::OpenAi, Protocol::Anthropic, Protocol::Gemini];

    /// The name used in configuration (`"openai"`, `"anthropic"`, `"gemini"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
        }
    }

    /// The protocol for a configuration name (exact match).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[accounts]]`: one upstream account (a vendor endpoint plus a key).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// Unique id, `[A-Za-z0-9_.-]{1,64}`. Required.
    pub id: String,
    /// Vendor. Required.
    pub vendor: Vendor,
    /// API base URL (`http`/`https`, no credentials, query or fragment).
    /// Optional when the vendor has a default; required for `custom`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Environment variable holding the API key. Not together with
    /// `api_key_file`; neither is fine for servers that need no key.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// File holding the API key (surrounding whitespace is trimmed).
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Whether the account takes traffic. Default `true`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Relative share for the `weighted` strategy. Default `1`; `1..=1000`.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Order for `priority`/`failover` strategies; lower goes first. Default `0`.
    #[serde(default)]
    pub priority: i32,
    /// Logical model name → upstream model name. Models not listed are sent
    /// under their logical name.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    /// Requests per minute this account may receive (token bucket, per instance).
    /// Absent: no limit; `1..=1000000`.
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute this account may receive; each request reserves its
    /// estimate (prompt bytes / 4 + `max_tokens`, or 256) and is reconciled with
    /// the reported usage. Absent: no limit; `1..=1000000000`.
    #[serde(default)]
    pub tokens_per_minute: Option<u32>,
    /// Wire protocol toward the upstream. Absent: the vendor's default
    /// ([`Vendor::default_protocol`]); see [`AccountConfig::effective_protocol`].
    #[serde(default)]
    pub protocol: Option<Protocol>,
    /// `anthropic-version` header sent to `anthropic`-protocol upstreams.
    /// Absent: [`DEFAULT_ANTHROPIC_VERSION`](crate::entity::DEFAULT_ANTHROPIC_VERSION);
    /// non-empty printable ASCII, at most 64 characters.
    #[serde(default)]
    pub anthropic_version: Option<String>,
    /// `max_tokens` sent to `anthropic`-protocol upstreams when a request gives
    /// none (the Messages API requires it). Absent:
    /// [`DEFAULT_MAX_TOKENS`](crate::entity::DEFAULT_MAX_TOKENS); at least `1`.
    #[serde(default)]
    pub default_max_tokens: Option<u32>,
    /// Whether Rook asks `openai`-protocol upstreams for usage on streams
    /// (`stream_options.include_usage`). Default `true`; `false` for servers
    /// that reject the field.
    #[serde(default = "default_true")]
    pub stream_usage: bool,
}

fn default_true() -> bool {
    true
}

fn default_weight() -> u32 {
    1
}

impl AccountConfig {
    /// A new enabled account with defaults for every optional field.
    pub fn new(id: impl Into<String>, vendor: Vendor) -> Self {
        Self {
            id: id.into(),
            vendor,
            base_url: None,
            api_key_env: None,
            api_key_file: None,
            enabled: true,
            weight: 1,
            priority: 0,
            models: BTreeMap::new(),
            requests_per_minute: None,
            tokens_per_minute: None,
            protocol: None,
            anthropic_version: None,
            default_max_tokens: None,
            stream_usage: true,
        }
    }

    /// `protocol` if set, else the vendor's default
    /// ([`Vendor::default_protocol`]).
    pub fn effective_protocol(&self) -> Protocol {
        self.protocol
            .unwrap_or_else(|| self.vendor.default_protocol())
    }

    /// `base_url` if set, else the default of the vendor for the effective
    /// protocol ([`Vendor::default_base_url_for`]), without a trailing `/`.
    /// `None` only for a `custom` account without `base_url` (invalid).
    pub fn effective_base_url(&self) -> Option<String> {
        let raw = match &self.base_url {
            Some(url) => url.trim(),
            None => self
                .vendor
                .default_base_url_for(self.effective_protocol())?,
        };
        Some(raw.trim_end_matches('/').to_owned())
    }

    /// `anthropic_version` if set, else
    /// [`DEFAULT_ANTHROPIC_VERSION`](crate::entity::DEFAULT_ANTHROPIC_VERSION).
    pub fn effective_anthropic_version(&self) -> &str {
        self.anthropic_version
            .as_deref()
            .unwrap_or(crate::entity::DEFAULT_ANTHROPIC_VERSION)
    }

    /// `default_max_tokens` if set, else
    /// [`DEFAULT_MAX_TOKENS`](crate::entity::DEFAULT_MAX_TOKENS).
    pub fn effective_default_max_tokens(&self) -> u32 {
        self.default_max_tokens
            .unwrap_or(crate::entity::DEFAULT_MAX_TOKENS)
    }

    /// The upstream model name for a logical model (the `models` map entry,
    /// else the logical name unchanged).
    pub fn upstream_model<'a>(&'a self, logical: &'a str) -> &'a str {
        self.models.get(logical).map_or(logical, String::as_str)
    }

    /// Where the API key comes from; `None` when neither `api_key_env` nor
    /// `api_key_file` is set. When both are set (invalid) the file wins.
    pub fn api_key_source(&self) -> Option<SecretSource> {
        match (&self.api_key_file, &self.api_key_env) {
            (Some(path), _) => Some(SecretSource::File(path.clone())),
            (None, Some(var)) => Some(SecretSource::Env(var.clone())),
            (None, None) => None,
        }
    }

    /// Reads this account's API key: `Ok(None)` when neither `api_key_env`
    /// nor `api_key_file` is set (servers that need no key).
    pub fn resolve_api_key(&self) -> Result<Option<Secret>, SecretError> {
        self.api_key_source().map(|s| s.resolve()).transpose()
    }
}

/// Selection strategy of a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Lowest `priority` first; ties in member order.
    Priority,
    /// Members in the listed order; the next only when earlier ones fail.
    Failover,
    /// Rotate across available members.
    RoundRobin,
    /// Random, proportional to `weight`.
    Weighted,
    /// Fewest in-flight requests first.
    LeastBusy,
}

impl Strategy {
    /// Every strategy, in declaration order.
    pub const ALL: [Strategy; 5] = [
        Strategy::Priority,
        Strategy::Failover,
        Strategy::RoundRobin,
        Strategy::Weighted,
        Strategy::LeastBusy,
    ];

    /// The snake_case name used in configuration (`"round_robin"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Priority => "priority",
            Self::Failover => "failover",
            Self::RoundRobin => "round_robin",
            Self::Weighted => "weighted",
            Self::LeastBusy => "least_busy",
        }
    }

    /// The strategy for a configuration name (exact snake_case match).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[[pools]]`: an ordered set of accounts with a selection strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// Unique id, `[A-Za-z0-9_.-]{1,64}`. Required.
    pub id: String,
    /// Selection strategy. Required.
    pub strategy: Strategy,
    /// Account ids, at least one, no duplicates. Required.
    pub members: Vec<String>,
    /// Pool tried when every member of this one is unavailable or failed.
    #[serde(default)]
    pub fallback_pool: Option<String>,
}

/// `[[routes]]`: maps a logical model name to a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The logical model clients ask for; unique. Required.
    pub model: String,
    /// Pool serving it. Required.
    pub pool: String,
    /// Another route's `model` to fall back to when this one is exhausted.
    #[serde(default)]
    pub fallback_route: Option<String>,
}
