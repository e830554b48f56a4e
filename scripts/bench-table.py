#!/usr/bin/env python3
"""Summaries of wampyard-loadgen result files (one JSON object per line).

  bench-table.py RESULTS.jsonl                 one row per run
  bench-table.py --compare A B RESULTS.jsonl   runs of label A and label B side by side, with ratios
  bench-table.py --half-rate RESULTS.jsonl LABEL SER
                                               half the calls/s of LABEL's closed-loop rpc-64 run
"""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def name(r):
    p, s = r["params"], r["scenario"]
    if s == "pubsub":
        n = f"pubsub {p['publishers']}->{p['subscribers']}"
        if p.get("eligible"):
            n += f" elig{p['eligible']}"
        return n + (f" @{p['rate']:.0f}/s" if p.get("rate") else "")
    if s == "rpc":
        n = f"rpc open @{p['rate']:.0f}/s" if p.get("rate") else f"rpc x{p['in_flight']}"
        if p.get("progress"):
            n += f" prog{p['progress']}"
        if p.get("shared"):
            n += f" shared{p['shared']} {p['invoke']}"
        return n
    if s == "idle":
        return f"idle {p['sessions']}"
    if s == "connect" and p.get("meta_subscriber"):
        return "connect +on_join"
    return s


def figures(r):
    """(rate, unit, p50 us, p99 us, router ns/msg, note) of one run."""
    res = r["results"]
    lat = res.get("latency") or res.get("hello_welcome") or {}
    ns = res.get("router_ns_per_msg")
    s = r["scenario"]
    if s == "pubsub":
        note = f"lost {res['lost']} dup {res['duplicated']}"
        if res.get("ineligible_deliveries"):
            note += f" inelig {res['ineligible_deliveries']}"
        return res["deliveries_per_s"], "deliv/s", lat.get("p50_us"), lat.get("p99_us"), ns, note
    if s == "rpc":
        return res["calls_per_s"], "calls/s", lat.get("p50_us"), lat.get("p99_us"), ns, f"errors {res['errors']}"
    if s == "connect":
        return res["sessions_per_s"], "sess/s", lat.get("p50_us"), lat.get("p99_us"), ns, f"failures {res['failures']}"
    per = res.get("router_rss_bytes_per_session")
    note = f"{per:.0f} B/session" if per is not None else "no --router-pid"
    return res.get("setup_sessions_per_s"), "setup/s", None, None, None, note


def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def table(rows):
    head = f"{'label':<10} {'scenario':<22} {'ser':<8} {'rate':>14} {'unit':<8} {'p50 us':>9} {'p99 us':>9} {'ns/msg':>9}  note"
    print(head)
    print("-" * len(head))
    for r in rows:
        rate, unit, p50, p99, ns, note = figures(r)
        print(f"{r['label']:<10} {name(r):<22} {r['serializer']:<8} {fmt(rate):>14} {unit:<8} "
              f"{fmt(p50, 1):>9} {fmt(p99, 1):>9} {fmt(ns):>9}  {note}")


def compare(rows, a, b):
    by = {}
    for r in rows:
        by.setdefault((name(r), r["serializer"]), {})[r["label"]] = r
    head = (f"{'scenario':<22} {'ser':<8} {a + ' rate':>14} {b + ' rate':>14} {'x':>7} "
            f"{a + ' ns':>10} {b + ' ns':>10} {'x':>7} {a + ' p99':>10} {b + ' p99':>10}")
    print(head)
    print("-" * len(head))
    for (n, ser), pair in by.items():
        if a not in pair or b not in pair:
            continue
        ra, _, _, pa, na, _ = figures(pair[a])
        rb, _, _, pb, nb, _ = figures(pair[b])
        rate_x = ra / rb if ra and rb else None
        ns_x = nb / na if na and nb else None
        print(f"{n:<22} {ser:<8} {fmt(ra):>14} {fmt(rb):>14} {fmt(rate_x, 1):>7} "
              f"{fmt(na):>10} {fmt(nb):>10} {fmt(ns_x, 1):>7} {fmt(pa, 0):>10} {fmt(pb, 0):>10}")
    print(f"\nx = {a} over {b}: throughput ratio, and router CPU per message ratio ({b} / {a}).")


def main(argv):
    if argv[:1] == ["--half-rate"]:
        path, label, ser = argv[1:4]
        for r in reversed(load(path)):
            p = r["params"]
            plain = not p.get("progress") and not p.get("shared")
            if (r["label"], r["serializer"], r["scenario"]) == (label, ser, "rpc") and p.get("in_flight") == 64 and plain:
                print(f"{r['results']['calls_per_s'] / 2:.0f}")
                return 0
        return 0
    if argv[:1] == ["--compare"]:
        a, b, path = argv[1:4]
        compare(load(path), a, b)
        return 0
    table(load(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
