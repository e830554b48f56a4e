#!/usr/bin/env bash
# Starts or stops a Crossbar.io oracle router for the interop tests.
#   scripts/crossbar-run.sh start   # background; prints the PID and the env to export
#   scripts/crossbar-run.sh stop    # stops the router started by "start" (by its PID)
# Ports come from WAMP_PORT_A / WAMP_PORT_B (defaults 18080 / 18081): both are
# universal transports (WebSocket at "/" and RawSocket) of one router, realm1.
# WAMP_PORT_AUTH (default 18082) is a third one taking ticket logins only (realm secure).
# Needs scripts/crossbar-setup.sh first.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
crossbar="$repo/target/crossbar-venv/bin/crossbar"
node_dir="$repo/target/crossbar-node"
pid_file="$node_dir/crossbar.pid"
port_a="${WAMP_PORT_A:-18080}"
port_b="${WAMP_PORT_B:-18081}"
port_auth="${WAMP_PORT_AUTH:-18082}"
# Seconds to wait for the ports to accept connections after start.
start_timeout=60

stop() {
    if [[ -f "$pid_file" ]]; then
        pid="$(cat "$pid_file")"
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid"
            for _ in $(seq 1 100); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
        fi
        rm -f "$pid_file"
        echo "crossbar-run: stopped crossbar (pid $pid)"
    else
        echo "crossbar-run: no pid file, nothing to stop"
    fi
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
    [[ -x "$crossbar" ]] || { echo "crossbar-run: run scripts/crossbar-setup.sh first" >&2; exit 1; }
    if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
        echo "crossbar-run: already running (pid $(cat "$pid_file"))" >&2
        exit 1
    fi
    mkdir -p "$node_dir/.crossbar"
    "$repo/target/crossbar-venv/bin/python" - "$repo/tests/interop/crossbar/.crossbar/config.json" \
        "$node_dir/.crossbar/config.json" "$port_a" "$port_b" "$port_auth" <<'PY'
import json
import sys

src, dst, port_a, port_b, port_auth = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
with open(src) as f:
    config = json.load(f)
transports = config["workers"][0]["transports"]
transports[0]["endpoint"]["port"] = port_a
transports[1]["endpoint"]["port"] = port_b
transports[2]["endpoint"]["port"] = port_auth
with open(dst, "w") as f:
    json.dump(config, f, indent=4)
PY
    nohup "$crossbar" start --cbdir "$node_dir/.crossbar" > "$node_dir/crossbar.log" 2>&1 &
    echo $! > "$pid_file"
    for _ in $(seq 1 $((start_timeout * 10))); do
        if port_open "$port_a" && port_open "$port_b" && port_open "$port_auth"; then
            echo "crossbar-run: crossbar running (pid $(cat "$pid_file"), log $node_dir/crossbar.log)"
            echo "export WAMP_HOST=127.0.0.1 WAMP_PORT_A=$port_a WAMP_PORT_B=$port_b WAMP_PORT_AUTH=$port_auth WAMP_REALM=realm1"
            return 0
        fi
        if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then
            echo "crossbar-run: crossbar exited; see $node_dir/crossbar.log" >&2
            rm -f "$pid_file"
            exit 1
        fi
        sleep 0.1
    done
    echo "crossbar-run: ports $port_a/$port_b/$port_auth not open after ${start_timeout}s" >&2
    stop
    exit 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
