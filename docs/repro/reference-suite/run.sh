#!/usr/bin/env bash
# The reference's own HTTP tests (tests/system/api/ at 38bb025), unmodified, against this service:
#   docs/repro/reference-suite/run.sh REFERENCE_GIT_DIR [default|sharded] [pytest args…]
# REFERENCE_GIT_DIR: a clone of anmarkoulis/event-sourcing (its .git, or a bare repository) holding 38bb025.
# The tests are taken out with `git archive` into a temporary folder beside this folder's conftest.py
# and pytest.ini; PYTHON names the interpreter with pytest, httpx, pytest-asyncio and freezegun (default python3).
# Nothing of the reference is kept in this repository (it has no licence).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
service=$(cd "$here/../../.." && pwd)
reference=${1:?usage: run.sh REFERENCE_GIT_DIR [default|sharded] [pytest args…]}
layout=${2:-default}
shift $(($# < 2 ? $# : 2))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git --git-dir="$reference" archive 38bb025 tests/system/__init__.py tests/system/api | tar -x -C "$work" 2>/dev/null ||
  git -C "$reference" archive 38bb025 tests/system/__init__.py tests/system/api | tar -x -C "$work"
cp "$here/conftest.py" "$work/tests/conftest.py"
cp "$here/pytest.ini" "$work/pytest.ini"
cd "$work"
env_name=""
[ "$layout" = sharded ] && env_name=sharded
REFSUITE_SERVICE="$service" REFSUITE_ENV="$env_name" "${PYTHON:-python3}" -m pytest -p no:cacheprovider -rfE "$@"
