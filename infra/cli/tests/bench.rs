//! `personio-sync bench` at a tiny company, to keep it working. It asserts the counts the
//! scenarios must hit (they are exact, whatever the machine), never a time.

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_personio-sync");

fn bench(args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the bench runs");
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the bench prints JSON")
}

fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} in {v}"))
}

fn scenario<'a>(output: &'a Value, name: &str) -> &'a Value {
    output["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["scenario"] == name)
        .unwrap_or_else(|| panic!("no {name} in {output}"))
}

#[test]
fn every_scenario_makes_exactly_the_calls_it_needs() {
    let output = bench(&[
        // More than one Kombo page (250), so the next page is fetched while one is decoded.
        "--employees",
        "300",
        "--kombo-latency-ms",
        "1",
        "--learnamp-rate-limit",
        "0",
    ]);
    let results = output["results"].as_array().expect("results");
    assert_eq!(results.len(), 5, "{output}");
    for r in results {
        assert_eq!(r["exit_code"], 0, "{r}");
        assert_eq!(r["converged"], true, "{r}");
        assert_eq!(u(r, "/learnamp/turned_away"), 0, "no rate limit: {r}");
        // With nothing turned away, every call made is one the scenario needed.
        assert_eq!(u(r, "/calls_made"), u(r, "/minimum/total"), "{r}");
        assert!(r["peak_rss_mib"].as_f64().unwrap_or(0.0) > 1.0, "{r}");
    }

    let import = scenario(&output, "import");
    assert!(u(import, "/minimum/employee_writes") > 100, "{import}");
    assert_eq!(
        u(import, "/learnamp/writes_served"),
        u(import, "/minimum/employee_writes") + u(import, "/minimum/team_writes")
    );

    let resync = scenario(&output, "resync");
    assert_eq!(u(resync, "/learnamp/received_total"), 0, "{resync}");
    assert_eq!(u(resync, "/kombo/received"), 2, "two pages: {resync}");

    for name in ["churn1", "churn10"] {
        let churn = scenario(&output, name);
        let changed = ["job_titles", "department_moves", "leavers", "joiners"]
            .iter()
            .map(|k| u(churn, &format!("/churn/{k}")))
            .sum::<u64>();
        assert!(changed >= 2, "{churn}");
        assert_eq!(u(churn, "/learnamp/writes_served"), changed, "{churn}");
        let planned = ["created", "updated", "deactivated", "reactivated"]
            .iter()
            .map(|k| u(churn, &format!("/counts/{k}")))
            .sum::<u64>();
        assert_eq!(planned, changed, "{churn}");
    }
    let churn10 = scenario(&output, "churn10");
    assert_eq!(u(churn10, "/churn/joiners"), 6, "{churn10}");
    assert_eq!(u(churn10, "/churn/leavers"), 3, "{churn10}");

    let reconcile = scenario(&output, "reconcile");
    assert_eq!(
        u(reconcile, "/learnamp/writes_served"),
        u(reconcile, "/drifted_users")
    );
    assert!(u(reconcile, "/drifted_users") >= 1, "{reconcile}");
    // Pages of at most 100 users, of the deactivated users (the leavers since the import; one
    // page at least), and one of teams: the import's users and the joiners since.
    let churn1 = scenario(&output, "churn1");
    let users = u(import, "/minimum/employee_writes")
        + u(churn1, "/churn/joiners")
        + u(churn10, "/churn/joiners");
    let leavers = u(churn1, "/churn/leavers") + u(churn10, "/churn/leavers");
    assert_eq!(
        u(reconcile, "/minimum/learnamp_listing_pages"),
        users.div_ceil(100) + leavers.div_ceil(100).max(1) + 1,
        "{reconcile}"
    );
    assert_eq!(u(reconcile, "/kombo/received"), 2, "{reconcile}");
}

#[test]
fn under_a_rate_limit_what_is_turned_away_is_retried_and_written_once() {
    let output = bench(&[
        "--employees",
        "80",
        "--scenarios",
        "import,resync",
        "--kombo-latency-ms",
        "0",
        "--learnamp-rate-limit",
        "40",
    ]);
    let import = scenario(&output, "import");
    assert!(u(import, "/learnamp/turned_away") > 0, "{import}");
    assert_eq!(
        u(import, "/learnamp/writes_served"),
        u(import, "/minimum/employee_writes") + u(import, "/minimum/team_writes"),
        "{import}"
    );
    assert!(
        import["rate_limit_bound_seconds"].as_f64() > Some(0.5),
        "{import}"
    );
    let resync = scenario(&output, "resync");
    assert_eq!(u(resync, "/learnamp/writes_served"), 0, "{resync}");
}

/// Learn Amp's rate is learned, not configured: the calls in flight when the first 429 arrives
/// are turned away (the client could not know), and after that the calls keep to the pace the
/// 429s taught, so that what is turned away stays within 1 % of the calls needed. Unpaced, every
/// second of the run would lose about as many calls as are in flight (8 here: some 40 in all).
#[test]
fn under_a_rate_limit_the_calls_keep_to_the_pace_they_learned() {
    let concurrency = 8;
    let output = bench(&[
        "--employees",
        "300",
        "--scenarios",
        "import",
        "--kombo-latency-ms",
        "0",
        "--learnamp-rate-limit",
        "50",
        "--concurrency",
        &concurrency.to_string(),
    ]);
    let import = scenario(&output, "import");
    assert_eq!(import["converged"], true, "{import}");
    let writes = u(import, "/minimum/employee_writes") + u(import, "/minimum/team_writes");
    assert_eq!(u(import, "/learnamp/writes_served"), writes, "{import}");
    let minimum = u(import, "/minimum/total");
    assert!(minimum > 250, "{import}");
    let turned_away = u(import, "/learnamp/turned_away");
    assert!(turned_away > 0, "the rate limit was met: {import}");
    assert_eq!(u(import, "/calls_made"), minimum + turned_away, "{import}");
    assert!(
        turned_away <= concurrency + minimum / 100,
        "{turned_away} turned away: {import}"
    );
}

/// The load test's scenario at a tiny size (the bench runs it at 10,000: BENCHMARKS.md): a fifth
/// of Learn Amp's answers are 429s with no `Retry-After`, and still every change is written
/// exactly once, the run converges, and the resync writes nothing.
#[test]
fn through_a_fifth_of_random_429s_every_change_is_written_once() {
    let output = bench(&[
        "--employees",
        "300",
        "--scenarios",
        "import,resync",
        "--kombo-latency-ms",
        "0",
        "--learnamp-rate-limit",
        "0",
        "--learnamp-random-429-share",
        "0.2",
    ]);
    let import = scenario(&output, "import");
    assert_eq!(import["converged"], true, "{import}");
    let writes = u(import, "/minimum/employee_writes") + u(import, "/minimum/team_writes");
    assert!(writes > 250, "{import}");
    // A fifth of some 300 calls: far more than none, whatever the seed.
    assert!(u(import, "/learnamp/turned_away") > 20, "{import}");
    assert_eq!(u(import, "/learnamp/writes_served"), writes, "{import}");
    let resync = scenario(&output, "resync");
    assert_eq!(resync["converged"], true, "{resync}");
    assert_eq!(u(resync, "/learnamp/writes_served"), 0, "{resync}");
}

#[test]
fn bad_arguments_are_named() {
    let out = Command::new(BIN)
        .args(["bench", "--employees", "0"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--employees"));
}
