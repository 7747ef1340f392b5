#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn event(i: u32) -> UsageEvent {
    UsageEvent {
        request_id: format!("req-{i}"),
        ts_ms: 1_000 + i64::from(i),
        model: "m".into(),
        outcome: "success".into(),
        status_code: 200,
        prompt_tokens: Some(u64::from(i)),
        event_key: Some(format!("00000000000000ab.{i:x}")),
        ..UsageEvent::default()
    }
}

fn journal_of(events: &[UsageEvent]) -> Vec<u8> {
    events.iter().flat_map(encode).collect()
}

#[test]
fn records_round_trip_in_order() {
    let events: Vec<_> = (0..50).map(event).collect();
    let bytes = journal_of(&events);
    assert_eq!(
        decode(&bytes),
        Decoded {
            events: events.clone(),
            damaged: 0
        }
    );
    // One line per event, newline-terminated, checksum first.
    let line = encode(&events[0]);
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
    assert_eq!(line[16], b' ');
    assert!(decode(b"").events.is_empty());
}

/// A write cut short at any byte (kill -9 mid-write): the torn record is
/// skipped, every complete one before it kept.
#[test]
fn a_torn_last_record_is_skipped_at_every_cut() {
    let events: Vec<_> = (0..3).map(event).collect();
    let bytes = journal_of(&events);
    let first_two = encode(&events[0]).len() + encode(&events[1]).len();
    for cut in first_two + 1..bytes.len() {
        let d = decode(&bytes[..cut]);
        assert_eq!(d.events, events[..2], "cut at {cut}");
        assert_eq!(d.damaged, 1, "cut at {cut}");
    }
    assert_eq!(decode(&bytes[..first_two]).damaged, 0);
}

/// A damaged record in the middle (a flipped byte, zeros left by an OS crash)
/// is skipped and the rest replayed.
#[test]
fn damaged_records_in_the_middle_are_skipped() {
    let events: Vec<_> = (0..3).map(event).collect();
    let mut bytes = journal_of(&events);
    let at = encode(&events[0]).len() + 40;
    bytes[at] ^= 0x01;
    let d = decode(&bytes);
    assert_eq!(d.events, vec![events[0].clone(), events[2].clone()]);
    assert_eq!(d.damaged, 1);

    let mut zeros = encode(&events[0]);
    zeros.extend_from_slice(&[0u8; 300]);
    zeros.push(b'\n');
    zeros.extend_from_slice(&encode(&events[1]));
    let d = decode(&zeros);
    assert_eq!(d.events, events[..2]);
    assert_eq!(d.damaged, 1);

    // Valid checksum, not an event; a short line; a missing separator.
    let json = b"{\"x\":1}";
    let mut odd = format!("{:016x} ", fnv1a(json)).into_bytes();
    odd.extend_from_slice(json);
    odd.extend_from_slice(b"\nabc\n0123456789abcdefX{}\n");
    assert_eq!(decode(&odd).damaged, 3);
}

#[test]
fn journal_file_names() {
    assert_eq!(journal_file_kind("usage.journal"), Some(None));
    assert_eq!(journal_file_kind("usage.journal.7"), Some(Some(7)));
    assert_eq!(journal_file_kind("usage.journal."), None);
    assert_eq!(journal_file_kind("usage.journal.7.tmp"), None);
    assert_eq!(journal_file_kind("usage.journalx"), None);
    assert_eq!(journal_file_kind("admin-token"), None);
}

#[test]
fn in_memory_databases_have_no_journal() {
    assert!(in_memory("sqlite::memory:"));
    assert!(in_memory("sqlite://:memory:"));
    assert!(in_memory("sqlite://x.db?mode=memory&cache=shared"));
    assert!(!in_memory("sqlite://rook.db"));
    assert!(!in_memory("postgres://u@h/db"));
}

fn live(dir: &Path) -> Vec<UsageEvent> {
    decode(&std::fs::read(dir.join(JOURNAL_FILE)).unwrap()).events
}

fn names(dir: &Path) -> Vec<String> {
    let mut n: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    n.sort();
    n
}

#[test]
fn append_retire_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), 1 << 20).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(JOURNAL_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let k1 = j.next_key();
    assert_ne!(k1, j.next_key());
    // Appended only when queued.
    j.append_queued(&encode(&event(0)), |g| {
        assert_eq!(g, 1);
        true
    });
    j.append_queued(&encode(&event(1)), |_| false);
    assert_eq!(live(dir.path()), vec![event(0)]);
    // Written, something else still queued: the live file is sealed.
    j.retire(Some(1), || false);
    assert_eq!(names(dir.path()), ["usage.journal", "usage.journal.1"]);
    j.append_queued(&encode(&event(2)), |g| {
        assert_eq!(g, 2);
        true
    });
    // A batch that ends in generation 2: generation 1 is written in full.
    j.retire(Some(2), || false);
    assert_eq!(names(dir.path()), ["usage.journal", "usage.journal.2"]);
    // Nothing queued any more: all gone, the live file empty.
    j.retire(Some(3), || true);
    assert_eq!(names(dir.path()), ["usage.journal"]);
    assert!(live(dir.path()).is_empty());
    // Appends after a truncation still land (O_APPEND).
    j.append_queued(&encode(&event(3)), |_| true);
    assert_eq!(live(dir.path()), vec![event(3)]);
}

#[test]
fn a_full_journal_drops_new_records_but_keeps_the_old() {
    let dir = tempfile::tempdir().unwrap();
    let one = encode(&event(0)).len() as u64;
    let j = Journal::open(dir.path(), one * 2 + 1).unwrap();
    let mut queued = 0;
    for i in 0..5 {
        j.append_queued(&encode(&event(i)), |_| {
            queued += 1;
            true
        });
    }
    // Still queued, but only two fit.
    assert_eq!(queued, 5);
    assert_eq!(live(dir.path()), vec![event(0), event(1)]);
    // Retiring makes room again.
    j.retire(Some(1), || true);
    j.append_queued(&encode(&event(7)), |_| true);
    assert_eq!(live(dir.path()), vec![event(7)]);
}

#[test]
fn a_new_journal_never_reuses_a_left_generation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("usage.journal.4"), encode(&event(1))).unwrap();
    let j = Journal::open(dir.path(), 1 << 20).unwrap();
    j.append_queued(&encode(&event(2)), |g| {
        assert_eq!(g, 5);
        true
    });
    j.retire(Some(5), || false);
    assert_eq!(
        names(dir.path()),
        ["usage.journal", "usage.journal.4", "usage.journal.5"]
    );
    // Only its own sealed files are ever deleted.
    j.retire(None, || true);
    assert_eq!(names(dir.path()), ["usage.journal", "usage.journal.4"]);
}

/// Replay writes every intact event once, skips a torn tail, deletes the files;
/// replaying events already in the database adds nothing.
#[tokio::test]
async fn replay_is_idempotent_and_skips_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rook.db").display());
    let registry = Registry::connect(&url, rook_registry::ConnectOptions::default())
        .await
        .unwrap();
    let events: Vec<_> = (0..10).map(event).collect();
    // Events 0..4 reached the database before the crash; all ten are journaled
    // (a sealed file and the live one, which ends in a torn record).
    registry.insert_usage_events(&events[..4]).await.unwrap();
    std::fs::write(dir.path().join("usage.journal.3"), journal_of(&events[..6])).unwrap();
    let mut live_bytes = journal_of(&events[6..]);
    let torn = encode(&event(99));
    live_bytes.extend_from_slice(&torn[..torn.len() / 2]);
    std::fs::write(dir.path().join(JOURNAL_FILE), live_bytes).unwrap();

    replay(dir.path(), &registry).await;
    let stored = registry.usage_events(None, None).await.unwrap();
    let ids: Vec<_> = stored.iter().map(|e| e.request_id.clone()).collect();
    let want: Vec<_> = (0..10).map(|i| format!("req-{i}")).collect();
    assert_eq!(ids, want);
    assert!(names(dir.path())
        .iter()
        .all(|n| !n.starts_with("usage.journal")));
    registry.close().await;
}
