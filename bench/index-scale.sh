#!/usr/bin/env bash
# Does index memory (and speed) depend on how many blobs the repository
# holds? Runs the same lookup-heavy creates against repositories whose
# indexes hold SIZES blob entries (default: 0, 1 million, 10 million).
#
#   bench/index-scale.sh JSNAP_BINARY INDEX_FILL_BINARY SQLITE_WRITER_BINARY [OUT.md]
#
# Binaries: build/jsnap, build/bench/jsnap_index_fill, build/tests/sqlite_writer.
# The lookup-heavy create: a SQLite database (the chat store of
# compare-peers.sh, SQLITE_ROWS rows, ~95k pages) imaged with --sqlite,
# one chunk per page, so one index lookup per 4 KiB, all missing; then the
# same database after a 10,000-insert / 1,000-update workload. Each
# repetition starts from a fresh copy of every repository and of the
# database; sizes are interleaved within a repetition. REPS (default 3)
# repetitions, medians.
# Environment: SIZES, REPS, SQLITE_ROWS, WORK (scratch: ~0.16 GB per million
# entries, twice (a template and its copy), plus ~1 GB of databases).
set -euo pipefail
jsnap=$(realpath "$1")
fill=$(realpath "$2")
writer=$(realpath "$3")
out=${4:-/dev/stdout}
sizes=${SIZES:-0 1000000 10000000}
reps=${REPS:-3}
work=${WORK:-$(mktemp -d /var/tmp/jsnap-index-scale-XXXXXX)}
mkdir -p "$work"
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
export JSNAP_PASSWORD=bench
results="$work/results.tsv" fills="$work/fills.tsv"
: > "$results"
: > "$fills"

echo "building the database and one repository per size (once)..." >&2
"$writer" "$work/chat.db" wal init "${SQLITE_ROWS:-1400000}" >/dev/null
sqlite3 "$work/chat.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
for n in $sizes; do
  rm -rf "$work/template-$n"
  "$jsnap" init --repo "$work/template-$n" >/dev/null
  if [ "$n" -gt 0 ]; then
    /usr/bin/time -o "$work/t" -f "%e" "$fill" "$work/template-$n" "$n" >/dev/null
  else
    echo 0 > "$work/t"
  fi
  printf '%s\t%s\t%s\n' "$n" "$(cat "$work/t")" "$(du -sm "$work/template-$n/index" | cut -f1)" >> "$fills"
done

# step N STEP: one timed create of the database into the repository of N entries.
step() {
  local n=$1 name=$2
  sync
  /usr/bin/time -o "$work/t" -f "%e %M" "$jsnap" create --repo "$work/repo-$n" --sqlite "$work/db-$n/chat.db" >/dev/null
  read -r secs kb < "$work/t"
  printf '%s\t%s\t%s\t%s\n' "$name" "$n" "$secs" "$((kb / 1024))" >> "$results"
}

for ((rep = 1; rep <= reps; rep++)); do
  echo "repetition $rep of $reps" >&2
  for n in $sizes; do
    rm -rf "$work/repo-$n" "$work/db-$n"
    cp -a "$work/template-$n" "$work/repo-$n"
    mkdir -p "$work/db-$n" && cp -a "$work/chat.db" "$work/db-$n/chat.db"
  done
  for n in $sizes; do step "$n" "1 initial create (every lookup misses)"; done
  for n in $sizes; do
    "$writer" "$work/db-$n/chat.db" wal chat 10000 1000 >/dev/null
    sqlite3 "$work/db-$n/chat.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  done
  for n in $sizes; do step "$n" "2 create after the workload"; done
done

python3 - "$results" "$fills" "$reps" > "$out" <<'EOF'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
fills = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()]
reps = sys.argv[3]
print(f"Medians of {reps} repetitions.\n")
print("| blob entries in the index | index on disk | filled in | " +
      " | ".join(f"{s} s / peak RSS MiB" for s in sorted({r[0] for r in rows})) + " |")
print("|---|---|---|" + "---|" * len({r[0] for r in rows}))
for n, fill_s, index_mib in fills:
    cells = []
    for s in sorted({r[0] for r in rows}):
        got = [(float(r[2]), int(r[3])) for r in rows if r[0] == s and r[1] == n]
        cells.append(f"{statistics.median(t for t, _ in got):.2f} s / {statistics.median(m for _, m in got)}")
    fill = f"{float(fill_s):.0f} s" if int(n) else "-"
    print(f"| {int(n):,} | {index_mib} MiB | {fill} | " + " | ".join(cells) + " |")
EOF
for n in $sizes; do rm -rf "$work/repo-$n" "$work/db-$n"; done
echo "results: $out (scratch, with the templates: $work)" >&2
