#!/usr/bin/env bash
# Runs every efficacy workload, two at a time (each simulation is single-threaded), into
# OUT/efficacy-<workload>[-<label>].jsonl and .series, and appends the exact commands to
# OUT/commands.txt. Extra arguments go to every sim.mjs (e.g. --shim FILE --label before).
#
#   scripts/bench/efficacy/run.sh OUT [--quick] [sim.mjs options…]
#
# Lengths keep the whole set near 25 minutes on a quiet 2-core machine: the three first-round
# workloads run 900 s with the first round's outage; global (100,000 tabs, the costliest)
# and flood run 300 s, which holds five bumps of global and the opening herd; each server
# event runs 600 s on tracker. --quick divides every length by three.
set -euo pipefail
OUT=$1
shift
QUICK=0
if [ "${1:-}" = --quick ]; then
  QUICK=1
  shift
fi
cd "$(dirname "$0")/../../.."
mkdir -p "$OUT"

# name, duration s, event at s, event length s
JOBS=(
  "global 300 180 60"
  "tracker 900 480 60"
  "current 900 480 60"
  "hot 900 480 60"
  "flood 300 180 30"
  "tracker-redis 600 300 60"
  "tracker-flip 600 300 60"
  "tracker-drain 600 300 60"
  "tracker-stall 600 300 60"
)

label=""
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = --label ]; then
    j=$((i + 1))
    label="-${!j}"
  fi
done

running=0
for job in "${JOBS[@]}"; do
  read -r name dur at len <<<"$job"
  if ((QUICK)); then
    dur=$((dur / 3))
    at=$((at / 3))
    len=$((len / 3))
  fi
  args=(--workload "$name" --duration-s "$dur" --event-at-s "$at" --event-s "$len")
  echo "node scripts/bench/efficacy/sim.mjs ${args[*]} $*" >>"$OUT/commands.txt"
  node scripts/bench/efficacy/sim.mjs "${args[@]}" "$@" --series-dir "$OUT" >"$OUT/efficacy-$name$label.jsonl" &
  running=$((running + 1))
  if ((running >= 2)); then
    wait -n
    running=$((running - 1))
  fi
done
wait
