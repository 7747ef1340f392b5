//! The rules of client keys (`[[client_keys]]`, `POST /api/keys`, `rook-cli keys
//! create`), and the pure logic every surface shares: model-scope globs, budget
//! periods in UTC and expiry instants.
//!
//! ```
//! use rook_config::entity::client_key::{model_allowed, BudgetPeriod, DAY_MS};
//!
//! assert!(model_allowed(&["gpt-4o*".to_string()], "gpt-4o-mini"));
//! assert!(!model_allowed(&["gpt-4o".to_string()], "gpt-4o-mini"));
//! assert!(model_allowed(&[], "anything")); // empty = every model
//!
//! // 1970-01-01 was a Thursday: its ISO week began on Monday 1969-12-29.
//! let w = BudgetPeriod::Week.window(DAY_MS / 2);
//! assert_eq!(w.start_ms, -3 * DAY_MS);
//! assert_eq!(w.resets_at_ms, Some(4 * DAY_MS));
//! assert_eq!(BudgetPeriod::Total.window(123).resets_at_ms, None);
//! ```

use std::fmt;

use super::{check_model_name, is_valid_id, EntityError, ID_RULE};

/// The id of the key made of `[inbound_auth]`'s token: reserved, never stored.
pub const DEFAULT_KEY_ID: &str = "default";

/// Longest `name` and `owner`, in characters.
pub const MAX_LABEL_LEN: usize = 128;

/// Most entries of `models`.
pub const MAX_MODELS: usize = 256;

/// Largest `budget_usd`.
pub const MAX_BUDGET_USD: f64 = 1_000_000_000.0;

/// Largest `requests_per_minute` of a key.
pub const MAX_KEY_RPM: u32 = 1_000_000_000;

/// Largest `tokens_per_minute` of a key.
pub const MAX_KEY_TPM: u32 = 1_000_000_000;

/// Largest serialized `metadata`, in bytes.
pub const MAX_METADATA_BYTES: usize = 4096;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The period a key's budget applies to; calendar periods are in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetPeriod {
    /// A UTC calendar day.
    Day,
    /// An ISO week: Monday 00:00 UTC to the next Monday.
    Week,
    /// A UTC calendar month.
    Month,
    /// The key's whole life: never resets.
    Total,
}

/// One period: where it began and when the next begins (`None` for `total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeriodWindow {
    /// Start (unix ms, inclusive); `i64::MIN` for `total`.
    pub start_ms: i64,
    /// Start of the next period (unix ms); `None` for `total`.
    pub resets_at_ms: Option<i64>,
}

impl BudgetPeriod {
    /// Every period.
    pub const ALL: [BudgetPeriod; 4] = [
        BudgetPeriod::Day,
        BudgetPeriod::Week,
        BudgetPeriod::Month,
        BudgetPeriod::Total,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            BudgetPeriod::Day => "day",
            BudgetPeriod::Week => "week",
            BudgetPeriod::Month => "month",
            BudgetPeriod::Total => "total",
        }
    }

    /// Parses a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The period holding the instant `now_ms`.
    pub fn window(self, now_ms: i64) -> PeriodWindow {
        let day = now_ms.div_euclid(DAY_MS);
        let (start_day, next_day) = match self {
            BudgetPeriod::Total => {
                return PeriodWindow {
                    start_ms: i64::MIN,
                    resets_at_ms: None,
                }
            }
            BudgetPeriod::Day => (day, day + 1),
            BudgetPeriod::Week => {
                // Day 0 (1970-01-01) was a Thursday: Monday-based weekday 3.
                let monday = day - (day + 3).rem_euclid(7);
                (monday, monday + 7)
            }
            BudgetPeriod::Month => {
                let (y, m, _) = civil_from_days(day);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (days_from_civil(y, m, 1), days_from_civil(ny, nm, 1))
            }
        };
        PeriodWindow {
            start_ms: start_day.saturating_mul(DAY_MS),
            resets_at_ms: Some(next_day.saturating_mul(DAY_MS)),
        }
    }
}

impl fmt::Display for BudgetPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// An instant as RFC 3339 in UTC with seconds (`2025-05-01T00:00:00Z`).
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Parses an expiry: `YYYY-MM-DD` (UTC midnight) or an RFC 3339 timestamp
/// (`YYYY-MM-DDTHH:MM:SS[.frac]` then `Z` or `±HH:MM`). Returns unix ms.
pub fn parse_utc(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = num(t.get(..4)?)?;
    let mo = u32::try_from(num(t.get(5..7)?)?).ok()?;
    let d = u32::try_from(num(t.get(8..10)?)?).ok()?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let day_ms = days_from_civil(y, mo, d) * DAY_MS;
    if b.len() == 10 {
        return Some(day_ms);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let h = num(t.get(11..13)?)?;
    let mi = num(t.get(14..16)?)?;
    let s = num(t.get(17..19)?)?;
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = t.get(19..)?;
    let mut frac_ms = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let digits = f.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let ms_digits: String = f[..digits].chars().chain("000".chars()).take(3).collect();
        frac_ms = num(&ms_digits)?;
        rest = &f[digits..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && o.as_bytes()[3] == b':' => {
            let sign = match o.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = num(&o[1..3])?;
            let om = num(&o[4..6])?;
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
        _ => return None,
    };
    Some(day_ms + ((h * 60 + mi - offset_min) * 60 + s) * 1000 + frac_ms)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Whether `model` matches one glob: `*` matches any run of characters (also
/// none, also `/`); everything else matches itself.
pub fn glob_matches(pattern: &str, model: &str) -> bool {
    let p = pattern.as_bytes();
    let m = model.as_bytes();
    let (mut pi, mut mi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while mi < m.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, mi));
            pi += 1;
        } else if pi < p.len() && p[pi] == m[mi] {
            pi += 1;
            mi += 1;
        } else if let Some((sp, sm)) = star {
            pi = sp + 1;
            mi = sm + 1;
            star = Some((sp, sm + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether a key whose scope is `models` may use `model`: an empty scope allows
/// every model, else one entry (a name or a glob) must match.
pub fn model_allowed(models: &[String], model: &str) -> bool {
    models.is_empty() || models.iter().any(|p| glob_matches(p, model))
}

/// The fields of a client key that the rules look at.
#[derive(Clone, Copy, Debug)]
pub struct ClientKeyRef<'a> {
    /// The id.
    pub id: &'a str,
    /// Display name.
    pub name: &'a str,
    /// Owner label.
    pub owner: Option<&'a str>,
    /// Allowed logical models (names or `*` globs); empty = all.
    pub models: &'a [String],
    /// Budget in US dollars.
    pub budget_usd: Option<f64>,
    /// Budget period name.
    pub budget_period: Option<&'a str>,
    /// Requests per minute.
    pub requests_per_minute: Option<u32>,
    /// Tokens per minute.
    pub tokens_per_minute: Option<u32>,
    /// Free-form metadata (an object), if any.
    pub metadata: Option<&'a serde_json::Value>,
}

/// Checks a client key id: the id syntax of accounts, and not `default`.
pub fn check_key_id(id: &str) -> Result<(), EntityError> {
    if !is_valid_id(id) {
        return Err(EntityError::new("id", ID_RULE));
    }
    if id == DEFAULT_KEY_ID {
        return Err(EntityError::new(
            "id",
            "`default` is reserved for the [inbound_auth] token",
        ));
    }
    Ok(())
}

fn check_label(field: &'static str, value: &str) -> Result<(), EntityError> {
    if value.trim().is_empty() {
        return Err(EntityError::new(field, "must not be empty"));
    }
    if value.chars().count() > MAX_LABEL_LEN {
        return Err(EntityError::new(
            field,
            format!("must be at most {MAX_LABEL_LEN} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(EntityError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Parses a budget period name.
pub fn check_budget_period(name: &str) -> Result<BudgetPeriod, EntityError> {
    BudgetPeriod::from_name(name).ok_or_else(|| {
        EntityError::new(
            "budget_period",
            format!("unknown period '{name}'; expected one of day, week, month, total"),
        )
    })
}

/// Every broken rule of one client key.
pub fn check_client_key(k: &ClientKeyRef<'_>) -> Vec<EntityError> {
    let mut out = Vec::new();
    out.extend(check_key_id(k.id).err());
    out.extend(check_label("name", k.name).err());
    if let Some(owner) = k.owner {
        out.extend(check_label("owner", owner).err());
    }
    if k.models.len() > MAX_MODELS {
        out.push(EntityError::new(
            "models",
            format!("must list at most {MAX_MODELS} models"),
        ));
    }
    for (i, m) in k.models.iter().enumerate() {
        if let Err(e) = check_model_name("models", m) {
            out.push(EntityError::at("models", i, e.message));
        } else if k.models[..i].contains(m) {
            out.push(EntityError::at(
                "models",
                i,
                format!("{m:?} is listed more than once"),
            ));
        }
    }
    match (k.budget_usd, k.budget_period) {
        (Some(b), _) if !(b.is_finite() && b > 0.0 && b <= MAX_BUDGET_USD) => {
            out.push(EntityError::new(
                "budget_usd",
                format!("must be greater than 0 and at most {MAX_BUDGET_USD}"),
            ));
        }
        (Some(_), None) => out.push(EntityError::combination(
            "budget_period",
            "budget_usd needs budget_period (day, week, month or total)",
        )),
        (None, Some(_)) => out.push(EntityError::combination(
            "budget_usd",
            "budget_period needs budget_usd",
        )),
        _ => {}
    }
    if let Some(p) = k.budget_period {
        out.extend(check_budget_period(p).err());
    }
    if let Some(rpm) = k.requests_per_minute {
        if !(1..=MAX_KEY_RPM).contains(&rpm) {
            out.push(EntityError::new(
                "requests_per_minute",
                format!("must be in 1..={MAX_KEY_RPM}, got {rpm}"),
            ));
        }
    }
    if let Some(tpm) = k.tokens_per_minute {
        if !(1..=MAX_KEY_TPM).contains(&tpm) {
            out.push(EntityError::new(
                "tokens_per_minute",
                format!("must be in 1..={MAX_KEY_TPM}, got {tpm}"),
            ));
        }
    }
    if let Some(meta) = k.metadata {
        if !meta.is_object() {
            out.push(EntityError::new("metadata", "must be a JSON object"));
        } else if serde_json::to_string(meta).map_or(0, |s| s.len()) > MAX_METADATA_BYTES {
            out.push(EntityError::new(
                "metadata",
                format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JAN_1_2025: i64 = 1_735_689_600_000; // a Wednesday

    #[test]
    fn periods_table() {
        // (period, now, start, resets)
        let h = 3_600_000;
        let table = [
            (
                BudgetPeriod::Day,
                JAN_1_2025 + 5 * h,
                JAN_1_2025,
                JAN_1_2025 + DAY_MS,
            ),
            (
                BudgetPeriod::Day,
                JAN_1_2025,
                JAN_1_2025,
                JAN_1_2025 + DAY_MS,
            ),
            (
                BudgetPeriod::Day,
                JAN_1_2025 - 1,
                JAN_1_2025 - DAY_MS,
                JAN_1_2025,
            ),
            // Monday 2024-12-30 .. Monday 2025-01-06
            (
                BudgetPeriod::Week,
                JAN_1_2025,
                JAN_1_2025 - 2 * DAY_MS,
                JAN_1_2025 + 5 * DAY_MS,
            ),
            (
                BudgetPeriod::Week,
                JAN_1_2025 + 5 * DAY_MS,
                JAN_1_2025 + 5 * DAY_MS,
                JAN_1_2025 + 12 * DAY_MS,
            ),
            (
                BudgetPeriod::Week,
                JAN_1_2025 + 5 * DAY_MS - 1,
                JAN_1_2025 - 2 * DAY_MS,
                JAN_1_2025 + 5 * DAY_MS,
            ),
            (
                BudgetPeriod::Month,
                JAN_1_2025 + 40 * DAY_MS,
                JAN_1_2025 + 31 * DAY_MS,
                JAN_1_2025 + 59 * DAY_MS,
            ),
            (
                BudgetPeriod::Month,
                JAN_1_2025 - 1,
                JAN_1_2025 - 31 * DAY_MS,
                JAN_1_2025,
            ),
        ];
        for (p, now, start, resets) in table {
            let w = p.window(now);
            assert_eq!(
                (w.start_ms, w.resets_at_ms),
                (start, Some(resets)),
                "{p} at {now}"
            );
        }
        // February of a leap year.
        let feb_2024 = parse_utc("2024-02-10T12:00:00Z").unwrap_or_default();
        let w = BudgetPeriod::Month.window(feb_2024);
        assert_eq!(w.start_ms, parse_utc("2024-02-01").unwrap_or_default());
        assert_eq!(w.resets_at_ms, parse_utc("2024-03-01"));
        assert_eq!(format_utc(w.start_ms), "2024-02-01T00:00:00Z");
        // December rolls into the next year.
        let w = BudgetPeriod::Month.window(parse_utc("2024-12-31T23:59:59Z").unwrap_or_default());
        assert_eq!(w.resets_at_ms, parse_utc("2025-01-01"));
    }

    #[test]
    fn timestamps() {
        assert_eq!(parse_utc("1970-01-01"), Some(0));
        assert_eq!(parse_utc("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_utc("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_utc("2025-01-01T00:00:00Z"), Some(JAN_1_2025));
        for bad in [
            "",
            "2025-13-01",
            "2025-02-30",
            "2025-01-01T25:00:00Z",
            "2025-01-01T00:00:00",
            "soon",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
        assert_eq!(format_utc(JAN_1_2025 + 3_723_000), "2025-01-01T01:02:03Z");
    }

    #[test]
    fn globs() {
        let table = [
            ("gpt-4o", "gpt-4o", true),
            ("gpt-4o", "gpt-4o-mini", false),
            ("gpt-4o*", "gpt-4o-mini", true),
            ("*", "anything/at:all", true),
            ("openai/*", "openai/gpt-4o", true),
            ("openai/*", "anthropic/claude", false),
            ("*-mini", "gpt-4o-mini", true),
            ("g*o*i", "gpt-4o-mini", true),
            ("g*x", "gpt-4o", false),
            ("", "", true),
            ("", "a", false),
        ];
        for (p, m, want) in table {
            assert_eq!(glob_matches(p, m), want, "{p} vs {m}");
        }
    }

    #[test]
    fn rules() {
        let models = vec!["gpt-4o".to_string(), "gpt-4o".to_string()];
        let meta = serde_json::json!([1]);
        let k = ClientKeyRef {
            id: "default",
            name: " ",
            owner: Some("team\n"),
            models: &models,
            budget_usd: Some(-1.0),
            budget_period: Some("year"),
            requests_per_minute: Some(0),
            tokens_per_minute: Some(0),
            metadata: Some(&meta),
        };
        let errors: Vec<String> = check_client_key(&k).iter().map(|e| e.path()).collect();
        assert_eq!(
            errors,
            [
                "id",
                "name",
                "owner",
                "models[1]",
                "budget_usd",
                "budget_period",
                "requests_per_minute",
                "tokens_per_minute",
                "metadata"
            ]
        );
        let ok = ClientKeyRef {
            id: "ci-bot",
            name: "CI bot",
            owner: None,
            models: &[],
            budget_usd: Some(10.0),
            budget_period: Some("month"),
            requests_per_minute: Some(60),
            tokens_per_minute: None,
            metadata: None,
        };
        assert!(check_client_key(&ok).is_empty());
        let half = ClientKeyRef {
            budget_period: None,
            ..ok
        };
        assert_eq!(check_client_key(&half)[0].field, "budget_period");
    }

    proptest! {
        #[test]
        fn windows_hold_their_instant(now in -10_000_000_000_000i64..10_000_000_000_000i64) {
            for p in [BudgetPeriod::Day, BudgetPeriod::Week, BudgetPeriod::Month] {
                let w = p.window(now);
                let next = w.resets_at_ms.unwrap_or(i64::MAX);
                prop_assert!(w.start_ms <= now && now < next);
                prop_assert_eq!(w.start_ms.rem_euclid(DAY_MS), 0);
                // The next period starts where this one ends.
                prop_assert_eq!(p.window(next).start_ms, next);
                prop_assert_eq!(p.window(next - 1).start_ms, w.start_ms);
                let len_days = (next - w.start_ms) / DAY_MS;
                match p {
                    BudgetPeriod::Day => prop_assert_eq!(len_days, 1),
                    BudgetPeriod::Week => {
                        prop_assert_eq!(len_days, 7);
                        // Mondays: day 4 (1970-01-05) was one.
                        prop_assert_eq!((w.start_ms / DAY_MS - 4).rem_euclid(7), 0);
                    }
                    _ => {
                        prop_assert!((28..=31).contains(&len_days));
                        prop_assert_eq!(civil_from_days(w.start_ms / DAY_MS).2, 1);
                    }
                }
            }
        }

        #[test]
        fn civil_round_trips(days in -1_000_000i64..1_000_000i64) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn format_and_parse_round_trip(secs in 0i64..10_000_000_000i64) {
            prop_assert_eq!(parse_utc(&format_utc(secs * 1000)), Some(secs * 1000));
        }

        #[test]
        fn star_matches_everything(m in "[ -~]{0,40}") {
            prop_assert!(glob_matches("*", &m));
            prop_assert!(glob_matches(&m.replace('*', ""), &m.replace('*', "")));
        }
    }
}
