#!/usr/bin/env bash
# Builds the fused q/k/v kernel as it is and with each variant (a sed expression applied to a copy
# of src/kernels/qkv_norm_rope.cu), runs qkv_norm_rope_bench.cu on each, and prints their times
# and output checksums side by side (a variant that only changes how the kernel is compiled or
# launched must give the same checksums). On a GPU machine, from the repository root:
#   perf/kernel_bench/variants.sh OUT_DIR 'NAME=SED_EXPRESSION' ...
set -uo pipefail
cd "$(dirname "$0")/../.."
out=$1; shift
mkdir -p "$out"
build() {  # name source
  nvcc -O3 -std=c++17 -arch=sm_90 -Xptxas -v -Isrc/kernels -Iinclude perf/kernel_bench/qkv_norm_rope_bench.cu "$2" \
    -o "$out/bench-$1" > "$out/ptxas-$1.txt" 2>&1 || { echo "build $1 FAILED"; tail -5 "$out/ptxas-$1.txt"; return 1; }
  grep -A2 "13__nv_bfloat16Li8ELi1ELi2E" "$out/ptxas-$1.txt" | grep -E "registers|spill" | sed "s/^/  $1: /" | head -2
}
build as-is src/kernels/qkv_norm_rope.cu
names=(as-is)
for v in "$@"; do
  name=${v%%=*} expr=${v#*=}
  sed "$expr" src/kernels/qkv_norm_rope.cu > "$out/$name.cu"
  cmp -s "$out/$name.cu" src/kernels/qkv_norm_rope.cu && { echo "variant $name changes nothing: $expr"; continue; }
  cp "$out/$name.cu" "src/kernels/.variant-$name.cu"  # beside the headers it includes
  build "$name" "src/kernels/.variant-$name.cu" && names+=("$name")
  rm -f "src/kernels/.variant-$name.cu"
done
for round in 1 2; do  # twice, interleaved: the clock moves between runs
  for n in "${names[@]}"; do
    echo "## $n (round $round)"
    "$out/bench-$n" | tee -a "$out/bench-$n.txt"
  done
done
