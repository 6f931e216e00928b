#!/usr/bin/env bash
# Regenerate requirements.lock: the exact version of every package the toolkit, its development
# tools and its Spark extra install, so that a fresh machine tests what CI tested.
#
#   scripts/lock.sh           # resolve afresh in a temporary virtual environment (needs the package index)
#   scripts/lock.sh .venv     # freeze an existing environment made with: pip install -e ".[dev,spark]"
#
# Run it from any directory, with the Python the project is tested on (python3, 3.11 or newer);
# commit the new requirements.lock with the pyproject.toml change that called for it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
if [ $# -ge 1 ]; then
  venv="$(cd "$1" && pwd)"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  venv="$tmp/venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet "$root[dev,spark]"
fi
out="$root/requirements.lock"
{
  echo "# Exact versions for credit_grading[dev,spark] on $("$venv/bin/python" -c 'import platform; print("Python", platform.python_version(), platform.system(), platform.machine())')."
  echo "# Regenerate with scripts/lock.sh (see its header); install with"
  echo "#   pip install -r requirements.lock && pip install -c requirements.lock -e \".[dev,spark]\""
  "$venv/bin/pip" freeze --exclude credit_grading --exclude credit-grading | grep -v '^-e \|^# Editable'
} > "$out.tmp"
mv "$out.tmp" "$out"
echo "wrote $out ($(grep -vc '^#' "$out") packages)"
