#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::build::find_cycle;
use super::order::sort_by_load;
use super::*;

#[test]
fn find_cycle_reports_only_the_loop() {
    assert_eq!(find_cycle(&[Some(1), None]), None);
    assert_eq!(find_cycle(&[Some(1), Some(2), Some(1)]), Some(vec![1, 2]));
    assert_eq!(find_cycle(&[None, Some(1)]), Some(vec![1]));
    assert_eq!(
        find_cycle(&[Some(2), Some(0), Some(1)]),
        Some(vec![0, 2, 1])
    );
    assert_eq!(find_cycle(&[]), None);
}

#[test]
fn sort_by_load_orders_by_load_and_rotates_ties() {
    struct Load;
    impl AvailabilityView for Load {
        fn is_available(&self, _: AccountIdx) -> bool {
            true
        }
        fn in_flight(&self, idx: AccountIdx) -> u64 {
            (idx.0 % 3) as u64
        }
    }
    for n in [2, 32, 33, 100] {
        let mut tail: Vec<AccountIdx> = (0..n).rev().map(AccountIdx).collect();
        sort_by_load(&mut tail, &Load, 0);
        let mut expected: Vec<AccountIdx> = (0..n).rev().map(AccountIdx).collect();
        expected.sort_by_key(|a| a.0 % 3);
        assert_eq!(tail, expected, "n = {n}");
    }
    // Ties rotate within their run: loads 0,1,2,0,1,2 (members 0..6).
    let mut tail: Vec<AccountIdx> = (0..6).map(AccountIdx).collect();
    sort_by_load(&mut tail, &Load, 1);
    let order: Vec<usize> = tail.iter().map(|a| a.0).collect();
    assert_eq!(order, [3, 0, 4, 1, 5, 2]);
}

#[test]
fn table_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RoutingTable>();
    assert_send_sync::<Resolution>();
}
