//! `cargo run --release -p webhook-fn --example bench [-- REQUESTS] > /dev/null`: the webhook
//! handler's CPU per request on one core, as JSON on stderr (see `webhook_fn::bench`). Stdout
//! gets what the handler writes there in production (a metric line per request, and its JSON
//! log lines at INFO), whose cost is part of the measure.

fn main() {
    // Logging as on Lambda (JSON, INFO): its lines are part of a request's cost.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    fn_common::init_logging();
    let requests = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("REQUESTS is a number"))
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let result = runtime.block_on(webhook_fn::bench::run(requests));
    eprintln!(
        "{}",
        serde_json::to_string_pretty(&result).expect("serializes")
    );
}
