# Shared by scripts/*: a project virtualenv in .venv with cascadewatch installed (editable).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
install_project() {  # $1: pip extras, e.g. "[test]"
  local stamp=".venv/.installed$1" deps_hash
  deps_hash="$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$deps_hash" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".$1"
    echo "$deps_hash" > "$stamp"
  fi
}
