//! A sync of 10,000 employees while Learn Amp answers 429 to a fifth of all calls: the run
//! converges, with one user per employee, nobody invited twice, and a resync that writes nothing.

use e2e::Harness;
use sync_core::InvitePolicy;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_employees_converge_through_a_fifth_of_429s() {
    let h = Harness::generated(10_000, 77, Harness::settings(InvitePolicy::Immediately)).await;
    h.learnamp.faults().set_seed(77);
    h.learnamp.faults().set_rate_429(0.2, None);
    let first = h.full().await;
    Harness::assert_converged(&first);
    let throttled = h.learnamp.calls().by_endpoint.clone();

    let linked = h.assert_one_user_per_employee_invited_at_most_once();
    assert_eq!(
        linked as u64, first.counts.created,
        "one user per created employee"
    );
    assert!(first.counts.created > 8_000, "{:?}", first.counts);

    // Still throttled, the resync writes nothing: every change arrived.
    h.learnamp.reset_calls();
    let second = h.full().await;
    assert!(second.converged());
    assert_eq!(h.learnamp.calls().writes(), 0, "{:?}", second.counts);
    eprintln!("first run's Learn Amp calls (429s included): {throttled:?}");
    h.stop().await;
}
