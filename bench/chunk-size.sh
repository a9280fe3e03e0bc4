#!/usr/bin/env bash
# Measures deduplication and speed of jsnap's chunker for several average
# chunk sizes on real data, to choose the repository default.
#
#   bench/chunk-size.sh JSNAP_BINARY [CORPUS_DIR]
#
# For each size: init a repository, snapshot the corpus, apply a
# deterministic mutation (1 % of files get bytes inserted at the front, 1 %
# appended to, 1 % rewritten in the middle), snapshot again. Reports the
# repository size after the first snapshot, the bytes the second one added,
# the chunk count, and the wall time of the first snapshot.
set -euo pipefail
jsnap=$(realpath "$1")
corpus_src=${2:-/usr/lib/x86_64-linux-gnu}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "pw" > "$work/pw"

# A private copy, so that the mutation can be applied (cp -a keeps times).
corpus="$work/corpus"
cp -a "$corpus_src" "$corpus"
mapfile -t files < <(find "$corpus" -type f -size +4k | sort)
n=${#files[@]}
bytes=$(du -sb --apparent-size "$corpus" | cut -f1)
echo "corpus: $corpus_src, $n files over 4 KiB, $((bytes / 1048576)) MiB"
printf '%-8s %12s %12s %14s %10s %10s\n' avg_KiB repo_MiB blobs added_MiB first_s second_s

mutate() {
  local i=0
  for f in "${files[@]}"; do
    i=$((i + 1))
    case $((i % 100)) in
      7) { printf 'inserted header %d\n' "$i"; cat "$f"; } > "$f.new" && mv "$f.new" "$f" ;;
      31) printf 'appended trailer %d\n' "$i" >> "$f" ;;
      59) printf 'XXXXXXXX' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") / 2 )) conv=notrunc status=none ;;
    esac
  done
}

for avg in ${CHUNK_SIZES:-256 512 1024 2048 4096}; do
  repo="$work/repo-$avg"
  rm -rf "$corpus"; cp -a "$corpus_src" "$corpus"
  "$jsnap" -r "$repo" -p "$work/pw" init --chunk-size "$avg" >/dev/null
  t0=$(date +%s.%N)
  first=$("$jsnap" -r "$repo" -p "$work/pw" create --json "$corpus")
  t1=$(date +%s.%N)
  repo_bytes=$(du -sb "$repo/data" | cut -f1)
  mutate
  t2=$(date +%s.%N)
  second=$("$jsnap" -r "$repo" -p "$work/pw" create --json "$corpus")
  t3=$(date +%s.%N)
  blobs=$(echo "$first" | sed -E 's/.*"data_blobs_added":([0-9]+).*/\1/')
  added=$(echo "$second" | sed -E 's/.*"bytes_added_stored":([0-9]+).*/\1/')
  awk -v a="$avg" -v r="$repo_bytes" -v b="$blobs" -v d="$added" -v f="$(awk -v x="$t0" -v y="$t1" 'BEGIN{print y-x}')" \
      -v s="$(awk -v x="$t2" -v y="$t3" 'BEGIN{print y-x}')" \
      'BEGIN { printf "%-8s %12.1f %12s %14.2f %10.2f %10.2f\n", a, r / 1048576, b, d / 1048576, f, s }'
done
