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
