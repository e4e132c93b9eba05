# Sourced by examples/demo.sh after the data and feature steps.

step "3. Train (seeded, recorded) and register the model"
run tinyops train "$HERE/digits/recipe.toml" --data digits@1
run tinyops model lineage digits@1

step "4. Quantize to int8 and see what it cost"
run tinyops convert digits@1 --quant float16
run tinyops convert digits@1 --quant int8
run tinyops evaluate digits@1:int8 --runtime tflm
run tinyops evaluate digits@1:int8 --runtime tinyops-c
run tinyops inspect digits@1:int8

step "5. Fit check and signed device builds"
run tinyops keys init
run tinyops device-profile check digits@1:int8 --device qemu-mps2-an386
run tinyops device-profile check digits@1:int8 --device raspberry-pi-4
run tinyops device-profile check digits@1:int8 --device arduino-nano-33-ble-sense
MCU_BUILD=$(tinyops build digits@1:int8 --device qemu-mps2-an386 --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["build"])')
PI_BUILD=$(tinyops build digits@1:int8 --device raspberry-pi-4 --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["build"])')
run tinyops builds list
run tinyops builds show "$MCU_BUILD"
run tinyops builds verify "$MCU_BUILD"

step "6. Flash the build onto an emulated Cortex-M4 (QEMU) and benchmark it there"
SIM_JSON=$(tinyops sim start qemu-mps2-an386 --json)
SIM_ID=$(echo "$SIM_JSON" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
SIM_URL=$(echo "$SIM_JSON" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["url"])')
echo "\$ tinyops sim start qemu-mps2-an386    # → $SIM_URL"
echo "tinyops sim stop $SIM_ID" >> "$DEMO/cleanup.sh"
run tinyops flash "$MCU_BUILD" --port "$SIM_URL"
run tinyops device info --port "$SIM_URL"
run tinyops bench --port "$SIM_URL" --runs 20 --warmup 5
run tinyops sim list

run tinyops sim stop "$SIM_ID"

step "7. A per-pixel model for monitoring: every input pixel gets a baseline histogram"
run tinyops train "$HERE/digits/recipe_pixels.toml" --data digits@1
run tinyops convert digits@2 --quant int8
run tinyops evaluate digits@2:int8 --runtime tinyops-c

step "8. Fleet, telemetry, drift, retraining and a gated rollout (examples/ci/demo_loop.sh)"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir -p "$DEMO/loop"
DEMO="$DEMO/loop" PRODUCTION_VERSION=2 TINYOPS_DEMO_BROKER_PORT=$(free_port) \
  bash "$HERE/ci/demo_loop.sh" 2> >(grep -vE "$NOISE" >&2)
