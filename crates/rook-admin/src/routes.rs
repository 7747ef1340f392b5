//! The admin API's route table and path-template matching.

/// Every route of the admin API: `(method, path template)`. The dispatcher serves exactly
/// these, and the OpenAPI document describes exactly these (a test checks both ways).
///
/// A `{id}` parameter is one path segment; `{model}` (last in its template) is the whole
/// rest of the path, so model names may contain `/`. Parameters are percent-decoded.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/health/live"),
    ("GET", "/api/health/ready"),
    ("GET", "/api/health/accounts"),
    ("GET", "/api/status"),
    ("GET", "/api/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/accounts"),
    ("POST", "/api/accounts"),
    ("GET", "/api/accounts/{id}"),
    ("PUT", "/api/accounts/{id}"),
    ("PATCH", "/api/accounts/{id}"),
    ("DELETE", "/api/accounts/{id}"),
    ("PUT", "/api/accounts/{id}/api_key"),
    ("DELETE", "/api/accounts/{id}/api_key"),
    ("POST", "/api/accounts/{id}/reset"),
    ("GET", "/api/pools"),
    ("POST", "/api/pools"),
    ("GET", "/api/pools/{id}"),
    ("PUT", "/api/pools/{id}"),
    ("PATCH", "/api/pools/{id}"),
    ("DELETE", "/api/pools/{id}"),
    ("PUT", "/api/pools/{id}/members"),
    ("GET", "/api/routes"),
    ("POST", "/api/routes"),
    ("GET", "/api/routes/{model}"),
    ("PUT", "/api/routes/{model}"),
    ("PATCH", "/api/routes/{model}"),
    ("DELETE", "/api/routes/{model}"),
    ("GET", "/api/keys"),
    ("POST", "/api/keys"),
    ("GET", "/api/keys/{id}"),
    ("PATCH", "/api/keys/{id}"),
    ("DELETE", "/api/keys/{id}"),
    ("POST", "/api/keys/{id}/rotate"),
    ("GET", "/api/usage"),
    ("GET", "/api/usage/timeseries"),
    ("GET", "/api/audit/events"),
    ("GET", "/api/requests/recent"),
    ("POST", "/api/config/reload"),
];

/// The [`ROUTES`] template a path belongs to (any method), e.g.
/// `/api/accounts/{id}` for `/api/accounts/a`: a bounded label for metrics.
pub fn route_template(path: &str) -> Option<&'static str> {
    ROUTES
        .iter()
        .map(|(_, t)| *t)
        .find(|t| match_template(t, path).is_some())
}

/// Matches `path` against a [`ROUTES`] template; returns the decoded path parameters.
pub(crate) fn match_template(template: &str, path: &str) -> Option<Vec<String>> {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    let mut params = Vec::new();
    for (i, seg) in t.iter().enumerate() {
        if seg.starts_with('{') && seg.ends_with('}') {
            let raw = if *seg == "{model}" && i + 1 == t.len() {
                p.get(i..)?.join("/")
            } else {
                (*p.get(i)?).to_string()
            };
            let value = crate::reports::decode_path(&raw)?;
            if value.is_empty() {
                return None;
            }
            params.push(value);
            if *seg == "{model}" && i + 1 == t.len() {
                return Some(params);
            }
        } else if p.get(i) != Some(seg) {
            return None;
        }
    }
    (p.len() == t.len()).then_some(params)
}

#[cfg(test)]
mod route_tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            match_template("/api/accounts", "/api/accounts"),
            Some(vec![])
        );
        assert_eq!(match_template("/api/accounts", "/api/accounts/"), None);
        assert_eq!(
            match_template("/api/accounts/{id}", "/api/accounts/a.b"),
            Some(vec!["a.b".to_string()])
        );
        assert_eq!(
            match_template("/api/accounts/{id}", "/api/accounts/a/api_key"),
            None
        );
        assert_eq!(match_template("/api/accounts/{id}", "/api/accounts/"), None);
        assert_eq!(
            match_template("/api/accounts/{id}/api_key", "/api/accounts/a/api_key"),
            Some(vec!["a".to_string()])
        );
        assert_eq!(
            match_template("/api/routes/{model}", "/api/routes/openai/gpt-4o:free"),
            Some(vec!["openai/gpt-4o:free".to_string()])
        );
        assert_eq!(
            match_template("/api/routes/{model}", "/api/routes/openai%2Fgpt-4o%3Afree"),
            Some(vec!["openai/gpt-4o:free".to_string()])
        );
        assert_eq!(match_template("/api/routes/{model}", "/api/routes/"), None);
        assert_eq!(
            match_template("/api/routes/{model}", "/api/routes/%zz"),
            None
        );
    }
}
