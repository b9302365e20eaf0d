#!/usr/bin/env bash
# Run the test suite. Sets up what the integration tests need first:
#   - a separate virtualenv with Label Studio (.venv-ls): its numpy pin clashes with FiftyOne's,
#     so it cannot share the project's environment. Created once (about 75 s, 1 GB).
# Extra arguments go to pytest, e.g.  scripts/test.sh -m "not integration and not slow"
set -euo pipefail
cd "$(dirname "$0")/.."

export FIFTYONE_DO_NOT_TRACK=true
PY=${PYTHON:-python}

if [ "${AUTOLABEL_SKIP_LS_SETUP:-0}" != "1" ] && [ ! -x .venv-ls/bin/label-studio ]; then
  echo "setting up .venv-ls (Label Studio for the integration tests)..." >&2
  t0=$(date +%s)
  python3 -m venv .venv-ls
  .venv-ls/bin/pip install -q "label-studio>=1.20,<2"
  echo "Label Studio venv ready in $(( $(date +%s) - t0 )) s" >&2
fi
export AUTOLABEL_LS_VENV=${AUTOLABEL_LS_VENV:-$PWD/.venv-ls}
export AUTOLABEL_LS_PYTHON=${AUTOLABEL_LS_PYTHON:-$AUTOLABEL_LS_VENV/bin/python}

exec "$PY" -m pytest "$@"
