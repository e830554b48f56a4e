#!/usr/bin/env bash
# What authorization costs on the hot path: the router of the last commit without roles (an open
# realm) against the same router whose realm1 gives anonymous sessions a role of RULES permission
# rules (default 1,000: exact, prefix and wildcard rules that do not match, then the two prefix
# rules the load generator's URIs need), side by side in one run through scripts/bench-ab.sh.
#   scripts/bench-authz.sh
#   RULES=1000 ROUNDS=5 SCENARIOS='^(pubsub-1-100|rpc-64)$' scripts/bench-authz.sh
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
RULES=${RULES:-1000}
mkdir -p target/bench
toml="target/bench/authz-$RULES.toml"
python3 - "$RULES" > "$toml" <<'PY'
import sys
rules = int(sys.argv[1])
print('[[realm]]\nname = "realm1"\n[[realm.role]]\nname = "anonymous"')
def perm(uri, match, allow):
    print(f'[[realm.role.permission]]\nuri = "{uri}"\nmatch = "{match}"\nallow = [{", ".join(f"{a!r}" for a in allow)}]'.replace("'", '"'))
for i in range(max(rules - 2, 0)):
    kind = i % 3
    if kind == 0:
        perm(f"com.example.svc{i}.", "prefix", ["call", "subscribe"])
    elif kind == 1:
        perm(f"com.example.proc{i}", "exact", ["call"])
    else:
        perm(f"com..status{i}", "wildcard", ["subscribe"])
perm("topic.", "prefix", ["publish", "subscribe"])
perm("proc.", "prefix", ["call", "register"])
PY
BASE=HEAD HEAD_TOML="$toml" SCENARIOS=${SCENARIOS:-'^(pubsub-1-100|rpc-64)$'} exec scripts/bench-ab.sh
