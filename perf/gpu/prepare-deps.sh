#!/usr/bin/env bash
# Copies the header-only toml++ into .deps/include (git-ignored) so it can travel to GPU machines.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .deps/include
cp -r /usr/include/toml++ .deps/include/
