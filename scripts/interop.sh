#!/usr/bin/env bash
# Runs the interop suite (autobahn-python under pytest, autobahn-js under
# node --test) against a router that is ALREADY running; it starts none.
#   WAMP_PORT_A=... WAMP_PORT_B=... scripts/interop.sh [pytest args...]
# Env: WAMP_HOST (127.0.0.1), WAMP_PORT_A, WAMP_PORT_B (required: two universal
# ports, WebSocket and RawSocket on each), WAMP_REALM (realm1), WAMP_WS_PATH (/),
# WAMP_PORT_AUTH (optional: the ticket-only port of the auth tests, which skip without it).
# Exits non-zero if setup fails or any test fails. See tests/interop/README.md.
set -uo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -z "${WAMP_PORT_A:-}" || -z "${WAMP_PORT_B:-}" ]]; then
    echo "interop: set WAMP_PORT_A and WAMP_PORT_B to the router's two universal ports" >&2
    exit 2
fi

bash "$repo/scripts/interop-setup.sh" || { echo "interop: setup failed" >&2; exit 1; }

echo "interop: router ${WAMP_HOST:-127.0.0.1} ports A=$WAMP_PORT_A B=$WAMP_PORT_B AUTH=${WAMP_PORT_AUTH:-unset} realm ${WAMP_REALM:-realm1}"

echo "interop: autobahn-python (pytest)"
(cd "$repo/tests/interop/python" && "$repo/target/interop-venv/bin/python" -m pytest -q -rfE "$@")
py_status=$?

echo "interop: autobahn-js (node --test)"
(cd "$repo/tests/interop/node" && node --test --test-reporter=spec)
node_status=$?

echo "interop: pytest exit $py_status, node --test exit $node_status"
if [[ $py_status -ne 0 || $node_status -ne 0 ]]; then
    exit 1
fi
