#!/usr/bin/env bash
# The standard benchmark of wampyard: the router on one shard pinned to ROUTER_CPU, the load
# generator pinned to LOADGEN_CPU, 100-byte payloads, every scenario for each serializer.
#   scripts/bench.sh                       # defaults below
#   DURATION=20 SERIALIZERS=msgpack scripts/bench.sh
# Writes target/bench/<UTC time>/ (results.jsonl, one SVG per run, the router config and log)
# and prints one table. Bounded: every run has a timeout; the router is stopped at the end.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUTER_CPU=${ROUTER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
SERIALIZERS=${SERIALIZERS:-"msgpack json"}
# SPIN_US sets router.spin_before_park_us (0, the default, parks at once; CPU-per-message
# figures include any spinning). LOADGEN_FLAGS: see scripts/bench-lib.sh.
SPIN_US=${SPIN_US:-0}
SCENARIOS=${SCENARIOS:-.}
LOADGEN="$repo/target/release/wampyard-loadgen"
FAILURES=0

out="target/bench/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
cargo build --release --locked -p wampyard -p loadgen --bins

port=$(free_port)
cat > "$out/wampyard.toml" <<TOML
[router]
shards = 1
cpus = [$ROUTER_CPU]
spin_before_park_us = $SPIN_US

[[listener]]
port = $port
TOML
./target/release/wampyard --config "$out/wampyard.toml" --log warn > "$out/wampyard.log" 2>&1 &
router=$!
trap 'stop_pid $router' EXIT
wait_port "$port"

echo "wampyard pid $router on CPU $ROUTER_CPU, loadgen on CPU $LOADGEN_CPU, ${DURATION}s runs, results in $out"
run_scenarios wampyard "rs://127.0.0.1:$port" "$router" "$out" "$SCENARIOS"

# Open-loop RPC at half the closed-loop maximum (rpc-64): latency under a sustainable load.
for ser in $SERIALIZERS; do
    rate=$(python3 scripts/bench-table.py --half-rate "$out/results.jsonl" wampyard "$ser")
    [[ -n "$rate" ]] && run_one wampyard "rs://127.0.0.1:$port" "$router" "$out" rpc-open-half "$ser" \
        rpc --callers 1 --callees 1 --rate "$rate"
done

stop_pid "$router"
trap - EXIT
python3 scripts/bench-table.py "$out/results.jsonl" | tee "$out/summary.txt"
[[ $FAILURES -eq 0 ]] || { echo "$FAILURES run(s) failed" >&2; exit 1; }
