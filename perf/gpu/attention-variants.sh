#!/usr/bin/env bash
# The same flux-dev run with each GPU attention kernel (PARDIT_ATTENTION), for the record.
#   perf/gpu/attention-variants.sh RESULTS.jsonl CONFIG.toml
set -uo pipefail
results=$1 config=$2
for backend in cudnn flash sdpa; do
  PARDIT_ATTENTION=$backend WORK=/tmp/w-$backend bash "$(dirname "$0")/run-flux.sh" "$results" \
    "attn-$backend|1|-|--config $config --steps 12"
done
