#!/usr/bin/env bash
# Fuzz the firmware's frame and command parser (posix sources, libFuzzer).
#   firmware/fuzz/run_frames_fuzz.sh [SECONDS]      fuzz (default 600 s)
#   firmware/fuzz/run_frames_fuzz.sh --regress      replay the kept corpus only
# New interesting inputs are merged into corpus_frames/ (kept in git as
# regression tests); crashes land in build/fuzz/ as crash-*.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fw="$(dirname "$here")"
out="$fw/build/fuzz"
mkdir -p "$out"
CC="${CC:-clang}"
# shellcheck disable=SC1091
TOR_SRCS="$(make -s -C "$fw" -f - print-tor <<'MK'
TOR_DIR := runtime
include runtime/sources.mk
print-tor: ; @echo $(TOR_SRCS)
MK
)"
srcs=("$here/fuzz_frames.c" "$fw"/src/{main,proto,slots,model,mlperf,out,crc32,sha256,sha512,ed25519,trust}.c "$fw"/features/tfe_features.c "$fw"/features/tfs_steps.c)
for s in $TOR_SRCS; do srcs+=("$fw/$s"); done
"$CC" -g -O1 -std=c99 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$fw/src" -I"$fw/runtime" -I"$fw/features" "${srcs[@]}" -lm -o "$out/fuzz_frames"
corpus="$here/corpus_frames"
mkdir -p "$corpus"
if [ "${1:-}" = "--regress" ]; then
  exec "$out/fuzz_frames" -runs=0 "$corpus"
fi
seconds="${1:-600}"
seeds="$out/seeds"
python3 "$here/make_seeds.py" "$seeds"
work="$out/work"
mkdir -p "$work"
"$out/fuzz_frames" -max_total_time="$seconds" -max_len=12000 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/" -print_final_stats=1 "$work" "$seeds" "$corpus" 2>&1 | tee "$out/fuzz.log" | tail -25
# Keep a minimal corpus that covers what the run found.
"$out/fuzz_frames" -merge=1 "$corpus" "$work" "$seeds" >/dev/null 2>&1
echo "corpus: $(ls "$corpus" | wc -l) files in $corpus"
