#!/usr/bin/env bash
# Runs every efficacy workload, $EFFICACY_JOBS at a time (default 2: each simulation is
# single-threaded), into
# OUT/efficacy-<workload>[-<label>].jsonl and .series, and appends the exact commands to
# OUT/commands.txt. Extra arguments go to every sim.mjs (e.g. --shim FILE --label before).
#
#   scripts/bench/efficacy/run.sh OUT [--quick] [sim.mjs options…]
#
# Lengths keep the whole set within about 25 minutes of two cores: current and hot run 900 s
# and tracker 600 s, each with the first round's outage (every node killed for 60 s); global
# (100,000 tabs, the costliest: 2.4 GB) runs 240 s, which holds the opening herd and four
# bumps; flood 120 s (600 bumps); each server event runs 300 s on tracker, from 120 s on.
# --quick divides every length by three.
set -euo pipefail
OUT=$1
shift
QUICK=0
if [ "${1:-}" = --quick ]; then
  QUICK=1
  shift
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/../../.."

# name, duration s, event at s, event length s (the event is the workload's: kill for the
# first round's three, none for global and flood, the named one for tracker-*), then a
# label and options for a variant
JOBS=(
  "global 240 120 30"
  "tracker 600 300 60"
  "current 900 480 60"
  "hot 900 480 60"
  "flood 120 60 30"
  "tracker-redis 300 120 60"
  "tracker-flip 300 120 60"
  "tracker-drain 300 120 60"
  "tracker-stall 300 120 60"
)
# The spread factor against the promise and hinted staleness (BENCHMARKS.md §5, issue 18's
# conflicting targets): current is cheap (a few CPU-seconds a run), global costs as much as
# its default run. Not for another shim (before.sh): the before figures have no variants.
case " $* " in
*" --shim "* | *" --label "*) ;;
*)
  JOBS+=(
    "current 900 480 60 spread0.8 --spread-factor 0.8"
    "current 900 480 60 spread0.7 --spread-factor 0.7"
    "current 900 480 60 spread0.5 --spread-factor 0.5"
    "global 240 120 30 spread0.5 --spread-factor 0.5"
  )
  ;;
esac

label=""
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = --label ]; then
    j=$((i + 1))
    label="-${!j}"
  fi
done

running=0
for job in "${JOBS[@]}"; do
  read -r name dur at len variant extra <<<"$job"
  if ((QUICK)); then
    dur=$((dur / 3))
    at=$((at / 3))
    len=$((len / 3))
  fi
  args=(--workload "$name" --duration-s "$dur" --event-at-s "$at" --event-s "$len")
  suffix=$label
  if [ -n "${variant:-}" ]; then
    read -ra more <<<"--label $variant $extra"
    args+=("${more[@]}")
    suffix=-$variant
  fi
  echo "node scripts/bench/efficacy/sim.mjs ${args[*]} $*" >>"$OUT/commands.txt"
  node scripts/bench/efficacy/sim.mjs "${args[@]}" "$@" --series-dir "$OUT" >"$OUT/efficacy-$name$suffix.jsonl" &
  running=$((running + 1))
  if ((running >= ${EFFICACY_JOBS:-2})); then
    wait -n
    running=$((running - 1))
  fi
done
wait
