#!/usr/bin/env bash
# `make demo`: the tinyops loop end to end on emulated devices, in a temporary
# workspace. Every step is a real command you can type yourself.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
DEMO="${TINYOPS_DEMO_DIR:-$(mktemp -d /tmp/tinyops-demo.XXXXXX)}"
export TINYOPS_HOME="$DEMO/workspace"
PY="${PYTHON:-python3}"
export TF_CPP_MIN_LOG_LEVEL=2

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# TensorFlow's C++ start-up chatter (oneDNN notices, absl warnings) is not ours to show.
NOISE='^(WARNING: All log messages|[IWE][0-9]{4} [0-9:. ]+[0-9]+ [a-z_]+\.cc:|INFO: Created TensorFlow Lite|Saved artifact at|\* Endpoint|  args_0|Output Type:|Captures:|  [0-9]+: TensorSpec|  TensorSpec|fully_quantize:|$)'
run() { printf '$ %s\n' "$*"; "$@" 2> >(grep -vE "$NOISE" >&2); }

cleanup() {
  # Stop only what this demo started (sims, agents, broker) — by the ids it
  # recorded, newest first (agents before the broker they talk to).
  [ -f "$DEMO/cleanup.sh" ] && tac "$DEMO/cleanup.sh" | bash >/dev/null 2>&1 || true
}
trap cleanup EXIT

step "A workspace"
run tinyops init "$TINYOPS_HOME"

step "1. Version real datasets that packages ship"
run "$PY" "$HERE/digits/prepare.py" "$DEMO/data"
run "$PY" "$HERE/activity/prepare.py" "$DEMO/data"
run tinyops data add digits "$DEMO/data/digits.csv"
run tinyops data add digits "$DEMO/data/digits.csv"     # same content: same version
run tinyops data add activity "$DEMO/data/activity.npz"
run tinyops data show activity@1

step "2. Define features and apply them (versioned, with lineage)"
cat > "$DEMO/imu-std.toml" <<'TOML'
kind = "standardize"
description = "Zero-mean unit-variance IMU channels"
tags = ["imu", "scaling"]
[params]
fit_on = "activity@1"
key = "X"
TOML
run tinyops feature add imu-std --spec "$DEMO/imu-std.toml"
run tinyops feature add imu-std --spec "$DEMO/imu-std.toml"
run tinyops feature apply imu-std@1 activity@1
run tinyops feature search imu
run tinyops data list

if [ -f "$HERE/demo_more.sh" ]; then
  source "$HERE/demo_more.sh"
fi

# ---- Keyword spotting: MFCCs computed on the device from raw audio (examples/kws/demo.sh) ----
step "9. Keyword spotting: speech made here, MFCC on the board, drift from a new noise, retrain"
mkdir -p "$DEMO/kws-loop"
DEMO="$DEMO/kws-loop" TINYOPS_KWS_BROKER_PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') \
  bash "$HERE/kws/demo.sh" 2> >(grep -vE "$NOISE" >&2)
# ---- end of keyword spotting ----

step "Done. The workspace is kept in $TINYOPS_HOME"
