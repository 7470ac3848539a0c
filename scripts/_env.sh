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
  export PATH="$VENV/bin:$PATH"
}
debian_package() {  # debian_package <package> <why>: install it when running as root with apt
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's $1 $2" >&2
    { [ -n "${_APT_UPDATED:-}" ] || apt-get update -qq; } && _APT_UPDATED=1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
  else
    echo "missing: install Debian's $1 package $2" >&2
  fi
}
ensure_postgres() {  # the production-topology test starts a real PostgreSQL server
  if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null 2>&1; then return; fi
  debian_package postgresql "(server binaries) for the topology test, or set PG_BINDIR"
}
ensure_chromium() {  # the docs page is tested in a real headless browser
  if command -v chromium >/dev/null 2>&1 || [ -n "${MESH_TEST_CHROMIUM:-}" ]; then return; fi
  debian_package chromium "for the docs page test, or set MESH_TEST_CHROMIUM to a Chromium binary"
}
