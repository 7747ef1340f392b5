//! Shared account health on PostgreSQL (issue 14): transitions written with a
//! compare-and-set (the later cooldown wins, a close loses to a running cooldown, a
//! reset always wins), each announced on `rook_changes`, and a probe lease that
//! exactly one of many concurrent callers wins.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use rook_registry::cluster::Notice;
use rook_registry::health::{HealthWrite, ProbeLease, Written};

fn open(until_ms: i64) -> HealthWrite {
    HealthWrite::Open {
        until_ms,
        times_opened: 1,
        consecutive_failures: 1,
        last_error_class: Some("rate_limited".into()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transitions_merge_and_notify() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let r = &db.registry;
    let mut listener = r.listen_changes("rook-test-health").await.unwrap().unwrap();
    let now = 1_000_000;

    let Written::Applied(v1) = r
        .write_health("a", "i1", &open(now + 30_000), now)
        .await
        .unwrap()
    else {
        panic!("the first cooldown is written")
    };
    let n = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let Notice::Health(n) = n else {
        panic!("{n:?}")
    };
    assert_eq!((n.version, n.account_id.as_str()), (v1, "a"));

    // An earlier cooldown from another instance loses: the row is answered.
    let w = r
        .write_health("a", "i2", &open(now + 10_000), now)
        .await
        .unwrap();
    let Written::Superseded(row) = w else {
        panic!("{w:?}")
    };
    assert_eq!(row.cooldown_until_ms, Some(now + 30_000));
    assert_eq!(row.updated_by.as_deref(), Some("i1"));
    assert_eq!(row.version, v1);

    // A close while the cooldown still runs loses too.
    let w = r
        .write_health("a", "i2", &HealthWrite::Close, now + 1)
        .await
        .unwrap();
    assert!(
        matches!(w, Written::Superseded(ref row) if row.cooldown_until_ms.is_some()),
        "{w:?}"
    );

    // A later cooldown wins and bumps the version.
    let w = r
        .write_health("a", "i2", &open(now + 60_000), now)
        .await
        .unwrap();
    let Written::Applied(v2) = w else {
        panic!("{w:?}")
    };
    assert!(v2 > v1);

    // After the cooldown, a close (a probe's success) wins.
    let w = r
        .write_health("a", "i2", &HealthWrite::Close, now + 60_000)
        .await
        .unwrap();
    assert!(matches!(w, Written::Applied(v) if v > v2), "{w:?}");
    let row = r.shared_health("a").await.unwrap().unwrap();
    assert_eq!(row.cooldown_until_ms, None);

    // A reset wins over a running cooldown.
    r.write_health("a", "i1", &open(now + 90_000), now)
        .await
        .unwrap();
    let w = r
        .write_health("a", "i3", &HealthWrite::Reset, now)
        .await
        .unwrap();
    assert!(matches!(w, Written::Applied(_)), "{w:?}");
    let row = r.shared_health("a").await.unwrap().unwrap();
    assert_eq!((row.cooldown_until_ms, row.times_opened), (None, 0));
    assert_eq!(r.load_shared_health().await.unwrap().len(), 1);
    listener.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_instance_wins_the_probe_lease() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let r = &db.registry;
    let now = 5_000_000;
    assert_eq!(
        r.lease_probe("a", "i1", now, 500, 10_000).await.unwrap(),
        ProbeLease::Missing
    );
    r.write_health("a", "i1", &open(now + 2_000), now)
        .await
        .unwrap();
    // Too early: the cooldown does not end within the lead.
    assert!(matches!(
        r.lease_probe("a", "i1", now, 500, 10_000).await.unwrap(),
        ProbeLease::Lost(_)
    ));
    // Thirty concurrent callers at the lead: one wins.
    let at = now + 1_600;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            r.lease_probe("a", &format!("i{i}"), at, 500, 10_000)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), ProbeLease::Won { until_ms } if until_ms == at + 10_000) {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    let row = r.shared_health("a").await.unwrap().unwrap();
    let owner = row.probe_owner.clone().unwrap();
    assert_eq!(row.foreign_probe_until("someone", at), Some(at + 10_000));
    // While the lease runs nobody else wins; once it has ended, another may.
    assert!(matches!(
        r.lease_probe("a", "late", at + 9_999, 500, 10_000)
            .await
            .unwrap(),
        ProbeLease::Lost(_)
    ));
    assert!(matches!(
        r.lease_probe("a", "late", at + 10_000, 500, 10_000)
            .await
            .unwrap(),
        ProbeLease::Won { .. }
    ));
    assert_ne!(owner, "late");
    // A new cooldown ends the lease.
    r.write_health("a", "late", &open(at + 60_000), at + 10_001)
        .await
        .unwrap();
    let row = r.shared_health("a").await.unwrap().unwrap();
    assert_eq!((row.probe_owner, row.probe_until_ms), (None, None));
    db.cleanup().await;
}

/// The panic probe lease: taken while the cooldown still runs, by one of many
/// concurrent callers; renewed by its owner; free again once it ends or a new
/// cooldown is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_panic_probe_lease_at_a_time() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let r = &db.registry;
    let now = 5_000_000;
    assert_eq!(
        r.lease_panic_probe("a", "i1", now, 10_000).await.unwrap(),
        ProbeLease::Missing
    );
    r.write_health("a", "i1", &open(now + 30_000), now)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            let me = format!("i{i}");
            (i, r.lease_panic_probe("a", &me, now, 10_000).await.unwrap())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, lease) = t.await.unwrap();
        match lease {
            ProbeLease::Won { until_ms } => {
                assert_eq!(until_ms, now + 10_000);
                winners.push(format!("i{i}"));
            }
            ProbeLease::Lost(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let owner = winners[0].clone();
    // the owner renews; others lose until the lease ends
    assert!(matches!(
        r.lease_panic_probe("a", &owner, now + 5_000, 10_000).await.unwrap(),
        ProbeLease::Won { until_ms } if until_ms == now + 15_000
    ));
    let lost = r.lease_panic_probe("a", "late", now + 14_999, 10_000);
    match lost.await.unwrap() {
        ProbeLease::Lost(row) => assert_eq!(row.probe_until_ms, Some(now + 15_000)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        r.lease_panic_probe("a", "late", now + 15_000, 10_000)
            .await
            .unwrap(),
        ProbeLease::Won { .. }
    ));
    // the probe failed: its new cooldown ends the lease
    r.write_health("a", "late", &open(now + 90_000), now + 15_001)
        .await
        .unwrap();
    assert!(matches!(
        r.lease_panic_probe("a", &owner, now + 15_002, 10_000)
            .await
            .unwrap(),
        ProbeLease::Won { .. }
    ));
    // the probe succeeded while the cooldown still runs: only the lease holder closes
    let close = |who: &'static str| r.write_health("a", who, &HealthWrite::Close, now + 15_003);
    assert!(matches!(
        close("late").await.unwrap(),
        Written::Superseded(_)
    ));
    assert!(matches!(
        close("nobody").await.unwrap(),
        Written::Superseded(_)
    ));
    let row = r.shared_health("a").await.unwrap().unwrap();
    assert_eq!(row.cooldown_until_ms, Some(now + 90_000));
    let by_owner = r.write_health("a", &owner, &HealthWrite::Close, now + 15_004);
    assert!(matches!(by_owner.await.unwrap(), Written::Applied(_)));
    let row = r.shared_health("a").await.unwrap().unwrap();
    assert_eq!((row.cooldown_until_ms, row.probe_owner), (None, None));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_does_not_share_health() {
    let db = common::sqlite().await;
    assert!(db.registry.load_shared_health().await.is_err());
    db.cleanup().await;
}
