//! "Did you mean …?": the closest known name to a misspelt key or value.
//!
//! Two rules, in order:
//! 1. the same name once case, `-` and `_` are ignored (`openai` →
//!    `open_ai`, `round-robin` → `round_robin`, `DeepSeek` → `deep_seek`);
//! 2. the one known name that continues the name (`fallback` →
//!    `fallback_route`), for names of four characters or more;
//! 3. otherwise the known name with the smallest edit distance, if that
//!    distance is small for the length of the name (`vendr` → `vendor`,
//!    `prot` → `port`).
//!
//! Pure and deterministic: ties go to the earlier candidate.

/// The candidate `name` most likely stands for, if any is close enough.
///
/// ```
/// use rook_config::suggest::closest;
///
/// assert_eq!(closest("openai", ["open_ai", "anthropic"]), Some("open_ai"));
/// assert_eq!(closest("vendr", ["id", "vendor"]), Some("vendor"));
/// assert_eq!(closest("grpc", ["openai", "anthropic", "gemini"]), None);
/// ```
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let folded = fold(name);
    if let Some(same) = candidates.iter().find(|c| **c != name && fold(c) == folded) {
        return Some(same);
    }
    // A known name that merely continues what was typed (`fallback` →
    // `fallback_route`), when only one does.
    if folded.chars().count() >= 4 {
        let mut longer = candidates
            .iter()
            .filter(|c| **c != name && fold(c).starts_with(&folded));
        if let (Some(only), None) = (longer.next(), longer.next()) {
            return Some(only);
        }
    }
    let limit = match name.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        6..=9 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let d = distance(&folded, &fold(candidate));
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `name` lowercased without `-` and `_`.
fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Edit distance by chars: insertions, deletions, substitutions and
/// transpositions of neighbours (`prot` → `port` is 1).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // d[i * width + j]: distance between a[..i] and b[..j].
    let mut d: Vec<usize> = vec![0; (a.len() + 1) * width];
    let at = |i: usize, j: usize| i * width + j;
    for i in 0..=a.len() {
        d[at(i, 0)] = i;
    }
    for j in 0..=b.len() {
        d[at(0, j)] = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut value = (d[at(i - 1, j - 1)] + cost)
                .min(d[at(i - 1, j)] + 1)
                .min(d[at(i, j - 1)] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                value = value.min(d[at(i - 2, j - 2)] + 1);
            }
            d[at(i, j)] = value;
        }
    }
    d[at(a.len(), b.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    const VENDORS: [&str; 6] = [
        "open_ai",
        "anthropic",
        "google",
        "open_router",
        "deep_seek",
        "custom",
    ];
    const STRATEGIES: [&str; 5] = [
        "priority",
        "failover",
        "round_robin",
        "weighted",
        "least_busy",
    ];
    const ACCOUNT_KEYS: [&str; 6] = [
        "id",
        "vendor",
        "base_url",
        "api_key_env",
        "api_key_file",
        "models",
    ];

    #[test]
    fn suggestions() {
        // (typed, candidates, expected)
        let table: &[(&str, &[&str], Option<&str>)] = &[
            ("openai", &VENDORS, Some("open_ai")),
            ("openrouter", &VENDORS, Some("open_router")),
            ("OpenRouter", &VENDORS, Some("open_router")),
            ("deepseek", &VENDORS, Some("deep_seek")),
            ("anthropc", &VENDORS, Some("anthropic")),
            ("gemini", &VENDORS, None),
            ("open_ai", &VENDORS, None),
            ("round-robin", &STRATEGIES, Some("round_robin")),
            ("least-busy", &STRATEGIES, Some("least_busy")),
            ("roundrobin", &STRATEGIES, Some("round_robin")),
            ("random", &STRATEGIES, None),
            ("vendr", &ACCOUNT_KEYS, Some("vendor")),
            ("base-url", &ACCOUNT_KEYS, Some("base_url")),
            ("api_key_var", &ACCOUNT_KEYS, Some("api_key_env")),
            ("model", &ACCOUNT_KEYS, Some("models")),
            ("xy", &ACCOUNT_KEYS, None),
            ("prot", &["host", "port"], Some("port")),
            (
                "fallback",
                &["model", "pool", "fallback_route"],
                Some("fallback_route"),
            ),
            ("api_key", &ACCOUNT_KEYS, None),
            ("token", &ACCOUNT_KEYS, None),
        ];
        for (typed, candidates, expected) in table {
            assert_eq!(
                closest(typed, candidates.iter().copied()),
                *expected,
                "{typed}"
            );
        }
    }

    #[test]
    fn distances() {
        let table = [
            ("", "", 0),
            ("a", "", 1),
            ("kitten", "sitting", 3),
            ("vendr", "vendor", 1),
            ("abc", "abc", 0),
            ("prot", "port", 1),
        ];
        for (a, b, d) in table {
            assert_eq!(distance(a, b), d, "{a} {b}");
        }
    }
}
