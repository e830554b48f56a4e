# Shared by scripts/bench.sh and scripts/compare.sh (sourced, not run): the standard scenarios,
# router start/stop helpers, and the loadgen invocation. Every function is bounded in time.

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Waits up to 60 s for 127.0.0.1:$1 to accept connections.
wait_port() {
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1 after 60 s" >&2
    return 1
}

# Stops a process we started, by its PID: TERM, then KILL after 10 s.
stop_pid() {
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# The load generator busy-polls its own core by default, so that its wake-ups (tens of µs per
# hop on a VM) are not counted as the router's latency or throttle a closed loop. The router
# keeps its own configuration. LOADGEN_FLAGS= (empty) measures with a sleeping load generator.
LOADGEN_FLAGS=${LOADGEN_FLAGS---busy-poll}

# The standard scenarios, one per line: NAME|ARGS. Scenarios that do not depend on the
# serializer carry "once" and run for the first serializer only.
standard_scenarios() {
    cat <<'LIST'
pubsub-1-1|pubsub --publishers 1 --subscribers 1
pubsub-1-100|pubsub --publishers 1 --subscribers 100
pubsub-1-1000|pubsub --publishers 1 --subscribers 1000
pubsub-10-10|pubsub --publishers 10 --subscribers 10 --topics 10
pubsub-1-100-eligible-10|pubsub --publishers 1 --subscribers 100 --eligible 10
rpc-1|rpc --callers 1 --callees 1 --in-flight 1
rpc-64|rpc --callers 1 --callees 1 --in-flight 64
rpc-progress-4|rpc --callers 1 --callees 1 --in-flight 16 --progress 4
rpc-shared-4|rpc --callers 4 --shared 4 --in-flight 16
connect|connect --clients 8|once
connect-on-join|connect --clients 8 --meta-subscriber|once
idle-10000|idle 10000 --hold 3|once
LIST
}

# Runs every standard scenario for every serializer in $SERIALIZERS against one router.
#   run_scenarios LABEL URL_BASE ROUTER_PID OUT_DIR [SCENARIO_FILTER_REGEX]
# URL_BASE is e.g. rs://127.0.0.1:8080. Results are appended to OUT_DIR/results.jsonl, plots go
# to OUT_DIR/LABEL-NAME-SER.svg. A failing scenario is reported and counted, not fatal.
run_scenarios() {
    local label=$1 url=$2 pid=$3 out=$4 filter=${5:-.}
    local first_ser=${SERIALIZERS%% *}
    local name args once
    while IFS='|' read -r name args once; do
        [[ "$name" =~ $filter ]] || continue
        for ser in $SERIALIZERS; do
            [[ -n "$once" && "$ser" != "$first_ser" ]] && continue
            run_one "$label" "$url" "$pid" "$out" "$name" "$ser" $args
        done
    done < <(standard_scenarios)
}

# One loadgen run; extra arguments are the scenario and its options.
run_one() {
    local label=$1 url=$2 pid=$3 out=$4 name=$5 ser=$6
    shift 6
    printf '  %-10s %-14s %-8s ' "$label" "$name" "$ser"
    if timeout $(( ${DURATION%.*} + ${WARMUP%.*} + 120 )) "$LOADGEN" "$@" \
        --url "$url" --serializer "$ser" --duration "$DURATION" --warmup "$WARMUP" \
        --cpus "$LOADGEN_CPU" --router-pid "$pid" --label "$label" \
        --json "$out/results.jsonl" --plot "$out/$label-$name-$ser.svg" --quiet ${LOADGEN_FLAGS:-} \
        > "$out/$label-$name-$ser.txt" 2>&1; then
        echo ok
    else
        echo "FAILED (see $out/$label-$name-$ser.txt)"
        FAILURES=$((FAILURES + 1))
    fi
}
