#!/usr/bin/env bash
# wampyard against Crossbar.io in one run: both routers pinned to ROUTER_CPU (one Crossbar router
# worker, one wampyard shard), the load generator pinned to LOADGEN_CPU, the same scenarios,
# payloads and serializer, runs alternating between the two; prints throughput, router CPU per
# message and p99 side by side with ratios.
#   scripts/compare.sh                        # defaults below
#   SCENARIOS='pubsub-1-100|rpc-64' SERIALIZERS=msgpack DURATION=10 scripts/compare.sh
# Installs Crossbar.io into target/crossbar-venv on first use (scripts/crossbar-setup.sh).
# Crossbar is slow to accept thousands of sessions, so pubsub-1-1000 and idle-10000 are left
# out unless SCENARIOS asks for them. Results: target/bench/compare-<UTC time>/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
ROUTER_CPU=${ROUTER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
SERIALIZERS=${SERIALIZERS:-"msgpack json"}
SCENARIOS=${SCENARIOS:-'^(pubsub-1-1|pubsub-1-100|pubsub-10-10|rpc-1|rpc-64|connect)$'}
LOADGEN="$repo/target/release/wampyard-loadgen"
FAILURES=0

out="target/bench/compare-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
cargo build --release --locked -p wampyard -p loadgen --bins
bash scripts/crossbar-setup.sh

wy_port=$(free_port)
cat > "$out/wampyard.toml" <<TOML
[router]
shards = 1
cpus = [$ROUTER_CPU]

[[listener]]
port = $wy_port
TOML
./target/release/wampyard --config "$out/wampyard.toml" --log warn > "$out/wampyard.log" 2>&1 &
wampyard=$!

cb_a=$(free_port)
cb_b=$(free_port)
cleanup() {
    stop_pid "$wampyard"
    WAMP_PORT_A=$cb_a WAMP_PORT_B=$cb_b bash scripts/crossbar-run.sh stop > /dev/null || true
}
trap cleanup EXIT
WAMP_PORT_A=$cb_a WAMP_PORT_B=$cb_b taskset -c "$ROUTER_CPU" bash scripts/crossbar-run.sh start > "$out/crossbar-start.txt"
wait_port "$wy_port"
# The process that routes is Crossbar's router worker, a child of the node controller.
controller=$(cat target/crossbar-node/crossbar.pid)
crossbar=""
for child in $(pgrep -P "$controller"); do
    if tr '\0' ' ' < "/proc/$child/cmdline" | grep -q -i router; then crossbar=$child; fi
done
[[ -n "$crossbar" ]] || { echo "cannot find Crossbar's router worker under pid $controller" >&2; exit 1; }
echo "wampyard pid $wampyard, crossbar router worker pid $crossbar, both on CPU $ROUTER_CPU; loadgen on CPU $LOADGEN_CPU"

while IFS='|' read -r name args once; do
    [[ "$name" =~ $SCENARIOS ]] || continue
    for ser in $SERIALIZERS; do
        [[ -n "$once" && "$ser" != "${SERIALIZERS%% *}" ]] && continue
        # shellcheck disable=SC2086
        run_one wampyard "rs://127.0.0.1:$wy_port" "$wampyard" "$out" "$name" "$ser" $args
        # shellcheck disable=SC2086
        run_one crossbar "rs://127.0.0.1:$cb_a" "$crossbar" "$out" "$name" "$ser" $args
    done
done < <(standard_scenarios)

python3 scripts/bench-table.py --compare wampyard crossbar "$out/results.jsonl" | tee "$out/summary.txt"
[[ $FAILURES -eq 0 ]] || { echo "$FAILURES run(s) failed" >&2; exit 1; }
