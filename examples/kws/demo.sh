#!/usr/bin/env bash
# Keyword spotting end to end (sourced by examples/demo.sh, or run alone with
# TINYOPS_HOME and DEMO set): speech made here -> MFCC + DS-CNN -> int8 -> a build
# whose board computes the MFCCs itself from raw audio -> raw clips streamed over
# serial -> telemetry -> a new background noise flagged as drift -> retrain with
# field recordings -> canary -> promote -> the new model on fresh hum recordings.
set -euo pipefail
: "${DEMO:?set DEMO to a scratch folder}"
KWS_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-python3}"
type step >/dev/null 2>&1 || step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
type run >/dev/null 2>&1 || run() { printf '$ %s\n' "$*"; "$@"; }
KWS_PIDS=()
KWS_SIM=""
kws_stop() {
  for p in "${KWS_PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  [ -n "$KWS_SIM" ] && tinyops sim stop "$KWS_SIM" >/dev/null 2>&1 || true
  tinyops broker stop >/dev/null 2>&1 || true
}
trap kws_stop EXIT
jget() { "$PY" -c "import json,sys; print(json.load(sys.stdin)$1)"; }

step "KWS 1. Speech data: espeak-ng voices + noise, held-out voices for the test set"
run "$PY" "$KWS_HERE/prepare.py" "$DEMO/kws" --size small
run "$PY" "$KWS_HERE/prepare.py" "$DEMO/kws" --size tiny --splits field --noise hum --snr 0,5 --seed 7
run tinyops data add kws "$DEMO/kws/train"
run tinyops data add kws-test "$DEMO/kws/test"
run tinyops data add kws-field "$DEMO/kws/field"      # labelled recordings from the field (mains hum)
run tinyops feature add kws-mfcc --spec "$KWS_HERE/mfcc.toml"

step "KWS 2. MFCC 49x10 + DS-CNN, int8, accuracy on voices never heard in training"
run tinyops train "$KWS_HERE/recipe.toml"
run tinyops convert kws@1 --quant int8
run tinyops evaluate kws@1:int8 --runtime tinyops-c --data kws-test@1
run tinyops model alias set kws production 1

step "KWS 3. Builds: the Cortex-M4 build carries the MFCC pipeline and takes raw audio"
KWS_MCU=$(tinyops build kws@production:int8 --device qemu-mps2-an386 --json | jget '["build"]')
KWS_PI=$(tinyops build kws@production:int8 --device raspberry-pi-4 --json | jget '["build"]')
run tinyops builds show "$KWS_MCU"

step "KWS 4. Broker, a Pi agent, the emulated board (raw-audio golden vectors), a collector"
KWS_BROKER_DIR=$(mktemp -d /tmp/tinyops-kws-broker.XXXXXX); chmod 755 "$KWS_BROKER_DIR"
run tinyops broker setup --dir "$KWS_BROKER_DIR" --port "${TINYOPS_KWS_BROKER_PORT:-18884}"
run tinyops broker start
tinyops device register kws-pi --profile raspberry-pi-4 --group kws --http-port 0 --config "$DEMO/kws-pi/agent.toml" >/dev/null
tinyops-agent --config "$DEMO/kws-pi/agent.toml" > "$DEMO/kws-pi/agent.log" 2>&1 & KWS_PIDS+=($!)
tinyops telemetry collect > "$DEMO/kws-collector.log" 2>&1 & KWS_PIDS+=($!)
run tinyops fleet rollout "$KWS_PI" --group kws --canary 100% --batch 100%
KWS_SIM_JSON=$(tinyops sim start qemu-mps2-an386 --json)
KWS_SIM=$(echo "$KWS_SIM_JSON" | jget '["id"]')
KWS_PORT=$(echo "$KWS_SIM_JSON" | jget '["url"]')
run tinyops flash "$KWS_MCU" --port "$KWS_PORT"

# drift checks look at the windows since the feed began (no fixed sleeps between the steps)
since() { echo "$(( $(date +%s) - $1 + 1 ))s"; }

step "KWS 5. Raw audio over serial: the board computes MFCCs (checked against the host's) and infers"
KWS_T5=$(date +%s)
run tinyops telemetry feed kws-test@1 --port "$KWS_PORT" --device mcu-kws --build "$KWS_MCU" --rows 10 --period 5 --seed 1
sleep 2  # the collector stores the last window
run tinyops drift check kws@production:int8 --window "$(since "$KWS_T5")" --device mcu-kws

step "KWS 6. The field gets mains hum: drift"
sleep 1
KWS_T6=$(date +%s)
run tinyops telemetry feed kws-field@1 --port "$KWS_PORT" --device mcu-kws --build "$KWS_MCU" --rows 10 --period 5 --seed 2 --reservoir 4
sleep 2
run tinyops drift check kws@production:int8 --window "$(since "$KWS_T6")" --device mcu-kws || echo "(exit code $? = drift found)"
run tinyops drift bias "$KWS_MCU" --device mcu-kws     # outputs and board-computed MFCCs vs the host's

step "KWS 7. Retrain with the field recordings -> int8 -> gates -> builds -> canary -> promote"
run tinyops pipeline run "$KWS_HERE/retrain.toml"
KWS_NEW=$(tinyops builds list --json | "$PY" -c 'import json,sys; b=[x for x in json.load(sys.stdin) if x["profile"]=="qemu-mps2-an386" and x["model"].startswith("kws@")]; print(b[-1]["build"])')
run tinyops flash "$KWS_NEW" --port "$KWS_PORT"
run tinyops model show kws@production

step "KWS 8. New hum recordings (never trained on): the retrained model against the first"
run "$PY" "$KWS_HERE/prepare.py" "$DEMO/kws-check" --size tiny --splits field --noise hum --snr 0,5 --seed 9
run tinyops data add kws-hum-check "$DEMO/kws-check/field"
run tinyops evaluate kws@1:int8 --runtime tinyops-c --data kws-hum-check@1
run tinyops evaluate kws@production:int8 --runtime tinyops-c --data kws-hum-check@1
kws_stop
trap - EXIT
