#!/bin/sh
# Fuzz the tinyops-c loader with libFuzzer + AddressSanitizer.
#   firmware/fuzz/run_loader_fuzz.sh [SECONDS]        (default 600)
#   firmware/fuzz/run_loader_fuzz.sh replay           (run the kept corpus once)
# Seeds: compiled images of small models and single ops (written to corpus_loader/
# by tests/fixtures_tflite_ops.py's image seeds if the folder is empty). New inputs
# that add coverage go into corpus_loader/ too; crashes are written to
# firmware/fuzz/crashes/ and make the script fail.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
RT="$HERE/../runtime"
OUT="${TOR_FUZZ_BUILD:-$HERE/build}"
mkdir -p "$OUT" "$HERE/corpus_loader" "$HERE/crashes"
clang -g -O1 -fsanitize=fuzzer,address -fno-omit-frame-pointer -I"$RT" \
  "$HERE/fuzz_loader.c" "$RT"/tor_*.c -lm -o "$OUT/fuzz_loader"
if [ "${1:-}" = "replay" ]; then
  exec "$OUT/fuzz_loader" -runs=0 "$HERE/corpus_loader"
fi
SECONDS_TO_RUN="${1:-600}"
exec "$OUT/fuzz_loader" -max_total_time="$SECONDS_TO_RUN" -max_len=16384 -timeout=10 -rss_limit_mb=1024 \
  -artifact_prefix="$HERE/crashes/" -print_final_stats=1 "$HERE/corpus_loader"
