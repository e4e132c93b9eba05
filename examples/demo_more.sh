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

step "7. A fleet of three Raspberry Pi agents over MQTT (TLS, passwords, ACL)"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BROKER_PORT=$(free_port)
run tinyops broker setup --port "$BROKER_PORT" --host localhost
run tinyops broker start
echo "tinyops broker stop" >> "$DEMO/cleanup.sh"
for i in 1 2 3; do
  run tinyops device register "pi-00$i" --profile raspberry-pi-4 --group demo --http-port 0
done
AGENTS="$TINYOPS_HOME/.tinyops/agents"
for i in 1 2 3; do
  printf '$ tinyops-agent --config %s &\n' "$AGENTS/pi-00$i/agent.toml"
  tinyops-agent --config "$AGENTS/pi-00$i/agent.toml" > "$AGENTS/pi-00$i/agent.log" 2>&1 &
  echo "kill $! 2>/dev/null" >> "$DEMO/cleanup.sh"
done
run tinyops fleet publish "$PI_BUILD"
run tinyops fleet rollout "$PI_BUILD" --group demo --canary 33% --batch 50% --health-timeout 60s
run tinyops fleet status --group demo
