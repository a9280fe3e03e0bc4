#!/usr/bin/env bash
# Prune speed: a repository with N snapshots (default 100) of the kernel
# source tree, each after a small deterministic change; forget half of them
# (every other one) and prune. Compares the prune's wall time with one
# initial create of the same tree (the target: prune takes less).
#
#   bench/prune-speed.sh JSNAP_BINARY [N]
set -euo pipefail
jsnap=$(realpath "$1")
n=${2:-100}
work=$(mktemp -d /var/tmp/jsnap-prune-XXXXXX)
trap 'rm -rf "$work"' EXIT
export JSNAP_PASSWORD=bench
[ -f /usr/src/linux-source-6.1.tar.xz ] || { apt-get update -qq && apt-get install -y -qq linux-source-6.1 >/dev/null; }
tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$work"
src="$work/linux-source-6.1"
mapfile -t files < <(find "$src" -type f -name '*.c' | LC_ALL=C sort)

"$jsnap" -r "$work/repo" init -q
t0=$(date +%s.%N)
"$jsnap" -r "$work/repo" create -q "$src"
t1=$(date +%s.%N)
for ((i = 1; i < n; i++)); do
  # Each snapshot: 20 source files get a line, one new file appears.
  for ((k = 0; k < 20; k++)); do echo "/* change $i.$k */" >> "${files[(i * 20 + k) % ${#files[@]}]}"; done
  echo "snapshot $i" > "$src/bench-note-$i.txt"
  "$jsnap" -r "$work/repo" create -q "$src" --time "$(date -d "2026-01-01 + $i hours" '+%Y-%m-%d %H:%M:%S')"
done
before=$(du -sb "$work/repo/data" | cut -f1)
mapfile -t ids < <("$jsnap" -r "$work/repo" snapshots --json | python3 -c 'import json,sys; [print(s["id"]) for s in json.load(sys.stdin)[::2]]')
"$jsnap" -r "$work/repo" forget -q "${ids[@]}" > /dev/null
t2=$(date +%s.%N)
/usr/bin/time -f '%e s wall, %M KB peak RSS' "$jsnap" -r "$work/repo" prune -q
t3=$(date +%s.%N)
after=$(du -sb "$work/repo/data" | cut -f1)
"$jsnap" -r "$work/repo" check -q
awk -v c="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" -v p="$(awk -v a="$t2" -v b="$t3" 'BEGIN{print b-a}')" \
    -v n="$n" -v r="${#ids[@]}" -v b="$before" -v a="$after" 'BEGIN {
  printf "snapshots: %d, forgotten: %d\ninitial create: %.2f s\nprune: %.2f s (%.2fx of the initial create)\ndata: %.1f MiB -> %.1f MiB\n",
         n, r, c, p, p / c, b / 1048576, a / 1048576 }'
