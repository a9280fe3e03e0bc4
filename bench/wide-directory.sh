#!/usr/bin/env bash
# Memory for one very wide directory (a maildir, a cache, an upload folder):
# peak RSS and time of a first create, a no-change create and a restore
# (checked identical with diff -r) of a folder holding FILES small files,
# jsnap beside restic and borg (interleaved, REPS repetitions, medians), then
# per entry: (RSS - RSS of the same step on an empty folder) / FILES.
#
#   bench/wide-directory.sh JSNAP_BINARY [OUT.md]
#
# Environment: FILES (default 300000), REPS (default 3), WORK (scratch,
# default a new folder under /var/tmp; needs ~2.5 GB for 300k files).
# restic and borgbackup are installed from Debian when missing.
set -euo pipefail
jsnap=$(realpath "$1")
out=${2:-/dev/stdout}
files=${FILES:-300000}
reps=${REPS:-3}
work=${WORK:-$(mktemp -d /var/tmp/jsnap-wide-XXXXXX)}
mkdir -p "$work"
for tool in restic borg; do
  command -v $tool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq restic borgbackup >/dev/null; }
done
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
export JSNAP_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_BASE_DIR="$work/borg-home"

if [ ! -f "$work/wide/d/f$(printf %07d $((files - 1)))" ]; then
  echo "writing $files files..." >&2
  rm -rf "$work/wide" && mkdir -p "$work/wide/d" "$work/empty"
  python3 - "$work/wide/d" "$files" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "f%07d" % i), "w") as f:
        f.write("message %d\n" % i)
EOF
fi
mkdir -p "$work/empty"

results="$work/results.tsv"
: > "$results"
measure() {  # tool step folder command...
  local tool=$1 step=$2; shift 2
  /usr/bin/time -o "$work/t" -f "%e %M" "$@" >/dev/null 2>&1
  echo "$tool $step $(tail -1 "$work/t")" >> "$results"
}
restored="$work/restored"
fresh_target() { rm -rf "$restored" && mkdir -p "$restored"; }
check_restored() {  # folder path-inside-the-target
  diff -r "$work/$1" "$restored/$2" >/dev/null || { echo "restore of $1 differs from its source" >&2; exit 1; }
}
for ((rep = 0; rep < reps; rep++)); do
  for tool in jsnap restic borg; do
    for folder in empty wide; do
      repo="$work/repo-$tool"
      rm -rf "$repo"
      case $tool in
        jsnap)
          "$jsnap" init -r "$repo" >/dev/null
          measure jsnap "first-$folder" "$jsnap" create -q -r "$repo" "$work/$folder"
          measure jsnap "nochange-$folder" "$jsnap" create -q -r "$repo" "$work/$folder"
          fresh_target
          measure jsnap "restore-$folder" "$jsnap" restore -q -r "$repo" latest --target "$restored"
          check_restored "$folder" "$work/$folder" ;;
        restic)
          restic init -q --repository-version 2 -r "$repo" >/dev/null
          measure restic "first-$folder" restic -q -r "$repo" backup "$work/$folder"
          measure restic "nochange-$folder" restic -q -r "$repo" backup "$work/$folder"
          fresh_target
          measure restic "restore-$folder" restic -q -r "$repo" restore latest --target "$restored"
          check_restored "$folder" "$work/$folder" ;;
        borg)
          borg init -e repokey "$repo" >/dev/null 2>&1
          measure borg "first-$folder" borg create --compression zstd,3 "$repo::a" "$work/$folder"
          measure borg "nochange-$folder" borg create --compression zstd,3 "$repo::b" "$work/$folder"
          fresh_target
          (cd "$restored" && measure borg "restore-$folder" borg extract "$repo::b")
          check_restored "$folder" "${work#/}/$folder" ;;
      esac
    done
  done
done

rm -rf "$restored"
python3 - "$results" "$files" > "$out" <<'EOF'
import sys, statistics
rows = {}
for line in open(sys.argv[1]):
    tool, step, wall, rss = line.split()
    rows.setdefault((tool, step), []).append((float(wall), int(rss)))
files = int(sys.argv[2])
med = lambda xs: statistics.median(xs)
print(f"One folder of {files} small files (medians of {len(next(iter(rows.values())))} runs).\n")
print("| tool | step | wall s | peak RSS MiB | RSS per entry (over an empty folder's) |")
print("|---|---|---|---|---|")
for tool in ("jsnap", "restic", "borg"):
    for step in ("first", "nochange", "restore"):
        wide, empty = rows[(tool, step + "-wide")], rows[(tool, step + "-empty")]
        rss, base = med([r for _, r in wide]), med([r for _, r in empty])
        print(f"| {tool} | {step} | {med([w for w, _ in wide]):.2f} | {rss / 1024:.0f} | {(rss - base) * 1024 / files:.0f} B |")
EOF
