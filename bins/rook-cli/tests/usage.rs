//! `usage report` over events inserted through the registry library.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::{rt, Env};
use rook_gateway::rook_registry::{ConnectOptions, Registry, UsageEvent};

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn event(i: i64, model: &str, account: &str, outcome: &str, ts: i64) -> UsageEvent {
    UsageEvent {
        request_id: format!("req-{i}"),
        ts_ms: ts,
        model: model.into(),
        vendor: Some("open_ai".into()),
        account_id: Some(account.into()),
        stream: i % 2 == 0,
        attempts: 1,
        outcome: outcome.into(),
        status_code: 200,
        latency_ms: u64::try_from(100 * i).unwrap(),
        prompt_tokens: Some(10),
        completion_tokens: Some(5),
        total_tokens: Some(15),
        cost_usd: Some(0.25),
        ..Default::default()
    }
}

/// Five events in the last hour, one from ten days ago.
fn events() -> Vec<UsageEvent> {
    let now = now_ms();
    vec![
        event(1, "gpt-4o", "openai-a", "success", now - 3_600_000),
        event(2, "gpt-4o", "openai-b", "success", now - 1_800_000),
        event(3, "gpt-4o", "openai-a", "upstream_error", now - 600_000),
        event(4, "claude", "anthropic-a", "success", now - 60_000),
        event(5, "claude", "anthropic-a", "success", now - 1_000),
        event(6, "old-model", "openai-a", "success", now - 10 * 86_400_000),
    ]
}

async fn seed(url: &str, schema: Option<String>) {
    let registry = Registry::connect(
        url,
        ConnectOptions {
            schema,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    registry.insert_usage_events(&events()).await.unwrap();
    registry.close().await;
}

fn check_json_totals(report: &serde_json::Value) {
    let t = &report["totals"];
    assert_eq!(t["requests"], 5, "{report:#}");
    assert_eq!(t["failed_requests"], 1);
    assert_eq!(t["streaming_requests"], 2);
    assert_eq!(t["prompt_tokens"], 50);
    assert_eq!(t["completion_tokens"], 25);
    assert_eq!(t["total_tokens"], 75);
    assert!((t["cost_usd"].as_f64().unwrap() - 1.25).abs() < 1e-9);
    assert_eq!(t["latency_p50_ms"], 300);
    assert_eq!(t["latency_p95_ms"], 500);
    assert!(report["since_ms"].is_i64());
    let models = report["groups"]["model"].as_array().unwrap();
    let keys: Vec<&str> = models.iter().map(|g| g["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["claude", "gpt-4o"]);
    assert_eq!(models[1]["requests"], 3);
    assert_eq!(models[1]["failed_requests"], 1);
}

#[test]
fn json_csv_and_table_over_sqlite() {
    let env = Env::new();
    let url = env.db_url();
    rt().block_on(seed(&url, None));
    let cfg = env
        .config(&format!("database_url = \"{url}\"\n"))
        .display()
        .to_string();

    let run = env.run(
        &["usage", "report", "--config", &cfg, "--format", "json"],
        &[],
    );
    run.assert_code(0);
    let report = run.json();
    check_json_totals(&report);
    assert_eq!(report["groups"].as_object().unwrap().len(), 1);

    // Older window includes the ten-day-old event; repeated and comma-separated --group-by.
    let run = env.run(
        &[
            "usage",
            "report",
            "--config",
            &cfg,
            "--since",
            "30d",
            "--group-by",
            "account,outcome",
            "--group-by",
            "model",
            "--format",
            "json",
        ],
        &[],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["totals"]["requests"], 6);
    let groups = report["groups"].as_object().unwrap();
    assert_eq!(groups.len(), 3);
    let outcomes = groups["outcome"].as_array().unwrap();
    assert_eq!(outcomes.len(), 2);

    let run = env.run(
        &[
            "usage",
            "report",
            "--config",
            &cfg,
            "--format",
            "csv",
            "--group-by",
            "model,day",
        ],
        &[],
    );
    run.assert_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "group,key,requests,failed_requests,streaming_requests,prompt_tokens,completion_tokens,total_tokens,cost_usd,latency_p50_ms,latency_p95_ms,requests_without_usage"
    );
    assert!(
        lines.contains(&"model,gpt-4o,3,1,1,30,15,45,0.750000,200,300,0"),
        "{lines:?}"
    );
    assert_eq!(
        *lines.last().unwrap(),
        "totals,,5,1,2,50,25,75,1.250000,300,500,0"
    );
    assert!(lines.iter().any(|l| l.starts_with("day,")), "{lines:?}");

    let run = env.run(&["usage", "report", "--config", &cfg], &[]);
    run.assert_code(0);
    let header = run.stdout.lines().find(|l| l.starts_with("MODEL")).unwrap();
    assert!(
        header.contains("REQUESTS") && header.contains("P95_MS"),
        "{header}"
    );
    let total = run
        .stdout
        .lines()
        .find(|l| l.starts_with("TOTAL "))
        .unwrap();
    let cells: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(cells[1], "5");
    assert_eq!(cells[6], "75");
    // Aligned: every table line is as wide as the header at the REQUESTS column end.
    let end = header.find("REQUESTS").unwrap() + "REQUESTS".len();
    for l in run.stdout.lines().skip_while(|l| !l.starts_with("MODEL")) {
        assert!(!l.as_bytes()[end - 1].is_ascii_whitespace(), "{l}");
    }

    // Until before every event: empty report.
    let run = env.run(
        &[
            "usage", "report", "--config", &cfg, "--since", "30d", "--until", "20d", "--format",
            "json",
        ],
        &[],
    );
    run.assert_code(0);
    assert_eq!(run.json()["totals"]["requests"], 0);
}

#[test]
fn group_by_endpoint_and_requests_without_usage() {
    let env = Env::new();
    let url = env.db_url();
    let now = now_ms();
    // (endpoint, outcome, tokens known)
    let table = [
        ("chat", "success", true),
        ("chat", "success", false),
        ("messages", "partial", false),
        ("messages", "error", false),
        ("embeddings", "success", true),
    ];
    let events: Vec<UsageEvent> = table
        .iter()
        .enumerate()
        .map(|(i, (endpoint, outcome, known))| {
            let i = i64::try_from(i).unwrap() + 1;
            let mut e = event(i, "m", "a", outcome, now - 60_000 * i);
            e.endpoint = endpoint.to_string();
            if !known {
                e.prompt_tokens = None;
                e.completion_tokens = None;
                e.total_tokens = None;
            }
            e
        })
        .collect();
    rt().block_on(async {
        let registry = Registry::connect(&url, ConnectOptions::default())
            .await
            .unwrap();
        registry.insert_usage_events(&events).await.unwrap();
        registry.close().await;
    });
    let cfg = env
        .config(&format!("database_url = \"{url}\"\n"))
        .display()
        .to_string();
    let report = |format: &str| {
        let run = env.run(
            &[
                "usage",
                "report",
                "--config",
                &cfg,
                "--group-by",
                "endpoint",
                "--format",
                format,
            ],
            &[],
        );
        run.assert_code(0);
        run
    };

    let json = report("json").json();
    assert_eq!(json["totals"]["requests_without_usage"], 2, "{json:#}");
    let groups: Vec<(&str, u64, u64)> = json["groups"]["endpoint"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap(),
                g["requests"].as_u64().unwrap(),
                g["requests_without_usage"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [("chat", 2, 1), ("embeddings", 1, 0), ("messages", 2, 1)]
    );

    let csv = report("csv").stdout;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].ends_with(",latency_p95_ms,requests_without_usage"),
        "{lines:?}"
    );
    for (prefix, without) in [
        ("endpoint,chat,", "1"),
        ("endpoint,embeddings,", "0"),
        ("endpoint,messages,", "1"),
        ("totals,,", "2"),
    ] {
        let line = lines.iter().find(|l| l.starts_with(prefix)).unwrap();
        assert_eq!(line.rsplit(',').next(), Some(without), "{line}");
    }

    let table = report("table").stdout;
    let header = table.lines().find(|l| l.starts_with("ENDPOINT")).unwrap();
    assert!(header.trim_end().ends_with("NO_USAGE"), "{header}");
    let total = table.lines().find(|l| l.starts_with("TOTAL ")).unwrap();
    assert_eq!(total.split_whitespace().last(), Some("2"), "{total}");

    let run = env.run(
        &[
            "usage",
            "report",
            "--config",
            &cfg,
            "--group-by",
            "endpoints",
        ],
        &[],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("outcome, endpoint or key"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_arguments_exit_2() {
    let env = Env::new();
    let run = env.run(&["usage", "report", "--group-by", "colour"], &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("colour"));
    let run = env.run(&["usage", "report", "--since", "yesterday"], &[]);
    run.assert_code(2);
}

#[test]
fn missing_database_exits_2_and_is_not_created() {
    let env = Env::new();
    let url = env.db_url();
    let run = env.run(&["usage", "report", "--database-url", &url], &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("database missing"), "{}", run.stderr);
    assert!(run.stderr.contains("rook-cli db migrate"), "{}", run.stderr);
    assert!(!env.db_path().exists());
    assert!(!env.db_path().parent().unwrap().exists());
}

/// Postgres through the CLI: the per-test schema is selected with libpq's
/// `options=-c search_path=…` URL parameter, which sqlx honours.
#[test]
fn json_over_postgres() {
    let Some(base) = common::postgres_url("usage::json_over_postgres") else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("cli_usage_{}_{nanos}", std::process::id());
    rt().block_on(seed(&base, Some(schema.clone())));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let env = Env::new();
    let run = env.run(
        &[
            "usage",
            "report",
            "--database-url",
            &url,
            "--format",
            "json",
        ],
        &[],
    );
    run.assert_code(0);
    check_json_totals(&run.json());
}
