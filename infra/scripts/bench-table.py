#!/usr/bin/env python3
"""Renders the JSON of `personio-sync bench` as the Markdown table of BENCHMARKS.md.

    personio-sync bench ... > bench.json && python3 infra/scripts/bench-table.py bench.json
"""
import json
import sys


def fmt(x, digits=2):
    return "—" if x is None else f"{x:.{digits}f}"


def nominal_bound(r, limits):
    """The bound with each answer taken at the latency asked for plus the server's own work,
    instead of as the sandbox timed it (tokio's timer sleeps a little longer): no rate limit
    only, and without the teams' rule. For comparison with the bound the bench computes."""
    if limits["learnamp_rate_limit"] is not None:
        return None
    k, la = r["kombo"], r["learnamp"]
    kombo = k["received"] * limits["kombo_latency_ms"] / 1000 + k["service_seconds"]
    learnamp = (
        la["served_total"] * limits["learnamp_latency_ms"] / 1000 + la["service_seconds"]
    ) / limits["concurrency"]
    return kombo + learnamp


def main(path):
    with open(path) as f:
        out = json.load(f)
    limits = out["limits"]
    rate = limits["learnamp_rate_limit"]
    nominal = rate is None
    print(
        f"Kombo latency {limits['kombo_latency_ms']} ms; Learn Amp latency "
        f"{limits['learnamp_latency_ms']} ms, rate limit "
        f"{'none' if rate is None else f'{rate:g} req/s'}; concurrency {limits['concurrency']}; "
        f"{out['machine']['build']} build, {out['machine']['arch']}, {out['machine']['cores']} cores."
    )
    print()
    print(
        "| N | scenario | calls made / minimum (ratio) | Learn Amp writes served / needed (ratio) "
        "| turned away (429) | wall s | bound s (ratio) | of which teams: writes, s "
        + ("| at the nominal latency s (ratio) " if nominal else "")
        + "| planning CPU s | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if nominal else ""))
    for r in out["results"]:
        m = r["minimum"]
        needed = m["employee_writes"] + m["team_writes"]
        cells = [
            f"{r['employees']:,}",
            r["scenario"],
            f"{r['calls_made']:,} / {m['total']:,} ({fmt(r['calls_ratio'], 3)})",
            f"{r['learnamp']['writes_served']:,} / {needed:,} ({fmt(r['writes_ratio'], 2)})",
            f"{r['learnamp']['turned_away']:,}",
            fmt(r["wall_seconds"], 1),
            f"{fmt(r['rate_limit_bound_seconds'], 1)} ({fmt(r['wall_to_bound_ratio'], 2)})",
            f"{r['learnamp'].get('team_writes_served', 0):,}, {fmt(r.get('team_bound_seconds'), 2)}",
        ]
        if nominal:
            bound = nominal_bound(r, limits)
            cells.append(f"{fmt(bound, 1)} ({fmt(r['wall_seconds'] / bound, 2)})")
        cells += [f"{r['timings']['plan_cpu_us'] / 1e6:.3f}", fmt(r["peak_rss_mib"], 1)]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
