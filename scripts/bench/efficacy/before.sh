#!/usr/bin/env bash
# Measures the "before" figures that BENCHMARKS.md §5 sets beside every rerun
# (before.jsonl): this benchmark on the shim as it was before issue 18, at commit
# 23b7623 (pushpoll.js and tabs.js, run from a scratch folder in client-js/src so that
# socket.io-client resolves). Takes as long as run.sh.
#
#   scripts/bench/efficacy/before.sh [--quick]
set -euo pipefail
BEFORE=23b7623
cd "$(dirname "$0")/../../.."
dir=$(mktemp -d client-js/src/.before-XXXXXX)
out=$(mktemp -d)
trap 'rm -rf "$dir" "$out"' EXIT
git show "$BEFORE:client-js/src/pushpoll.js" >"$dir/pushpoll.js"
git show "$BEFORE:client-js/src/tabs.js" >"$dir/tabs.js"
scripts/bench/efficacy/run.sh "$out" "$@" --shim "$dir/pushpoll.js"
cat "$out"/efficacy-*.jsonl >scripts/bench/efficacy/before.jsonl
