#!/usr/bin/env python3
"""Cold start of each function binary: the time from process start (just before spawn) to its
first poll of the Lambda runtime API (GET /2018-06-01/runtime/invocation/next), with its main
having built everything it builds on Lambda: the AWS SDK configuration and clients, the HTTP
clients, the stores. A local runtime API records the poll and never answers; the process is
then killed. Secrets are given directly (KOMBO_API_KEY=..., no SSM call), so no network call
happens before the poll, as on Lambda once the SSM answer is in (that call is not counted).

    python3 infra/scripts/bench-cold-start.py [--binaries target/release] [--runs 30]

Prints JSON: per function, min, median, p90 and max in milliseconds, beside the published
figures for hello-world handlers (shared/reference/peers-and-patterns.md 6.1)."""

import argparse, http.server, json, os, socket, statistics, subprocess, threading, time

PUBLISHED_MS = {"python3.13": 80.6, "nodejs22": 124.3, "rust_hello_world": 13.9}
TARGET_MS = 30.0


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    first_poll = None
    polled = threading.Event()

    def do_GET(self):
        if "/runtime/invocation/next" in self.path and not RuntimeApi.polled.is_set():
            RuntimeApi.first_poll = time.perf_counter_ns()
            RuntimeApi.polled.set()
        # Never answer: the function waits for an invocation until it is killed.
        time.sleep(5)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(port):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "STATE_TABLE": "state", "IDEMPOTENCY_TABLE": "idempotency",
        "SYNC_REQUESTS_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/sync-requests",
        "CHANGES_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/123456789012/changes",
        "KOMBO_BASE_URL": "https://api.kombo.dev/v1", "KOMBO_API_KEY": "bench-key",
        "KOMBO_WEBHOOK_SECRET": "bench-secret",
    }
    return env


def cold_start_ms(binary, port):
    RuntimeApi.polled.clear()
    started = time.perf_counter_ns()
    process = subprocess.Popen([binary], env=environment(port),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not RuntimeApi.polled.wait(timeout=10):
            raise SystemExit(f"{binary} never polled the runtime API")
        return (RuntimeApi.first_poll - started) / 1e6
    finally:
        process.kill()
        process.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binaries", default="target/release")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results = {}
    for name in ["webhook", "sync", "apply"]:
        binary = os.path.join(args.binaries, name)
        cold_start_ms(binary, port)  # the first run warms the page cache, as a warm Lambda host is not
        runs = sorted(cold_start_ms(binary, port) for _ in range(args.runs))
        results[name] = {
            "runs": len(runs),
            "min_ms": round(runs[0], 2),
            "median_ms": round(statistics.median(runs), 2),
            "p90_ms": round(runs[int(len(runs) * 0.9) - 1] if len(runs) >= 10 else runs[-1], 2),
            "max_ms": round(runs[-1], 2),
            "target_ms": TARGET_MS,
        }
    server.shutdown()
    print(json.dumps({"binaries": args.binaries, "cold_start": results,
                      "published_hello_world_init_ms_arm64_128mb": PUBLISHED_MS}, indent=2))


if __name__ == "__main__":
    main()
