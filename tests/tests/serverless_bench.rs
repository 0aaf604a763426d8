//! The serverless bench at a tiny size (issue 16): counts only, never a time. It fails if the
//! apply path regresses: more DynamoDB round trips in series per change, a DynamoDB write per
//! unchanged employee, or the tenant read per record instead of per invocation.

use e2e::serverless_bench::run;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_serverless_path_costs_what_issue_16_allows() {
    let figures = run(30, 8).await;
    let by_name = |name: &str| {
        figures
            .scenarios
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("scenario {name}"))
            .clone()
    };
    let path = &figures.critical_path;
    assert!(
        path.dynamodb_in_series() <= 4,
        "at most 4 DynamoDB round trips in series per change: {:#}",
        path.to_json()
    );
    assert_eq!(path.learnamp_calls, 1, "{:#}", path.to_json());

    // An unchanged resync: no change queued, no DynamoDB write per employee (the run's own
    // writes: its lock taken and given back, its cursor and its report).
    let resync = by_name("resync");
    assert_eq!(resync.queued, 0);
    assert_eq!(resync.apply.calls.len(), 0, "nothing to apply");
    assert_eq!(resync.sync.dynamodb_writes(), 4, "{:#}", resync.to_json());
    assert_eq!(resync.learnamp_calls, 0);

    // Churn: one Learn Amp write per change; the tenant read once per apply invocation; at
    // most 3 DynamoDB writes per change (claim, completion, the outcome for the run's report).
    let churn = by_name("churn1");
    assert!(churn.queued >= 1);
    assert_eq!(churn.learnamp_writes, churn.queued, "{:#}", churn.to_json());
    assert_eq!(
        churn.apply.on("state:settings"),
        churn.drained.invocations,
        "the tenant read once per invocation: {:#}",
        churn.to_json()
    );
    assert!(
        churn.apply.dynamodb_writes() <= 3 * churn.queued,
        "{:#}",
        churn.to_json()
    );
    let import = by_name("import");
    assert_eq!(
        import.apply.on("state:settings"),
        import.drained.invocations,
        "{:#}",
        import.to_json()
    );
}
