#!/usr/bin/env bash
# Runs every test of wampyard, as CI does (.ci/run calls this script):
#   1. formatting and clippy (warnings are errors);
#   2. unit and end-to-end tests (`cargo test`: codec, URI, trie, ids, router across shards in
#      memory, real sockets over every transport x serializer with one and two shards);
#   3. interop with clients nobody here wrote: autobahn-python (pytest, in a venv under target/)
#      and autobahn-js (node --test), against the wampyard binary on two shards.
# Everything is bounded in time; the script stops the router it started.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --locked --workspace

step "interop: wampyard on two shards"
cargo build --locked --bin wampyard
log="$(mktemp -t wampyard-interop.XXXXXX.log)"
./target/debug/wampyard --config tests/interop/router.toml --log info >"$log" 2>&1 &
router_pid=$!
cleanup() {
    if kill -0 "$router_pid" 2>/dev/null; then
        kill -TERM "$router_pid" 2>/dev/null || true
        wait "$router_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

ports=()
for _ in $(seq 1 100); do
    mapfile -t ports < <(grep -o 'listening on 127\.0\.0\.1:[0-9]*' "$log" | sed 's/.*://')
    [[ ${#ports[@]} -ge 3 ]] && break
    kill -0 "$router_pid" 2>/dev/null || { cat "$log"; echo "wampyard exited early" >&2; exit 1; }
    sleep 0.1
done
if [[ ${#ports[@]} -lt 3 ]]; then
    cat "$log"
    echo "wampyard did not report its ports" >&2
    exit 1
fi

WAMP_PORT_A="${ports[0]}" WAMP_PORT_B="${ports[1]}" WAMP_PORT_AUTH="${ports[2]}" timeout 900 bash scripts/interop.sh

step "graceful shutdown"
kill -TERM "$router_pid"
if ! timeout 10 tail --pid="$router_pid" -f /dev/null; then
    echo "wampyard did not stop within 10 s of SIGTERM" >&2
    exit 1
fi
wait "$router_pid" || { echo "wampyard exited with an error on SIGTERM" >&2; cat "$log"; exit 1; }
rm -f "$log"
echo "all tests passed"
