#!/usr/bin/env bash
# A change's effect on the hot path: the router built from BASE (a git revision) against the
# router of the working tree, in one run. Both routers listen at once, each on one shard pinned
# to ROUTER_CPU (an idle router costs nothing); the load generator (built from the working tree)
# runs on LOADGEN_CPU; the runs alternate base/head, head/base over ROUNDS rounds, and every
# round prints throughput and router CPU per message side by side with ratios.
#   BASE=a8fcf88 scripts/bench-ab.sh
#   BASE=HEAD~1 SCENARIOS='^rpc-64$' ROUNDS=5 DURATION=5 scripts/bench-ab.sh
# HEAD_TOML names a TOML fragment appended to the working tree router's configuration only (realms,
# roles: compare one binary with and without a feature configured, with BASE=HEAD).
# BASE's router is built in target/bench-ab/<commit>/ (a git worktree with its own target
# directory, built once and kept). Results: target/bench/ab-<UTC time>/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh

BASE=${BASE:-HEAD~1}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
ROUTER_CPU=${ROUTER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
SERIALIZERS=${SERIALIZERS:-"msgpack json"}
SCENARIOS=${SCENARIOS:-'^(pubsub-1-100|rpc-64)$'}
LOADGEN="$repo/target/release/wampyard-loadgen"
FAILURES=0

commit=$(git rev-parse --short "$BASE")
tree="target/bench-ab/$commit"
if [[ ! -x "$tree/target/release/wampyard" ]]; then
    [[ -d "$tree/src" ]] || git worktree add --detach "$tree" "$commit" > /dev/null
    (cd "$tree" && CARGO_TARGET_DIR="$repo/$tree/target" cargo build --release --locked --bin wampyard)
fi
cargo build --release --locked -p wampyard -p loadgen --bins

out="target/bench/ab-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
start_router() {
    local bin=$1 port=$2 name=$3
    cat > "$out/$name.toml" <<TOML
[router]
shards = 1
cpus = [$ROUTER_CPU]

[[listener]]
port = $port
TOML
    if [[ "$name" == head && -n "${HEAD_TOML:-}" ]]; then
        cat "$HEAD_TOML" >> "$out/$name.toml"
    fi
    "$bin" --config "$out/$name.toml" --log warn > "$out/$name.log" 2>&1 &
    echo $!
}
base_port=$(free_port)
head_port=$(free_port)
base=$(start_router "$tree/target/release/wampyard" "$base_port" base)
head=$(start_router ./target/release/wampyard "$head_port" head)
trap 'stop_pid $base; stop_pid $head' EXIT
wait_port "$base_port"
wait_port "$head_port"
echo "base $commit (pid $base) against the working tree (pid $head), both on CPU $ROUTER_CPU; loadgen on CPU $LOADGEN_CPU"

for round in $(seq 1 "$ROUNDS"); do
    order="base head"
    (( round % 2 == 0 )) && order="head base"
    while IFS='|' read -r name args once; do
        [[ "$name" =~ $SCENARIOS ]] || continue
        for ser in $SERIALIZERS; do
            [[ -n "$once" && "$ser" != "${SERIALIZERS%% *}" ]] && continue
            for label in $order; do
                port=$base_port pid=$base
                [[ $label == head ]] && port=$head_port pid=$head
                # shellcheck disable=SC2086
                run_one "$label" "rs://127.0.0.1:$port" "$pid" "$out/round$round" "$name" "$ser" $args
            done
        done
    done < <(mkdir -p "$out/round$round"; standard_scenarios)
    echo "round $round"
    python3 scripts/bench-table.py --compare head base "$out/round$round/results.jsonl" | tee -a "$out/summary.txt"
done
[[ $FAILURES -eq 0 ]] || { echo "$FAILURES run(s) failed" >&2; exit 1; }
