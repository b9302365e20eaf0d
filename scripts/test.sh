#!/usr/bin/env bash
# Run the test suite. Sets up what the integration tests need first (each once):
#   - .venv-ls: Label Studio in its own virtualenv (its numpy pin clashes with FiftyOne's);
#     about 75 s and 1 GB.
#   - .venv-ultralytics: Ultralytics' dataset checker, layered over this environment's packages
#     (a .pth file), so pip adds only what is missing instead of a second torch; about 10 s.
# Extra arguments go to pytest, e.g.  scripts/test.sh -m "not integration and not slow"
set -euo pipefail
cd "$(dirname "$0")/.."

export FIFTYONE_DO_NOT_TRACK=true
PY=${PYTHON:-python}

if [ "${AUTOLABEL_SKIP_LS_SETUP:-0}" != "1" ] && [ ! -x .venv-ls/bin/label-studio ]; then
  echo "setting up .venv-ls (Label Studio for the integration tests)..." >&2
  t0=$(date +%s)
  python3 -m venv .venv-ls
  .venv-ls/bin/pip install -q "label-studio>=1.23,<1.24"   # the UI test knows 1.23's page
  echo "Label Studio venv ready in $(( $(date +%s) - t0 )) s" >&2
fi
if [ "${AUTOLABEL_SKIP_ULTRALYTICS_SETUP:-0}" != "1" ] && [ ! -x .venv-ultralytics/bin/yolo ]; then
  echo "setting up .venv-ultralytics (Ultralytics' dataset checker for the integration tests)..." >&2
  t0=$(date +%s)
  rm -rf .venv-ultralytics
  "$PY" -m venv .venv-ultralytics
  base=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  over=$(.venv-ultralytics/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "$base" > "$over/zz_autolabel_base.pth"
  .venv-ultralytics/bin/pip install -q ultralytics
  echo "Ultralytics venv ready in $(( $(date +%s) - t0 )) s" >&2
fi
export AUTOLABEL_ULTRALYTICS_VENV=${AUTOLABEL_ULTRALYTICS_VENV:-$PWD/.venv-ultralytics}
export AUTOLABEL_LS_VENV=${AUTOLABEL_LS_VENV:-$PWD/.venv-ls}
export AUTOLABEL_LS_PYTHON=${AUTOLABEL_LS_PYTHON:-$AUTOLABEL_LS_VENV/bin/python}

exec "$PY" -m pytest "$@"
