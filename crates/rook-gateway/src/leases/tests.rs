use super::*;

#[tokio::test]
async fn local_limits_keep_the_token_bucket() {
    let l = GlobalKeyed::new("route", 2, SharedLimits::local());
    assert!(l.check("gpt").await.is_ok());
    assert!(l.check("gpt").await.is_ok());
    let wait = l.check("gpt").await.unwrap_err();
    assert!(wait > Duration::from_secs(29) && wait <= Duration::from_secs(30));
    assert!(l.check("other").await.is_ok());
    let off = GlobalKeyed::new("route", 0, SharedLimits::local());
    for _ in 0..100 {
        assert!(off.check("gpt").await.is_ok());
    }
}

/// A pending take waits for the lease task's answer and then succeeds; with no
/// answer it gives up after [`PENDING_MAX_WAIT`].
#[tokio::test(start_paused = true)]
async fn pending_takes_wait_for_the_answer() {
    let limits = SharedLimits::local();
    let answers = limits.clone();
    let mut tries = 0;
    let answerer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        answers.answered.notify_waiters();
    });
    let r = limits
        .settle_pending(|| {
            tries += 1;
            if tries == 1 {
                Err(Refusal::Pending)
            } else {
                Ok(tries)
            }
        })
        .await;
    assert_eq!(r, Ok(2));
    answerer.await.unwrap();
    let start = tokio::time::Instant::now();
    let r: Result<(), _> = limits.settle_pending(|| Err(Refusal::Pending)).await;
    assert_eq!(r, Err(PENDING_RETRY_AFTER));
    assert_eq!(start.elapsed(), PENDING_MAX_WAIT);
    let r: Result<(), _> = limits
        .settle_pending(|| Err(Refusal::Wait(Duration::from_secs(7))))
        .await;
    assert_eq!(r, Err(Duration::from_secs(7)));
}

#[test]
fn pairs_are_local_without_a_shared_table() {
    let shared = SharedLimits::local();
    assert!(LeasedPair::new(&shared, "acct", "a", Some(1), None).is_none());
    let local = RateLimits::new(Some(1), Some(100), Instant::now());
    let t = reserve_pair(None, local.as_ref(), 50).unwrap().unwrap();
    assert!(matches!(t, Ticket::Local(_)));
    assert!(matches!(
        reserve_pair(None, local.as_ref(), 1),
        Err(Refusal::Wait(_))
    ));
    settle_pair(None, local.as_ref(), t, Some(10));
    assert!(reserve_pair(None, None, 1 << 40).unwrap().is_none());
}

/// On PostgreSQL, a burst faster than the lease round trip is not refused below its
/// limit: the second of two requests under a 2/min limit arrives before the first
/// lease is answered and waits for it (the CI failure of `client_keys_on_postgres`).
#[tokio::test]
async fn a_burst_below_the_limit_waits_for_its_lease() {
    let Some(admin_url) = rook_test_support::cluster::postgres_url() else {
        return;
    };
    let db = rook_test_support::cluster::TempDatabase::create(&admin_url, "leases_burst").unwrap();
    let registry = Registry::connect(&db.url(), rook_registry::ConnectOptions::default())
        .await
        .unwrap();
    // the three takes must fall in one wall-clock minute
    let into_minute = wall_ms() % 60_000;
    if into_minute > 50_000 {
        tokio::time::sleep(Duration::from_millis(60_100 - into_minute)).await;
    }
    let shared = SharedLimits::start(&registry);
    assert!(shared.is_shared());
    let route = GlobalKeyed::new("route", 2, shared.clone());
    assert_eq!(route.check("m").await, Ok(()));
    assert_eq!(route.check("m").await, Ok(()));
    let wait = route.check("m").await.unwrap_err();
    assert!(
        wait > PENDING_RETRY_AFTER,
        "refused until the window ends: {wait:?}"
    );
    let pair = LeasedPair::new(&shared, "key", "k", Some(2), None).unwrap();
    assert!(matches!(
        reserve_pair_waiting(Some(&pair), None, 1).await,
        Ok(Some(Ticket::Leased { .. }))
    ));
    assert!(reserve_pair_waiting(Some(&pair), None, 1).await.is_ok());
    assert!(reserve_pair_waiting(Some(&pair), None, 1).await.is_err());
}
