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
