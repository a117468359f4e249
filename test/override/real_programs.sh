#!/usr/bin/env bash
# Runs a real program with and without LD_PRELOAD=libhakmem_malloc.so and
# compares what it produces. Usage: real_programs.sh LIB {sort|sort_lowvm|python|gcc|git}
# Exit 77 (ctest SKIP_RETURN_CODE) when the program is not installed.
set -euo pipefail

lib=$1
what=$2
[[ -f $lib ]] || { echo "no such library: $lib" >&2; exit 1; }

need() {
  local p
  for p in "$@"; do
    command -v "$p" >/dev/null 2>&1 || { echo "SKIP: $p is not installed"; exit 77; }
  done
}
need sha256sum cmp

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hakmem_ovr.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# A preload the loader ignores (wrong path, wrong ELF class) only prints a
# warning; make sure the library is really mapped before trusting any result.
if ! LD_PRELOAD=$lib grep -q libhakmem_malloc /proc/self/maps; then
  echo "LD_PRELOAD=$lib is not honoured" >&2
  exit 1
fi

# with_hk CMD...: CMD with hakmem as malloc; without CMD...: the reference.
# stderr is left alone so a "hakmem: ..." message reaches the ctest log.
with_hk() { LD_PRELOAD=$lib "$@"; }
without() { "$@"; }

# compare NAME: the two outputs must be byte-identical.
compare() {
  if ! cmp -s "$tmp/$1.ref" "$tmp/$1.hk"; then
    echo "MISMATCH in $1 output:" >&2
    diff "$tmp/$1.ref" "$tmp/$1.hk" | head -20 >&2 || true
    exit 1
  fi
  echo "$1: identical ($(wc -c <"$tmp/$1.ref") bytes of output)"
}

case $what in
sort)
  need sort awk seq
  # ~12 MB of lines of varying length, in a fixed pseudo-random order.
  seq 1 400000 | awk '{ k = ($1 * 7919) % 1000003; printf "%07d %s", k, $1;
                        for (i = 0; i < k % 9; i++) printf " word%d", (k * i) % 977;
                        printf "\n" }' >"$tmp/in"
  for mode in without with_hk; do
    suffix=$([[ $mode == with_hk ]] && echo hk || echo ref)
    # Small buffer: sort spills to temporary files and merges; two threads.
    $mode sort -S 2M --parallel=2 -T "$tmp" "$tmp/in" | sha256sum >"$tmp/sort.$suffix"
    $mode sort -k3,3 -k1,1nr "$tmp/in" | sha256sum >>"$tmp/sort.$suffix"
  done
  compare sort
  ;;
sort_lowvm)
  # Under ulimit -v 50000 (50 MB of address space): the library loads and
  # works as anywhere else (its pointer map grows with use).
  need sort awk seq
  if ! (ulimit -v 50000 && LD_PRELOAD=$lib grep -q libhakmem_malloc /proc/self/maps); then
    echo "libhakmem_malloc.so does not load under ulimit -v 50000" >&2
    exit 1
  fi
  seq 1 200000 | awk '{ k = ($1 * 7919) % 1000003; printf "%07d %s\n", k, $1 }' >"$tmp/in"
  for mode in without with_hk; do
    suffix=$([[ $mode == with_hk ]] && echo hk || echo ref)
    (ulimit -v 50000 && $mode sort -S 2M --parallel=2 -T "$tmp" "$tmp/in") | sha256sum >"$tmp/sortv.$suffix"
  done
  compare sortv
  ;;
python)
  need python3
  cat >"$tmp/work.py" <<'PY'
import hashlib, random, threading
h = hashlib.sha256()
def build(seed, out):
    r = random.Random(seed)
    d = {}
    for i in range(100000):
        d[(i, r.random())] = "x" * (i % 300) + str(i)
    lst = [r.randbytes(r.choice((8, 100, 5000, 200000))) for _ in range(400)]
    for k in list(d)[::3]:
        del d[k]
    s = sorted(d.items())[:1000]
    out[seed] = hashlib.sha256(repr(s).encode() + b"".join(lst)).hexdigest()
    del d, lst
res = {}
for rnd in range(2):
    ts = [threading.Thread(target=build, args=(rnd * 10 + i, res)) for i in range(3)]
    for t in ts: t.start()
    for t in ts: t.join()
for k in sorted(res):
    h.update(res[k].encode())
print(len(res), h.hexdigest())
PY
  # PYTHONMALLOC=malloc: every object, small ones too, goes through malloc
  # instead of Python's own pools.
  without env PYTHONMALLOC=malloc python3 "$tmp/work.py" >"$tmp/python.ref"
  with_hk env PYTHONMALLOC=malloc python3 "$tmp/work.py" >"$tmp/python.hk"
  compare python
  ;;
gcc)
  need gcc
  cat >"$tmp/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *l, *r; unsigned key; };
static struct node *insert(struct node *t, unsigned k) {
  if (!t) { t = calloc(1, sizeof *t); t->key = k; return t; }
  if (k < t->key) t->l = insert(t->l, k); else t->r = insert(t->r, k);
  return t;
}
static unsigned long walk(struct node *t, unsigned long h) {
  if (!t) return h;
  h = walk(t->l, h);
  h = h * 31 + t->key;
  h = walk(t->r, h);
  free(t);
  return h;
}
int main(void) {
  struct node *t = NULL;
  unsigned x = 1;
  for (int i = 0; i < 100000; i++) { x = x * 1103515245u + 12345u; t = insert(t, x >> 8); }
  char *s = malloc(1 << 20);
  memset(s, 'a', (1 << 20) - 1); s[(1 << 20) - 1] = 0;
  printf("%lu %zu\n", walk(t, 7), strlen(s));
  free(s);
  return 0;
}
C
  for mode in without with_hk; do
    suffix=$([[ $mode == with_hk ]] && echo hk || echo ref)
    # gcc, cc1, as, collect2 and ld all run with the preload.
    $mode gcc -O2 -o "$tmp/prog.$suffix" "$tmp/prog.c"
    # GCC's output does not depend on the addresses malloc returns (its
    # bootstrap compare relies on that), so the assembly must match too.
    $mode gcc -O2 -S -o "$tmp/asm.$suffix" "$tmp/prog.c"
    { "$tmp/prog.$suffix"; with_hk "$tmp/prog.$suffix"; } >"$tmp/gcc.$suffix"
  done
  compare gcc
  cmp -s "$tmp/asm.ref" "$tmp/asm.hk" || { echo "MISMATCH in generated assembly" >&2; exit 1; }
  echo "gcc: identical assembly"
  ;;
git)
  need git
  # A private, reproducible environment: fixed identity and dates make the
  # commit ids identical between the two runs.
  export HOME=$tmp/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
  export GIT_AUTHOR_NAME=hakmem GIT_AUTHOR_EMAIL=hakmem@example.invalid
  export GIT_COMMITTER_NAME=hakmem GIT_COMMITTER_EMAIL=hakmem@example.invalid
  export GIT_AUTHOR_DATE='2024-01-01T00:00:00Z' GIT_COMMITTER_DATE='2024-01-01T00:00:00Z'
  mkdir -p "$HOME"
  git_session() {
    local mode=$1 repo=$2
    $mode git init -q "$repo"
    cd "$repo"
    $mode git symbolic-ref HEAD refs/heads/main
    for c in $(seq 1 15); do
      for f in $(seq 1 40); do
        seq "$c" "$f" 3000 | sed "s/\$/ file $f commit $c/" >"f$f.txt"
      done
      head -c $((c * 50000)) /dev/zero | tr '\0' "$(printf '\\%03o' $((65 + c)))" >big.bin
      $mode git add -A
      $mode git commit -q -m "commit $c"
    done
    $mode git log --stat --format='%H %s'
    $mode git gc -q
    $mode git fsck --full --strict 2>&1
    $mode git count-objects -v | grep -v size
    $mode git ls-tree -r HEAD
    $mode git diff HEAD~7 HEAD --stat
    cd - >/dev/null
  }
  git_session without "$tmp/repo_ref" >"$tmp/git.ref"
  git_session with_hk "$tmp/repo_hk" >"$tmp/git.hk"
  compare git
  ;;
*)
  echo "unknown program: $what" >&2
  exit 2
  ;;
esac
