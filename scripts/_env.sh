# Shared by scripts/start and scripts/test: a project-local virtualenv with the mesh installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "GTM Data Mesh needs Python 3.11 or newer (found $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
}
export MESH_HOME="${MESH_HOME:-$ROOT/.mesh}"
export DAGSTER_HOME="${DAGSTER_HOME:-$MESH_HOME/dagster}"
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
VENV="${MESH_VENV:-$ROOT/.venv}"
install() {  # install <extras>: (re)install when pyproject.toml changed since the last install
  local stamp="$VENV/.installed$1"
  if [ ! -x "$VENV/bin/python" ]; then "$PYTHON" -m venv "$VENV"; fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".$1"
    touch "$stamp"
  fi
  # Compiled here, as pip compiles what it installs: where no bytecode is written at import
  # (PYTHONDONTWRITEBYTECODE), every process would compile the project's modules again. A
  # checkout it cannot write to only runs slower.
  "$VENV/bin/python" -m compileall -q -j 0 platform_lib domains mesh_testkit tests benchmarks >/dev/null || true
  export PATH="$VENV/bin:$PATH"
}
# The test suite starts a real PostgreSQL server (the production topology) and a real headless
# Chromium (the docs page). As root with apt, the missing ones are installed from Debian's
# packages, in the background while the Python packages install (`wait_system_packages`).
system_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1 || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || [ -n "${MESH_TEST_CHROMIUM:-}" ] || missing+=(chromium)
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's ${missing[*]} for the tests" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } &
    _SYSTEM_PACKAGES=$!
  else
    echo "missing: install Debian's ${missing[*]} (or set PG_BINDIR / MESH_TEST_CHROMIUM)" >&2
  fi
}
wait_system_packages() {
  [ -z "${_SYSTEM_PACKAGES:-}" ] || wait "$_SYSTEM_PACKAGES" || echo "installing ${missing[*]:-system packages} failed" >&2
}
