//! The serverless bench (`e2e::serverless_bench`): one run per company size, its figures as JSON
//! in a file (stdout carries the handlers' metric lines, as on Lambda).
//!
//! `cargo run --release -p e2e --example serverless-bench -- 1000,10000 bench.json [apply concurrency]`

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let sizes: Vec<usize> = args
        .next()
        .unwrap_or_else(|| "1000".into())
        .split(',')
        .map(|n| {
            n.trim()
                .parse()
                .expect("employees: numbers, comma-separated")
        })
        .collect();
    let out = args
        .next()
        .unwrap_or_else(|| "serverless-bench.json".into());
    let concurrency = args.next().map_or(8, |c| c.parse().expect("a concurrency"));
    let mut runs = Vec::new();
    for employees in sizes {
        let started = std::time::Instant::now();
        let figures = e2e::serverless_bench::run(employees, concurrency).await;
        eprintln!(
            "{employees} employees: {:.0} s",
            started.elapsed().as_secs_f64()
        );
        runs.push(figures.to_json());
    }
    let json = serde_json::to_string_pretty(&runs).expect("json");
    std::fs::write(&out, json).expect("the figures written");
    eprintln!("figures in {out}");
}
