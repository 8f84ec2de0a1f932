#!/usr/bin/env bash
# Installs the official `openai` Python package in a venv under target/ for
# tests/serve_openai.rs, which drives `rota serve` with it.
#
#   eval "$(bash .ci/openai-setup.sh)"   # prints ROTA_OPENAI_PYTHON=…
#
# Idempotent and quiet unless something fails (then the log's tail goes to stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
T=$PWD/target
VENV=$T/openai-venv
LOG=$T/openai-setup.log
mkdir -p "$T"
fail() {
  echo "openai-setup: failed; last lines of $LOG:" >&2
  tail -n 30 "$LOG" >&2 || true
  exit 1
}
trap fail ERR
# Pinned: the package and everything it pulls in, as resolved on 2026-12-06.
cat >"$T/openai-requirements.txt" <<'REQ'
openai==3.63.0
annotated-types==0.8.0
anyio==4.16.0
h11==0.16.0
httpcore2==2.17.0
httpx2==2.17.0
idna==3.21
jiter==0.19.0
pydantic==2.14.4
pydantic_core==2.50.5
sniffio==1.3.1
truststore==0.10.5
typing-inspection==0.4.5
typing_extensions==4.16.0
REQ
if ! "$VENV/bin/python" -c "import openai" >>"$LOG" 2>&1; then
  python3 -m venv "$VENV" >>"$LOG" 2>&1
  "$VENV/bin/pip" install -q -r "$T/openai-requirements.txt" >>"$LOG" 2>&1
  "$VENV/bin/python" -c "import openai" >>"$LOG" 2>&1
fi
echo "ROTA_OPENAI_PYTHON=$VENV/bin/python"
