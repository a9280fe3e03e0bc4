#!/usr/bin/env bash
# jsnap side by side with restic and borg, on the same corpora, in one run.
#
#   bench/compare-peers.sh JSNAP_BINARY SQLITE_WRITER_BINARY [OUT.md]
#
# Builds nothing itself: pass the jsnap binary (build/jsnap) and the test
# helper that builds the SQLite corpus (build/tests/sqlite_writer). Installs
# restic, borgbackup, GNU time and linux-source-6.1 from Debian if missing.
# Environment: REPS (default 3), CORPORA (default "kernel system sqlite"),
# SETTLE (seconds of quiet before the restores, default 40),
# WORK (scratch folder, default a temp dir; needs ~15 GB), SQLITE_ROWS,
# FRESH_FS (1, the default: as root, each restore goes into a fresh ext4 on
# a loop device, FRESH_FS_SIZE big, default 8G; 0: into a folder in WORK).
#
# Steps per corpus and tool, interleaved (jsnap restic borg, jsnap restic
# borg, ...): 1 initial create into an empty repository, 2 create with no
# change, 3 create after a deterministic mutation, 4 full restore of the
# latest snapshot (verified identical afterwards, untimed), 5 full data
# verification (restore and verification from a dropped page cache). Each
# step: wall time, CPU time, peak RSS; repository size.
# Writes medians and jsnap/peer ratios as Markdown to OUT.md (default
# stdout).
set -euo pipefail
jsnap=$(realpath "$1")
writer=$(realpath "$2")
out=${3:-/dev/stdout}
reps=${REPS:-3}
corpora=${CORPORA:-kernel system sqlite}
work=${WORK:-$(mktemp -d /var/tmp/jsnap-bench-XXXXXX)}
mkdir -p "$work"

need=()
command -v restic >/dev/null || need+=(restic)
command -v borg >/dev/null || need+=(borgbackup)
[ -x /usr/bin/time ] || need+=(time)
[ -f /usr/src/linux-source-6.1.tar.xz ] || need+=(linux-source-6.1)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

export JSNAP_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export BORG_RELOCATED_REPO_ACCESS_IS_OK=yes BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes
results="$work/results.tsv"
: > "$results"

# ---- corpora ----------------------------------------------------------------
build_corpus() {
  local name=$1 dir="$work/corpus-$1"
  rm -rf "$dir"
  case $name in
    kernel) mkdir -p "$dir" && tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$dir" ;;
    system) mkdir -p "$dir" && cp -a /usr/lib/x86_64-linux-gnu "$dir/lib" && cp -a /usr/share/doc "$dir/doc" ;;
    sqlite) mkdir -p "$dir" && "$writer" "$dir/chat.db" wal init "${SQLITE_ROWS:-1400000}" >/dev/null &&
              sqlite3 "$dir/chat.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null ;;
  esac
  echo "$dir"
}

# About 1 % of files changed in place or appended to, 50 added, 20 deleted;
# for the database, 10,000 inserts and 1,000 updates.
mutate() {
  local name=$1 dir=$2
  if [ "$name" = sqlite ]; then
    "$writer" "$dir/chat.db" wal chat 10000 1000 >/dev/null
    sqlite3 "$dir/chat.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
    return
  fi
  mapfile -t files < <(find "$dir" -type f -size +1k | LC_ALL=C sort)
  local n=${#files[@]} i
  for ((i = 0; i < n; i += 100)); do
    if ((i % 200 == 0)); then
      printf 'appended line %d\n' "$i" >> "${files[i]}"
    else
      printf 'XXXXXXXX' | dd of="${files[i]}" bs=1 seek=$(($(stat -c %s "${files[i]}") / 2)) conv=notrunc status=none
    fi
  done
  for ((i = 0; i < 50; i++)); do head -c $((4096 * (i + 1))) /dev/zero | tr '\0' "a" > "$dir/added-$i.txt"; done
  for ((i = 7; i < n && i < 7 + 20 * 37; i += 37)); do rm -f "${files[i]}"; done
}

# ---- tools ------------------------------------------------------------------
# run TOOL STEP REP CMD...: times CMD, appends a result row.
run() {
  local tool=$1 step=$2 rep=$3 corpus=$4; shift 4
  local t="$work/time.txt"
  if ! /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" > "$work/last.log" 2>&1; then
    echo "bench: $tool $step failed:" >&2; tail -5 "$work/last.log" >&2; exit 1
  fi
  read -r wall user sys rss < "$t"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$corpus" "$tool" "$step" "$rep" "$wall" "$(echo "$user + $sys" | bc)" "$rss" >> "$results"
}

# Writes back and drops the page cache (when allowed), so that no step pays
# for reclaiming what an earlier one cached.
drop_caches() {
  sync
  { echo 3 > /proc/sys/vm/drop_caches; } 2>/dev/null || true
}

# rotate N A B C: the list rotated left by N-1 places.
rotate() {
  local n=$(( ($1 - 1) % ($# - 1) )); shift
  local items=("$@")
  echo "${items[@]:n}" "${items[@]:0:n}"
}

# A restore target: a fresh ext4 on a loop device when possible.
fresh_target() {
  rm -rf "$1"; mkdir -p "$1"
  [ "${FRESH_FS:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null || return 0
  # Inode tables and journal written now, not by ext4lazyinit during the restore.
  truncate -s "${FRESH_FS_SIZE:-8G}" "$1.img" &&
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$1.img" &&
    mount -o loop "$1.img" "$1" || { rm -f "$1.img"; echo "bench: no loop device, restoring into $1" >&2; }
}
release_target() {
  if mountpoint -q "$1"; then umount "$1"; fi
  rm -rf "$1" "$1.img"
}
# A run that stops (a restore that differs, ^C) leaves no mounted target.
trap 'for t in "$work"/restore-*; do [ -d "$t" ] && release_target "$t"; done' EXIT

tool_init() {
  case $1 in
    jsnap) "$jsnap" -r "$2" init -q ;;
    restic) restic -q init --repository-version 2 -r "$2" >/dev/null ;;
    borg) borg init -e repokey "$2" ;;
  esac
}
tool_create() {  # tool repo src n corpus
  case $1 in
    jsnap) if [ "$5" = sqlite ]; then echo "$jsnap" -r "$2" create -q --sqlite "$3/chat.db" "$3";
           else echo "$jsnap" -r "$2" create -q "$3"; fi ;;
    restic) echo restic -q -r "$2" backup "$3" ;;
    borg) echo borg create --compression zstd,3 "$2::s$4" "$3" ;;
  esac
}
tool_restore() {  # tool repo target n
  case $1 in
    jsnap) echo "$jsnap" -r "$2" restore latest --target "$3" -q ;;
    restic) echo restic -q -r "$2" restore latest --target "$3" ;;
    borg) echo borg extract "$2::s$4" ;;  # into the current folder: run from the target
  esac
}
tool_check() {
  case $1 in
    jsnap) echo "$jsnap" -r "$2" check --read-data -q ;;
    restic) echo restic -q -r "$2" check --read-data ;;
    borg) echo borg check --verify-data "$2" ;;
  esac
}

for corpus in $corpora; do
  for rep in $(seq 1 "$reps"); do
    src=$(build_corpus "$corpus")
    for tool in jsnap restic borg; do rm -rf "$work/repo-$tool"; tool_init $tool "$work/repo-$tool"; done
    for tool in jsnap restic borg; do run $tool 1-initial "$rep" "$corpus" $(tool_create $tool "$work/repo-$tool" "$src" 1 "$corpus"); done
    for tool in jsnap restic borg; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$corpus" "$tool" size "$rep" "$(du -sb "$work/repo-$tool" | cut -f1)" 0 0 >> "$results"
    done
    for tool in jsnap restic borg; do run $tool 2-nochange "$rep" "$corpus" $(tool_create $tool "$work/repo-$tool" "$src" 2 "$corpus"); done
    for tool in jsnap restic borg; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$corpus" "$tool" size2 "$rep" "$(du -sb "$work/repo-$tool" | cut -f1)" 0 0 >> "$results"
    done
    mutate "$corpus" "$src"
    for tool in jsnap restic borg; do run $tool 3-mutated "$rep" "$corpus" $(tool_create $tool "$work/repo-$tool" "$src" 3 "$corpus"); done
    for tool in jsnap restic borg; do
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$corpus" "$tool" size3 "$rep" "$(du -sb "$work/repo-$tool" | cut -f1)" 0 0 >> "$results"
    done
    if [ "$corpus" = sqlite ]; then  # the reference: a full copy by SQLite itself
      rm -f "$work/backup.db"
      run sqlite3-backup 3-mutated "$rep" "$corpus" sqlite3 "$src/chat.db" ".backup $work/backup.db"
      rm -f "$work/backup.db"
    fi
    # The plain metadata walk the no-change create is measured against.
    [ "$corpus" = sqlite ] || run find-walk 2-nochange "$rep" "$corpus" sh -c "find '$src' -printf '%s %T@ %i\n' > /dev/null"
    # Each restore goes into a fresh ext4 file system on a loop device (as
    # root; FRESH_FS=0 or no loop device: a folder in $work). On the work
    # disk itself the tools measured the disk's history more than
    # themselves: ext4 without a journal skips inodes freed in the last
    # minutes one by one (recently_deleted), which cost whichever tool
    # restored after a deleted tree several seconds of system time. A
    # restore that followed another tool's also paid for reclaiming the page
    # cache that one filled, so each starts from a dropped page cache (cold,
    # as restores usually are), and their order rotates per repetition
    # (every tool is first once when REPS is a multiple of 3).
    sync; sleep "${SETTLE:-40}"
    for tool in $(rotate "$rep" jsnap restic borg); do
      tgt="$work/restore-$tool"; fresh_target "$tgt"; drop_caches
      (cd "$tgt" && run $tool 4-restore "$rep" "$corpus" $(tool_restore $tool "$work/repo-$tool" "$tgt" 3))
      if [ "$corpus" = sqlite ]; then  # an image is the same database, not the same bytes
        [ "$(sqlite3 "$src/chat.db" .sha3sum)" = "$(sqlite3 "$tgt/${src#/}/chat.db" .sha3sum)" ] &&
          [ "$(sqlite3 "$tgt/${src#/}/chat.db" 'PRAGMA integrity_check')" = ok ] ||
          { echo "bench: $tool restored database differs" >&2; exit 1; }
      else
        diff -r --no-dereference "$src" "$tgt/${src#/}" >/dev/null || { echo "bench: $tool restore differs" >&2; exit 1; }
      fi
      release_target "$tgt"
    done
    for tool in jsnap restic borg; do
      drop_caches
      run $tool 5-verify "$rep" "$corpus" $(tool_check $tool "$work/repo-$tool")
    done
    rm -rf "$src"
  done
done

# Also the plain metadata walk the no-change target is measured against.
python3 - "$results" "$out" <<'PY'
import statistics, sys, collections
rows = [l.rstrip('\n').split('\t') for l in open(sys.argv[1]) if l.strip()]
d = collections.defaultdict(list)
for corpus, tool, step, rep, wall, cpu, rss in rows:
    d[(corpus, step, tool)].append((float(wall), float(cpu), int(rss)))
out = open(sys.argv[2], 'w')
steps = ['1-initial', '2-nochange', '3-mutated', '4-restore', '5-verify']
for corpus in sorted({k[0] for k in d}):
    out.write(f"\n### {corpus}\n\n| step | jsnap wall s | restic wall s | borg wall s | jsnap/restic | jsnap/borg | jsnap CPU s | restic CPU s | borg CPU s | jsnap RSS MiB | restic RSS MiB | borg RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    for step in steps:
        med = {t: [statistics.median(x[i] for x in d[(corpus, step, t)]) for i in range(3)] for t in ('jsnap','restic','borg') if d[(corpus, step, t)]}
        if len(med) < 3: continue
        j, r, b = med['jsnap'], med['restic'], med['borg']
        out.write(f"| {step} | {j[0]:.2f} | {r[0]:.2f} | {b[0]:.2f} | {j[0]/r[0]:.2f} | {j[0]/b[0]:.2f} | {j[1]:.1f} | {r[1]:.1f} | {b[1]:.1f} | {j[2]/1024:.0f} | {r[2]/1024:.0f} | {b[2]/1024:.0f} |\n")
    def size(step, t):
        v = d[(corpus, step, t)]
        return statistics.median(x[0] for x in v) if v else None
    if all(size('size', t) for t in ('jsnap', 'restic', 'borg')):
        out.write("\nRepository size after the initial create: " + ", ".join(
            f"{t} {size('size', t)/2**20:.0f} MiB" for t in ('jsnap', 'restic', 'borg')) + ".\n")
    if all(size('size3', t) and size('size2', t) for t in ('jsnap', 'restic', 'borg')):
        added = {t: size('size3', t) - size('size2', t) for t in ('jsnap', 'restic', 'borg')}
        out.write("\nAdded to the repository by the mutation: " + ", ".join(
            f"{t} {added[t]/2**20:.1f} MiB" for t in ('jsnap', 'restic', 'borg')) +
            f" (jsnap/restic {added['jsnap']/max(added['restic'],1):.2f}).\n")
    for ref, step in (('sqlite3-backup', '3-mutated'), ('find-walk', '2-nochange')):
        v = d[(corpus, step, ref)]
        if v:
            w = statistics.median(x[0] for x in v)
            j = statistics.median(x[0] for x in d[(corpus, step, 'jsnap')])
            out.write(f"\n`{ref}` ({step}): {w:.2f} s; jsnap {j:.2f} s is {j/w:.2f}x of it.\n")
PY
echo "bench: raw results in $results" >&2
