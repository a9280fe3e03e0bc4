#!/usr/bin/env bash
# The whole create pipeline (read -> chunk -> hash -> compress -> seal -> pack
# write) against the throughput its slowest stage allows on this machine's
# cores, on the same bytes. One large file on tmpfs into a repository on
# tmpfs: no disk, and no per-file work (open, stat, close of many small
# files), which compare-peers.sh measures on whole trees.
#
# usage: bench/pipeline.sh JSNAP STAGES_BENCH [INPUT]
#   JSNAP         the jsnap binary (build/jsnap)
#   STAGES_BENCH  build/bench/jsnap_stages_bench, for the stages on this input
#   INPUT         a file, or a directory to tar; default: the Linux 6.1 source
#                 tree as one tar (Debian's linux-source-6.1, installed if missing)
# Environment: REPS (default 3). Needs ~3 GB of /dev/shm and as much memory.
set -euo pipefail
jsnap=$(realpath "$1")
stages=$(realpath "$2")
input_arg=${3:-}
reps=${REPS:-3}

work=$(mktemp -d /dev/shm/jsnap-pipeline-XXXXXX)
trap 'rm -rf "$work"' EXIT
input="$work/input"
if [ -z "$input_arg" ]; then
  if [ ! -f /usr/src/linux-source-6.1.tar.xz ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-source-6.1 >/dev/null
  fi
  xz -dc /usr/src/linux-source-6.1.tar.xz > "$input"
elif [ -d "$input_arg" ]; then
  tar -cf "$input" -C "$input_arg" .
else
  cp "$input_arg" "$input"
fi
bytes=$(stat -c %s "$input")
cores=$(nproc)
export JSNAP_PASSWORD=bench

# The stages, one core, on the same input.
stage_rate() {  # benchmark name -> MB/s
  JSNAP_BENCH_INPUT="$input" "$stages" --benchmark_filter="^$1\$" --benchmark_format=json \
    --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true 2>/dev/null |
    python3 -c 'import json,sys
for b in json.load(sys.stdin)["benchmarks"]:
    if b.get("aggregate_name") == "median": print("%.0f" % (b["bytes_per_second"] / 1e6))'
}
zstd_rate=$(stage_rate BM_InputCompress)
row_rate=$(stage_rate BM_InputStagesInRow)

# The pipeline: a fresh repository per repetition.
times=()
for ((i = 0; i < reps; i++)); do
  rm -rf "$work/repo"
  JSNAP_REPOSITORY="$work/repo" "$jsnap" init >/dev/null
  start=$(date +%s%N)
  JSNAP_REPOSITORY="$work/repo" "$jsnap" create -q "$input" >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000000 )))
done
median_ms=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (reps + 1) / 2 ))p")

python3 - "$bytes" "$median_ms" "$zstd_rate" "$row_rate" "$cores" "${times[*]}" <<'EOF'
import sys
size, ms, zstd, row, cores, runs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
rate = size / 1e6 / (ms / 1000)
print(f"input: {size / 2**20:.0f} MiB; creates: {runs} ms (median {ms} ms)")
print(f"| measure | MB/s |")
print(f"|---|---|")
print(f"| zstd alone, 1 core (slowest stage) | {zstd:.0f} |")
print(f"| all CPU stages in a row, 1 core | {row:.0f} |")
print(f"| slowest stage on {cores} cores | {zstd * cores:.0f} |")
print(f"| all stages on {cores} cores | {row * cores:.0f} |")
print(f"| **jsnap create (whole pipeline, {cores} cores)** | **{rate:.0f}** |")
print()
print(f"Pipeline: **{100 * rate / (zstd * cores):.0f} % of what its slowest stage allows** on {cores} cores, "
      f"{100 * rate / (row * cores):.0f} % of what all its stages in a row allow.")
EOF
