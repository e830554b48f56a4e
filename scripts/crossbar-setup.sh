#!/usr/bin/env bash
# Installs Crossbar.io, the reference WAMP router used as the interop oracle and as
# the comparison peer in benchmarks, into target/crossbar-venv. Not part of the
# default setup: about 150 packages and a few minutes. Idempotent (stamp file).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/target/crossbar-venv"
# Crossbar.io release known to install and run on Python 3.11 here.
crossbar_version="26.10.1"
stamp="$venv/.crossbar-version"
want="crossbar==$crossbar_version $(python3 --version)"

if [[ -x "$venv/bin/crossbar" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "crossbar-setup: crossbar $crossbar_version already installed ($venv)"
    exit 0
fi

echo "crossbar-setup: installing crossbar $crossbar_version into $venv"
if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "crossbar==$crossbar_version"
"$venv/bin/crossbar" version > /dev/null
echo "$want" > "$stamp"
echo "crossbar-setup: done"
