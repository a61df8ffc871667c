#!/usr/bin/env bash
# On the CPU machine, before a GPU call: puts the committed HEAD (not the working tree, which may
# hold other engineers' half-written files) into .snap/ with the toml++ headers in .snap/.deps,
# so every recorded GPU result names exactly the code it ran. Carry ".snap" to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .snap && mkdir -p .snap/.deps/include
git archive HEAD | tar -x -C .snap
cp -r /usr/include/toml++ .snap/.deps/include/
git rev-parse --short=12 HEAD > .snap/.commit
echo "snapshot of $(cat .snap/.commit) in .snap ($(du -sh .snap | cut -f1))"
