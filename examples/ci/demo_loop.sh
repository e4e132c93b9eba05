#!/usr/bin/env bash
# The monitoring half of the loop, as plain commands: telemetry → drift → retrain → gates →
# canary → promote → drift falls back. Expects TINYOPS_HOME to hold digits@1 (trained on the
# 64 pixel columns) with its int8 variant, and DEMO to be a scratch folder; `make demo` sources
# it after its data/train/convert part. Stops what it starts (agents, board, collector, broker).
set -euo pipefail
: "${DEMO:?set DEMO to a scratch folder}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
PIDS=()
SIM=""
stop_all() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -n "$SIM" ] && tinyops sim stop "$SIM" >/dev/null 2>&1 || true
  tinyops broker stop >/dev/null 2>&1 || true
}
trap stop_all EXIT

step "Builds for a Raspberry Pi 4 and the emulated Cortex-M4 board"
run tinyops model alias set digits production "${PRODUCTION_VERSION:-1}"
PI=$(tinyops build digits@production:int8 --device raspberry-pi-4 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["build"])')
MCU=$(tinyops build digits@production:int8 --device qemu-mps2-an386 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["build"])')
echo "Pi build $PI, MCU build $MCU"

step "Broker, three Pi agents (group field), the QEMU board, a collector"
BROKER_DIR=$(mktemp -d /tmp/tinyops-demo-broker.XXXXXX); chmod 755 "$BROKER_DIR"
run tinyops broker setup --dir "$BROKER_DIR" --port "${TINYOPS_DEMO_BROKER_PORT:-18883}"
run tinyops broker start
for d in pi-1 pi-2 pi-3; do
  tinyops device register "$d" --profile raspberry-pi-4 --group field --http-port 0 --config "$DEMO/$d/agent.toml" >/dev/null
  sed -i 's/^telemetry_period_s = .*/telemetry_period_s = 2/' "$DEMO/$d/agent.toml"   # demo: a window every 2 s
  tinyops-agent --config "$DEMO/$d/agent.toml" > "$DEMO/$d/agent.log" 2>&1 & PIDS+=($!)
done
tinyops telemetry collect > "$DEMO/collector.log" 2>&1 & PIDS+=($!)
run tinyops fleet rollout "$PI" --group field --canary 33% --batch 100%
run tinyops fleet status --group field
SIM=$(tinyops sim start qemu-mps2-an386 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
PORT=$(tinyops sim list --json | python3 -c "import json,sys; print([s['url'] for s in json.load(sys.stdin) if s['id']=='$SIM'][0])")
run tinyops flash "$MCU" --port "$PORT"
agent() { echo "http://127.0.0.1:$(cat "$DEMO/$1/state/http.port")"; }

step "In-distribution inputs: no drift"
for i in 1 2 3; do run tinyops telemetry feed digits@1 --agent "$(agent pi-$i)" --rows 300 --seed 1$i; done
run tinyops telemetry feed digits@1 --port "$PORT" --device mcu-1 --build "$MCU" --rows 300 --seed 14
sleep 4
run tinyops telemetry show
run tinyops drift check digits@production:int8 --window 30s

step "A sensor gain change (x1.4) on six centre pixels of pi-2 and the MCU"
sleep 31   # the next check looks only at the shifted half minute
SHIFT="19,20,27,28,35,36=1.4"
for i in 1 3; do run tinyops telemetry feed digits@1 --agent "$(agent pi-$i)" --rows 300 --seed 2$i; done
run tinyops telemetry feed digits@1 --agent "$(agent pi-2)" --rows 300 --seed 22 --gain "$SHIFT"
run tinyops telemetry feed digits@1 --port "$PORT" --device mcu-1 --build "$MCU" --rows 300 --seed 24 --gain "$SHIFT" --reservoir 16
sleep 4
run tinyops drift check digits@production:int8 --window 30s || echo "(exit code $? = drift found)"
run tinyops drift report digits@production:int8 --window 30s --html "$DEMO/drift-before.html"
run tinyops drift bias "$MCU" --device mcu-1

step "Field data: the MCU's reservoir samples, labelled; a recording from the re-calibrated sensors"
run tinyops field samples --device mcu-1 --out "$DEMO/to_label.csv"
python3 "$HERE/demo_label.py" "$DEMO" "$SHIFT"    # stands in for a person labelling, and writes the recording
run tinyops field add digits-field --labels "$DEMO/labelled.csv"
run tinyops data add digits-recalibrated "$DEMO/recording.csv"

step "Retrain → int8 → gates → builds → canary → promote (the CI pipeline)"
cp "$HERE/retrain.toml" "$DEMO/retrain.toml"
python3 - "$DEMO/retrain.toml" <<'PY'   # demo gates for a 3-epoch model; the recording joins the field data
import sys
p = sys.argv[1]; s = open(p).read()
s = s.replace('[steps.train]', '[steps.recording]\nkind = "data"\nref = "digits-recalibrated@latest"\n\n[steps.train]')
s = s.replace('min_accuracy = 0.9', 'min_accuracy = 0.8').replace('max_int8_drop = 1.0', 'max_int8_drop = 2.0')
s = s.replace('canary = "10%"\nbatch = "25%"', 'canary = "34%"\nbatch = "100%"')
open(p, "w").write(s)
PY
run tinyops pipeline run "$DEMO/retrain.toml"
NEW_MCU=$(tinyops builds list --json | python3 -c 'import json,sys; b=[x for x in json.load(sys.stdin) if x["profile"]=="qemu-mps2-an386"]; print(b[-1]["build"])')
run tinyops flash "$NEW_MCU" --port "$PORT"
run tinyops model show digits@production

step "Same field conditions, retrained model: drift falls back"
sleep 31
for i in 1 3; do run tinyops telemetry feed digits@1 --agent "$(agent pi-$i)" --rows 300 --seed 3$i; done
run tinyops telemetry feed digits@1 --agent "$(agent pi-2)" --rows 300 --seed 32 --gain "$SHIFT"
run tinyops telemetry feed digits@1 --port "$PORT" --device mcu-1 --build "$NEW_MCU" --rows 300 --seed 34 --gain "$SHIFT"
sleep 4
run tinyops drift check digits@production:int8 --window 30s
run tinyops drift report digits@production:int8 --window 10m --html "$DEMO/drift-after.html"
echo "Drift reports: $DEMO/drift-before.html $DEMO/drift-after.html"
