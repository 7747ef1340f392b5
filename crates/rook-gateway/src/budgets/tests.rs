use super::*;

const DAY: Period = Period {
    start_ms: 0,
    end_ms: Some(86_400_000),
};

/// Answers the table's wants once with `grant(want)`, as the lease task would.
fn answer(b: &SharedBudgets, grant: impl Fn(&SpendWant) -> Option<f64>) {
    let table = b.table.as_ref().unwrap();
    for w in table.wants(1) {
        match grant(&w) {
            Some(usd) => table.granted(&w, usd),
            None => table.failed(&w),
        }
    }
    b.answered.notify_waiters();
}

#[tokio::test]
async fn without_a_table_every_decision_is_local() {
    let b = SharedBudgets::new(false);
    assert!(!b.is_shared());
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Local);
    b.charge("k", 1.0, DAY, 5.0);
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Local);
}

/// Nothing in hand: the request waits for the lease, then is admitted from it; a
/// lease in hand admits without waiting.
#[tokio::test(start_paused = true)]
async fn a_request_waits_for_the_lease_on_its_way() {
    let b = SharedBudgets::new(true);
    let task = b.clone();
    let answerer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        answer(&task, |w| Some(w.slice));
    });
    let start = tokio::time::Instant::now();
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Admitted);
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    answerer.await.unwrap();
    let start = tokio::time::Instant::now();
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Admitted);
    assert_eq!(start.elapsed(), Duration::ZERO, "in hand: no wait");
}

/// Granted out and spent: refused at once, on every later request too.
#[tokio::test(start_paused = true)]
async fn a_budget_granted_out_and_spent_is_refused() {
    let b = SharedBudgets::new(true);
    answer(&b, |_| None); // nothing wanted yet: no effect
    assert!(!b.table.as_ref().unwrap().is_fallback());
    let task = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        answer(&task, |_| Some(0.05)); // the last $0.05 of the budget
    });
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Admitted);
    b.charge("k", 1.0, DAY, 0.07);
    let start = tokio::time::Instant::now();
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Refused);
    assert_eq!(start.elapsed(), Duration::ZERO);
    // a raise is asked for again (and waits for it)
    let task = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        answer(&task, |w| Some(w.slice));
    });
    assert_eq!(b.admit("k", 2.0, DAY).await, Budget::Admitted);
}

/// A failed lease: decided locally until a lease succeeds again; no answer at all
/// within [`PENDING_MAX_WAIT`]: decided locally.
#[tokio::test(start_paused = true)]
async fn an_unreachable_database_falls_back_to_the_local_count() {
    let b = SharedBudgets::new(true);
    let task = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        answer(&task, |_| None);
    });
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Local);
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Local);
    // back: the next grant ends the fallback
    answer(&b, |w| Some(w.slice));
    assert_eq!(b.admit("k", 1.0, DAY).await, Budget::Admitted);
    let start = tokio::time::Instant::now();
    assert_eq!(b.admit("silent", 1.0, DAY).await, Budget::Local);
    assert_eq!(start.elapsed(), PENDING_MAX_WAIT);
}

/// On PostgreSQL, two instances (two tables with their lease tasks) spending one
/// $0.10 budget at $0.004 a request, one request at a time each: together they spend
/// at least the budget less a slice and at most the budget plus one request each.
#[tokio::test]
async fn two_instances_share_one_budget_on_postgres() {
    let Some(admin_url) = rook_test_support::cluster::postgres_url() else {
        return;
    };
    let db = rook_test_support::cluster::TempDatabase::create(&admin_url, "budgets").unwrap();
    let mut instances = Vec::new();
    for _ in 0..2 {
        let registry = Registry::connect(&db.url(), rook_registry::ConnectOptions::default())
            .await
            .unwrap();
        let b = SharedBudgets::start(&registry);
        assert!(b.is_shared());
        instances.push((b, registry));
    }
    let period = Period {
        start_ms: 0,
        end_ms: None,
    };
    let cost = 0.004;
    let mut spent = 0.0;
    let mut refused = [false, false];
    let mut rounds = 0;
    while refused.contains(&false) {
        rounds += 1;
        assert!(rounds < 200, "never refused: spent {spent}");
        for (i, (b, _)) in instances.iter().enumerate() {
            match b.admit("k", 0.1, period).await {
                Budget::Admitted => {
                    assert!(!refused[i], "admitted again after a refusal");
                    b.charge("k", 0.1, period, cost);
                    spent += cost;
                }
                Budget::Refused => refused[i] = true,
                Budget::Local => panic!("the database is reachable"),
            }
        }
    }
    assert!(spent <= 0.1 + 2.0 * cost + 1e-9, "spent {spent}");
    assert!(spent >= 0.1 - 0.01 - 1e-9, "spent {spent}");
}
