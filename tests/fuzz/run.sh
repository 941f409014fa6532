#!/bin/sh
# Build and run the libFuzzer harnesses for the data loaders (IDX, CSV,
# svmlight and .npy), the checkpoint and model loader, the tool's number
# parser and its commands.
#
#   tests/fuzz/run.sh [SECONDS] [BUILD_DIR]
#
# SECONDS (default 60) is the time given to EACH harness; BUILD_DIR (default
# ${TMPDIR:-/tmp}/cltrain-fuzz) receives the binaries, the corpora and any
# crash artifacts. Exits 0 (printing "skipped") when clang or its libFuzzer
# runtime is missing, 1 when a harness fails to build or finds a bug.
set -u

secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${2:-${TMPDIR:-/tmp}/cltrain-fuzz}
CC=${FUZZ_CC:-clang}

case $secs in
  ''|*[!0-9]*) echo "usage: $0 [SECONDS] [BUILD_DIR]" >&2; exit 2 ;;
esac

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "fuzz: skipped ($CC not installed; apt-get install clang libclang-rt-14-dev)"
  exit 0
fi

mkdir -p "$out" || exit 1
probe="$out/probe.c"
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' > "$probe"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$probe" -o "$out/probe" >/dev/null 2>&1; then
  echo "fuzz: skipped ($CC cannot link -fsanitize=fuzzer; apt-get install libclang-rt-14-dev)"
  exit 0
fi

FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
for h in idx csv formats numbers model cli; do
  echo "fuzz: building fuzz_$h"
  # the loaders record their errors through host/status.c
  src="$root/host/data.c $root/host/data_formats.c $root/host/data_cache.c $root/host/labels.c \
    $root/host/fileio.c $root/host/status.c"
  [ "$h" = numbers ] && src="$root/host/cli/numbers.c"
  # the model loader needs the library's front ends and reference backend
  [ "$h" = model ] && src="$(ls "$root"/host/*.c "$root"/host/ref/*.c) -DCLT_HAVE_OPENCL=0 \
    -D_POSIX_C_SOURCE=200809L -I$root/kernels -lpthread"
  # the tool's commands without main(), on the same reference-only library
  [ "$h" = cli ] && src="$(ls "$root"/host/*.c "$root"/host/ref/*.c "$root"/host/cli/*.c |
    grep -v '/cli/main\.c$') -DCLT_HAVE_OPENCL=0 -D_POSIX_C_SOURCE=200809L \
    -I$root/kernels -lpthread"
  # shellcheck disable=SC2086
  "$CC" $FLAGS -I"$root/host" -I"$root/host/include" -I"$root/host/cli" "$here/fuzz_$h.c" $src -lz -lm \
    -o "$out/fuzz_$h" || { echo "fuzz: build of fuzz_$h failed" >&2; exit 1; }
done

# ---- seed corpora ------------------------------------------------------
# byte helpers: u16le N -> 2 bytes, be32 N -> 4 bytes
# shellcheck disable=SC2059 # the format is the octal escape itself
oct() { printf "\\$(printf %03o "$1")"; }
u16le() { oct $(($1 & 255)); oct $((($1 >> 8) & 255)); }
be32() { oct $((($1 >> 24) & 255)); oct $((($1 >> 16) & 255)); oct $((($1 >> 8) & 255)); oct $(($1 & 255)); }

ci="$out/corpus_idx"; cc="$out/corpus_csv"; cn="$out/corpus_numbers"; tmp="$out/seedtmp"
cf="$out/corpus_formats"
mkdir -p "$ci" "$cc" "$cn" "$cf" "$tmp"
for v in 0.1 1e-320 1e30 ' -1' -1 +7 0x1p3 inf nan 18446744073709551616 007 1.5e+6; do
  printf '%s' "$v" > "$cn/seed_$(printf '%s' "$v" | od -An -tx1 | tr -d ' \n')"
done
{ be32 2051; be32 3; be32 2; be32 2; printf '\000\001\002\377\012\024\036\050\200\177\007\011'; } > "$tmp/img"
{ be32 2049; be32 3; printf '\002\000\007'; } > "$tmp/lab"
{ u16le 28; cat "$tmp/img" "$tmp/lab"; } > "$ci/seed_plain"
{ be32 2049; be32 3; printf '\002\000'; } > "$tmp/labshort"
{ u16le 28; cat "$tmp/img" "$tmp/labshort"; } > "$ci/seed_short_labels"
if command -v gzip >/dev/null 2>&1; then
  gzip -9 -n -c "$tmp/img" > "$tmp/img.gz"
  gzip -9 -n -c "$tmp/lab" > "$tmp/lab.gz"
  n=$(wc -c < "$tmp/img.gz")
  { u16le "$n"; cat "$tmp/img.gz" "$tmp/lab.gz"; } > "$ci/seed_gzip"
  { u16le 28; cat "$tmp/img" "$tmp/lab.gz"; } > "$ci/seed_mixed"
  printf 'label,a\n1,2\n0,3\n' | gzip -n -c > "$cc/seed_gzip"
fi
printf 'label,f1,f2\r\n1, 0.5,-2\r\n0,3e2 ,4.25\r\n2,+7,0\r\n\r\n' > "$cc/seed_header_crlf"
printf '3,1,2,3\n0,4,5,6\n3.0,0.1,1e-3,-0' > "$cc/seed_plain"
printf 'y,a,b\n1,2,3\n0,4,x5\n' > "$cc/seed_bad_cell"
printf '1,2,3\n0,4\n' > "$cc/seed_ragged"
printf '"label",x\n-1,inf\n2.5,nan\n1,0x1p3\n' > "$cc/seed_odd"
printf '\357\273\2771,2\n0,3\n' > "$cc/seed_bom"
printf 'setosa,1,2\nvirginica,3,4\n-1,5,6\n' > "$cc/seed_text_labels"
# svmlight: selector byte even, then the base/width byte
printf '\000\003# c\n+1 qid:3 1:0.5 3:-2 # t\n-1 2:4\nspam\n' > "$cf/seed_svm"
printf '\000\001 0 0:1 4:2\n1 1:3\n' > "$cf/seed_svm_zero"
# .npy: selector byte odd, labels flag, 2-byte length of the features file
npy() { # descr shape data-bytes (octal escapes)
  h="{'descr': '$1', 'fortran_order': False, 'shape': $2, }"
  pad=$(( (64 - (10 + ${#h} + 1) % 64) % 64 )); hl=$(( ${#h} + pad + 1 ))
  printf '\223NUMPY\001\000'; u16le "$hl"; printf '%s' "$h"; printf "%${pad}s\n" ''
  printf "$3"
}
npy '<f4' '(1, 2)' '\000\000\200\077\000\000\000\100' > "$tmp/x.npy"
npy '<i8' '(1,)' '\007\000\000\000\000\000\000\000' > "$tmp/y.npy"
{ printf '\001\001'; u16le "$(wc -c < "$tmp/x.npy")"; cat "$tmp/x.npy" "$tmp/y.npy"; } > "$cf/seed_npy"
rm -rf "$tmp" "$probe" "$out/probe"

cat > "$out/csv.dict" <<'DICT'
","
"\x0d\x0a"
"\x0a"
"-"
"+"
"."
"e-"
"E+"
"nan"
"inf"
"0x"
"label"
"\x1f\x8b"
"\xef\xbb\xbf"
DICT

# ---- run ---------------------------------------------------------------
status=0
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
# a checkpoint body from the tool just built, when there is one
cm="$out/corpus_model"
mkdir -p "$cm"
cli="${CLT_BUILD_DIR:-$root/build}/cltrain"
if [ -x "$cli" ] && "$cli" train --data synthetic:64,5,3 --device ref --epochs 1 --quiet \
     --checkpoint "$out/seed.ckpt" >/dev/null 2>&1; then
  n=$(wc -c < "$out/seed.ckpt")
  head -c $((n - 4)) "$out/seed.ckpt" > "$cm/seed_checkpoint"
  "$cli" train --data synthetic:64,5,3 --device ref --epochs 1 --quiet --preprocess none \
    --checkpoint "$out/seed.ckpt" >/dev/null 2>&1 &&
    head -c $(($(wc -c < "$out/seed.ckpt") - 4)) "$out/seed.ckpt" > "$cm/seed_none"
  rm -f "$out/seed.ckpt"
fi
# and the version-1 bodies the loader still reads
for v1 in "$root"/tests/golden/ckpt-v1/*.ckpt; do
  head -c $(($(wc -c < "$v1") - 4)) "$v1" > "$cm/seed_v1_$(basename "$v1" .ckpt)"
done
[ -n "$(ls "$cm")" ] || printf 'CLTCKPT\000' > "$cm/seed_magic"

# command lines: a byte for the command (0 devices, 1 train, 2 predict,
# 3 gradcheck), then arguments separated by newlines
ccl="$out/corpus_cli"
mkdir -p "$ccl"
printf '\001--lr\n1e9\n--epochs\n0\n--seed\n -1' > "$ccl/seed_train_numbers"
printf '\001--loss\nsvm\n--optim\nnesterov\n--schedule\nstep\n--json\n--profile' > "$ccl/seed_train_names"
printf '\001--data\nsynthetic:-5,3,2\n--batch' > "$ccl/seed_train_synthetic"
printf '\001--resume\nx.ckpt\n--epochs\n3\n--checkpoint\n/dev/null\n--plot\n$(touch x).png' > "$ccl/seed_train_paths"
printf '\002--data\nfashion-mnist\n--json\n--device\nref' > "$ccl/seed_predict"
printf '\003--loss\nhuber\n--l1\n1e39\n--samples\n5\n--threshold\n0.1' > "$ccl/seed_gradcheck"
printf '\000--json' > "$ccl/seed_devices"
printf '\001--help' > "$ccl/seed_help"
{
  for f in --batch --checkpoint --data --device --epochs --init-std --json --l1 --l2 \
           --loss --lr --metrics --n --d --c --no-bias --optim --plot --preprocess \
           --profile --quiet --resume --samples --schedule --seed --test --threshold \
           --warmup --weight-decay --model --help --momentum --betas --eps \
           --clip-grad-norm --out --proba --no-labels --format npz safetensors \
           --val --early-stop --labels --test-labels --val-labels --label-column \
           --delimiter --features --zero-based --class-weight --label-smoothing --margin \
           --hinge-p --huber-delta --device-memory-limit balanced last tab \
           synthetic: fashion-mnist cross-entropy \
           hinge adamw lars lamb cosine standardize ref cpu gpu; do
    printf '"%s"\n' "$f"
  done
  printf '"\\x0a"\n'
} > "$out/cli.dict"

# The harnesses' files (tests/fuzz/fuzz_file.h) go to a folder of this run,
# in memory where it can: a harness that crashes or is killed never reaches
# its own clean-up, and the folder goes when the run ends, however it ends
# short of SIGKILL. A signal to this script stops the running harness (run
# in the background so that the signal is taken at once) and the run.
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=$out
files=$(mktemp -d "$shm/cltrain-fuzz.XXXXXX") || exit 1
pid=
stop() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  exit "$1"
}
trap 'rm -rf "$files"' EXIT
trap 'stop 129' HUP
trap 'stop 130' INT
trap 'stop 143' TERM

for h in idx csv formats numbers model cli; do
  corpus="$out/corpus_$h"
  dict=""
  [ "$h" = csv ] && dict="-dict=$out/csv.dict"
  [ "$h" = cli ] && dict="-dict=$out/cli.dict"
  echo "fuzz: running fuzz_$h for ${secs}s (corpus $corpus)"
  # shellcheck disable=SC2086
  TMPDIR=$files "$out/fuzz_$h" -max_total_time="$secs" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/crash-$h-" \
    $dict "$corpus" > "$out/fuzz_$h.log" 2>&1 &
  pid=$!
  wait "$pid"
  rc=$?
  pid=
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$out/fuzz_$h.log" |
    sed "s/^/fuzz_$h: /"
  if [ $rc -ne 0 ]; then
    echo "fuzz: fuzz_$h FAILED (exit $rc); log $out/fuzz_$h.log, artifacts $out/crash-$h-*" >&2
    tail -n 40 "$out/fuzz_$h.log" >&2
    status=1
  else
    echo "fuzz: fuzz_$h ok ($(find "$corpus" -type f | wc -l) corpus files)"
  fi
done
exit $status
