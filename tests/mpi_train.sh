#!/usr/bin/env bash
# Data-parallel training under mpiexec (cltrain train --distributed): K = 2
# and 4 ranks (oversubscribed, unbound, so that a rank's POCL threads are
# not pinned to one core; the last case has fewer rows per rank than the
# batch) against one process with the same --shards, on
# the reference backend and on an OpenCL CPU device when there is one.
#   tests/mpi_train.sh CLTRAIN MPIEXEC WORKDIR [PYTHON]
# Checkpoints and resume, faults and refusals follow. Tolerance on every
# parameter: |K ranks - 1 process| <= 1e-5 |1 process| +
# 1e-6 max|1 process| (each rank's gradient is a float32 tensor before the
# sum, so K ranks and one round differently); two runs with the same K are
# bit-identical. The test and validation sets' evaluations, which the
# ranks split, agree with one process's too.
set -euo pipefail
cltrain=$1 mpiexec=$2 work=$3
py=${CLT_PYTHON:-${4:-python3}}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 CLT_TUNE=off
rm -rf "$work" && mkdir -p "$work" && cd "$work"

ranks() { local k=$1; shift; "$mpiexec" -n "$k" --oversubscribe --bind-to none "$cltrain" "$@"; }
weights() { "$cltrain" export --model "$1" --format npz --out "$2" >/dev/null; }
close() { # a.npz b.npz what
  "$py" - "$1" "$2" "$3" <<'PY'
import sys
import numpy as np
a, b, what = np.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]
for k in ("W", "b"):
    if k not in b:
        continue
    x, y = a[k].astype(np.float64), b[k].astype(np.float64)
    bad = np.abs(x - y) > 1e-5 * np.abs(y) + 1e-6 * np.abs(y).max()
    if bad.any():
        i = np.unravel_index(np.argmax(np.abs(x - y)), x.shape)
        sys.exit(f"{what}: {k}{list(i)} = {x[i]!r} with K ranks, {y[i]!r} in one process")
print(f"{what}: W and b agree (max |diff| {np.abs(a['W'] - b['W']).max():.2e})")
PY
}

# The test and validation sets' figures (--json) of K ranks, which each
# evaluate their share of the rows, against one process's: the losses to
# 1e-5 relative, the accuracies to one row in a thousand (a row whose two
# best scores tie to float rounding may go either way).
evals() { # k.json one.json what
  "$py" - "$1" "$2" "$3" <<'PY'
import json, sys
a, b, what = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
for k in ("test_loss", "val_loss", "train_accuracy", "test_accuracy", "val_accuracy"):
    if b.get(k) is None and a.get(k) is None:
        continue
    if b.get(k) is None or a.get(k) is None:
        sys.exit(f"{what}: {k} from only one of K ranks and one process")
    tol = 1e-5 * abs(b[k]) + 1e-7 if k.endswith("loss") else 1e-3
    if abs(a[k] - b[k]) > tol:
        sys.exit(f"{what}: {k} {a[k]!r} with K ranks, {b[k]!r} in one process")
PY
}

devices=(ref)
if "$cltrain" devices --json | grep -q '"type":"cpu"'; then devices+=(cpu); fi
cases=(
  "--data synthetic:1000,17,5 --batch 64 --optim momentum --lr 0.05"
  "--data synthetic:1000,17,5 --batch 64 --optim lars --lr 0.5 --l1 0.001 --l2 0.01"
  "--data synthetic:1003,17,5 --batch 100 --optim lamb --lr 0.01 --class-weight 1,2,0.5,1,3"
  "--data synthetic:900,9,3 --batch 77 --loss hinge --optim adamw --lr 0.01"
  "--data synthetic:900,9,3 --batch 60 --loss mse --optim sgd --lr 0.05 --weight-decay 0.01"
  "--data sparse:800,300,4,20 --batch 50 --optim momentum --lr 0.1"
  "--data synthetic:1000,17,5 --batch 600 --optim sgd --lr 0.5"
)
for dev in "${devices[@]}"; do
  for i in "${!cases[@]}"; do
    common="${cases[$i]} --epochs 2 --schedule constant --seed 3 --quiet --device $dev --shards 4"
    common="$common --val 0.25"
    # shellcheck disable=SC2086
    "$cltrain" train $common --checkpoint one.ckpt --json >one.json
    weights one.ckpt one.npz
    for k in 2 4; do
      # shellcheck disable=SC2086
      ranks "$k" train --distributed $common --checkpoint "k$k.ckpt" --json >"k$k.json"
      grep -q "\"world_size\":$k" "k$k.json"
      # rank 0's steps: compute and a gather, of which the wait is a part
      "$py" -c 'import json, sys; r = json.load(open(sys.argv[1]))
sys.exit(0 if r["step_compute_seconds"] > 0 and r["step_gather_seconds"] > 0 and
         0 <= r["step_wait_seconds"] <= r["step_gather_seconds"] else "step seconds: %s" % r)' \
        "k$k.json"
      weights "k$k.ckpt" "k$k.npz"
      close "k$k.npz" one.npz "$dev case $i, $k ranks"
      evals "k$k.json" one.json "$dev case $i, $k ranks"
    done
    # the same K twice: the same bits
    # shellcheck disable=SC2086
    ranks 2 train --distributed $common --checkpoint again.ckpt >/dev/null
    weights again.ckpt again.npz
    cmp k2.npz again.npz || { echo "$dev case $i: two runs of 2 ranks differ" >&2; exit 1; }
  done
done

# A validation set of 3 rows over 4 ranks: one rank holds none of it.
"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
np.save("val3.npy", rng.standard_normal((3, 17)).astype(np.float32))
np.save("val3-labels.npy", np.array([0, 3, 4], dtype=np.int32))
PY
few="--data synthetic:1000,17,5 --batch 64 --epochs 2 --seed 3 --quiet --device ref --shards 4"
few="$few --val val3.npy --val-labels val3-labels.npy --json"
# shellcheck disable=SC2086
"$cltrain" train $few >one.json
# shellcheck disable=SC2086
ranks 4 train --distributed $few >k4.json
evals k4.json one.json "3 validation rows on 4 ranks"

# A training set whose header says its rows (.npy here, IDX too) is read
# in each rank's rows only (--json's host_rows: rank 0's), with labels
# that are not 0..C-1, balanced class weights and standardised features,
# whose statistics the ranks sum: the result is one process's to float
# rounding; with --val F (a split of every row) each rank reads all.
"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(2)
n, d, c = 1003, 17, 5
means = 2 * rng.standard_normal((c, d))
for name, rows in (("train", n), ("test", 301)):
    y = rng.integers(0, c, rows)
    np.save(f"{name}-x.npy", (means[y] + rng.standard_normal((rows, d)) + 5).astype(np.float32))
    np.save(f"{name}-y.npy", (10 * y - 7).astype(np.int64))
PY
npy="--data train-x.npy --labels train-y.npy --test test-x.npy --test-labels test-y.npy"
npy="$npy --batch 64 --optim lamb --lr 0.1 --epochs 2 --schedule constant --seed 3 --quiet"
npy="$npy --device ref --shards 4 --class-weight balanced --json"
# shellcheck disable=SC2086
"$cltrain" train $npy --checkpoint one.ckpt >one.json
weights one.ckpt one.npz
for k in 2 4; do
  # shellcheck disable=SC2086
  ranks "$k" train --distributed $npy --checkpoint "k$k.ckpt" >"k$k.json"
  rows=$(( 1003 * (4 / k) / 4 )) # rank 0's shards' rows
  grep -q "\"host_rows\":$rows," "k$k.json" ||
    { echo "$k ranks: rank 0 did not read its $rows rows only" >&2; cat "k$k.json" >&2; exit 1; }
  weights "k$k.ckpt" "k$k.npz"
  close "k$k.npz" one.npz ".npy read by $k ranks"
  evals "k$k.json" one.json ".npy read by $k ranks"
done
# shellcheck disable=SC2086
ranks 2 train --distributed ${npy% --json} --epochs 3 --resume k4.ckpt --checkpoint k4.ckpt >/dev/null
# shellcheck disable=SC2086
ranks 2 train --distributed $npy --val 0.25 >k2.json
"$py" -c 'import json, sys; r = json.load(open("k2.json"))
sys.exit(0 if r["host_rows"] == r["train_rows"] else "--val 0.25: a rank read a share")'

# An svmlight file with --cache: the first run counts its lines, then rank
# 0 parses it whole, writes the cache and keeps its rows while rank 1
# parses its rows only (or maps the cache if rank 0 has written it by
# then: the bad value below checks which rows rank 1 parses); the next
# run maps each rank's rows only from the cache (host_rows); both give
# one process's model to float rounding.
"$py" - <<'EOF'
import numpy as np
rng = np.random.default_rng(5)
with open("sv.svm", "w") as f:
    for i in range(1003):
        y = int(rng.integers(5))
        cols = np.unique(np.concatenate([[1 + 8 * y], rng.integers(1, 41, 5)]))
        f.write(f"{y} " + " ".join(f"{c}:{rng.random() + (c == 1 + 8 * y):.4f}" for c in cols) + "\n")
EOF
txt="--batch 64 --optim sgd --lr 0.5 --epochs 2 --schedule constant --seed 3 --quiet"
txt="$txt --device ref --shards 4"
svm="--data sv.svm $txt --json"
# shellcheck disable=SC2086
"$cltrain" train $svm --checkpoint svone.ckpt >/dev/null
weights svone.ckpt svone.npz
for run in parsed cached; do
  # shellcheck disable=SC2086
  ranks 2 train --distributed $svm --cache sv.cache --checkpoint "sv-$run.ckpt" >"sv-$run.json"
  rows=501 # rank 0's two shards of four
  grep -q "\"host_rows\":$rows," "sv-$run.json" ||
    { echo "svmlight, $run: rank 0 did not hold $rows rows" >&2; cat "sv-$run.json" >&2; exit 1; }
  weights "sv-$run.ckpt" "sv-$run.npz"
  close "sv-$run.npz" svone.npz "svmlight $run by 2 ranks"
done
# a cache damaged in rank 1's rows only (a column past the width): rank 1,
# which does not write the cache, finds the damage, says so, and writes it
# again, so the next run reads it without a word
cp sv.cache dmg.cache
"$py" - <<'EOF'
import struct
with open("dmg.cache", "r+b") as f:
    head = f.read(8 + 22 * 8)
    nnz, off_col = struct.unpack_from("=Q", head, 8 + 11 * 8)[0], struct.unpack_from("=Q", head, 8 + 17 * 8)[0]
    f.seek(off_col + 4 * (nnz - 2))
    f.write(struct.pack("=i", 1 << 30))
EOF
for run in damaged mended; do
  # shellcheck disable=SC2086
  ranks 2 train --distributed $svm --cache dmg.cache >/dev/null 2>dmg.txt
  said=$(grep -c "warning: --cache dmg.cache read again: .*a damaged svmlight cache" dmg.txt ||
         true)
  [ "$said" = "$([ $run = damaged ] && echo 1 || echo 0)" ] ||
    { echo "svmlight cache $run: $said warnings" >&2; cat dmg.txt >&2; exit 1; }
done

# The count of a long file's rows shows its progress as the read does
# (lines where stderr is not a terminal: --progress-every)
"$py" -c 'import sys; sys.stdout.write("".join(f"{i % 3} {1 + i % 7}:1\n" for i in range(70000)))' \
  >many.svm
ranks 2 train --distributed --data many.svm --device ref --epochs 1 --batch 4096 \
  --progress-every 1e-9 >/dev/null 2>many.txt
grep -q "cltrain: counting the rows of many.svm: .* MB, 65536 rows" many.txt ||
  { echo "no progress while counting" >&2; cat many.txt >&2; exit 1; }

# Delimited text (gzip, a byte order mark, CRLF, blank lines, a header
# naming the label's column, labels that are words) and an svmlight file
# without a cache: each rank counts the lines, then keeps its rows only
# (every label still named, so the classes agree); one process's model to
# float rounding.
"$py" - <<'EOF'
import gzip
import numpy as np
rng = np.random.default_rng(6)
n, d, c = 1003, 9, 4
means = 2 * rng.standard_normal((c, d))
y = rng.integers(0, c, n)
x = means[y] + rng.standard_normal((n, d))
kinds = np.array(["ant", "bee", "cat", "dog"])
with gzip.open("t.csv.gz", "wt", newline="") as f:
    f.write("\ufeff" + ",".join(f"f{i}" for i in range(d - 4)) + ",kind,")
    f.write(",".join(f"f{i}" for i in range(d - 4, d)) + "\r\n")
    for i in range(n):
        if i % 97 == 5:
            f.write("  \r\n")
        cells = [f"{v:.4f}" for v in x[i]]
        f.write(",".join(cells[: d - 4] + [kinds[y[i]]] + cells[d - 4 :]) + "\r\n")
EOF
for form in csv svm; do
  set -- --data t.csv.gz --label-column kind
  [ "$form" = svm ] && set -- --data sv.svm
  # shellcheck disable=SC2086
  "$cltrain" train "$@" $txt --checkpoint "$form-one.ckpt" >/dev/null
  # shellcheck disable=SC2086
  ranks 2 train --distributed "$@" $txt --json --checkpoint "$form-k2.ckpt" >"$form.json"
  grep -q '"host_rows":501,' "$form.json" ||
    { echo "$form: rank 0 did not keep its 501 rows only" >&2; cat "$form.json" >&2; exit 1; }
  weights "$form-one.ckpt" "$form-one.npz" && weights "$form-k2.ckpt" "$form-k2.npz"
  close "$form-k2.npz" "$form-one.npz" "$form read by 2 ranks"
done

# Checkpoints: rank 0 writes them and reads them for every rank; a resume
# keeps the shards, with the same ranks gives the same bits as a run never
# stopped, and with other ranks (or one process) agrees to float rounding.
common="--data synthetic:1000,17,5 --batch 64 --optim momentum --lr 0.05 --schedule constant"
common="$common --seed 3 --quiet --device ref --shards 4"
# shellcheck disable=SC2086
ranks 2 train --distributed $common --epochs 4 --checkpoint straight.ckpt >/dev/null
# shellcheck disable=SC2086
ranks 2 train --distributed $common --epochs 2 --checkpoint half.ckpt >/dev/null
cp half.ckpt half4.ckpt && cp half.ckpt half1.ckpt
# shellcheck disable=SC2086
ranks 2 train --distributed $common --epochs 4 --resume half.ckpt --checkpoint half.ckpt >/dev/null
weights straight.ckpt straight.npz && weights half.ckpt resumed.npz
cmp straight.npz resumed.npz || { echo "a resume with the same ranks differs" >&2; exit 1; }
# shellcheck disable=SC2086
ranks 4 train --distributed $common --epochs 4 --resume half4.ckpt --checkpoint half4.ckpt >/dev/null
weights half4.ckpt resumed4.npz && close resumed4.npz straight.npz "resumed on 4 ranks"
# shellcheck disable=SC2086
"$cltrain" train $common --epochs 4 --resume half1.ckpt --checkpoint half1.ckpt >/dev/null
weights half1.ckpt resumed1.npz && close resumed1.npz straight.npz "resumed in one process"

# The gradients summed through messages (CLT_DIST_SHARED=0) rather than in
# the shared memory of this machine's ranks, cut into messages of at most
# 100 bytes (CLT_DIST_CHUNK), as a gradient or a checkpoint over 2 GiB
# would be: the same bits, resumed too.
# shellcheck disable=SC2086
CLT_DIST_SHARED=0 CLT_DIST_CHUNK=100 ranks 2 train --distributed $common --epochs 2 \
  --checkpoint chunks.ckpt --json >chunks.json
grep -q '"gradient_sum":"messages"' chunks.json ||
  { echo "CLT_DIST_SHARED=0 did not sum through messages" >&2; exit 1; }
# shellcheck disable=SC2086
CLT_DIST_SHARED=0 CLT_DIST_CHUNK=100 ranks 2 train --distributed $common --epochs 4 \
  --resume chunks.ckpt --checkpoint chunks.ckpt >/dev/null
weights chunks.ckpt chunks.npz
cmp straight.npz chunks.npz || { echo "sums through 100-byte messages differ" >&2; exit 1; }

# The default shards (64 here) do not depend on the ranks; curves
# (--metrics) and streamed rows take the same steps on every rank, and
# streaming gives the resident run's bits.
# shellcheck disable=SC2086
ranks 2 train --distributed ${common% --shards 4} --epochs 2 --json --metrics m.csv \
  --checkpoint resident.ckpt >k2.json
grep -q '"shards":64' k2.json || { echo "the default shards are not 64" >&2; exit 1; }
grep -q '"gradient_sum":"shared-memory"' k2.json ||
  { echo "the ranks of one machine did not sum in shared memory" >&2; exit 1; }
[ "$(wc -l <m.csv)" -eq 3 ] || { echo "--metrics: not one row per epoch" >&2; exit 1; }
# shellcheck disable=SC2086
ranks 2 train --distributed ${common% --shards 4} --epochs 2 --stream --checkpoint streamed.ckpt \
  >/dev/null
weights resident.ckpt resident.npz && weights streamed.ckpt streamed.npz
cmp resident.npz streamed.npz || { echo "streamed ranks differ from resident ones" >&2; exit 1; }
# shellcheck disable=SC2086
ranks 4 train --distributed ${common% --shards 4} --epochs 3 --resume resident.ckpt >/dev/null

# Every rank runs rank 0's variant: rank 1 forced onto the GPU profile
# still gives the bits of two CPU-profile ranks, and rank 0 on the GPU
# profile gives others (so the variant matters).
if [[ " ${devices[*]} " == *" cpu "* ]]; then
  vary="train --distributed --data synthetic:1000,17,5 --batch 64 --shards 4 --epochs 2"
  vary="$vary --schedule constant --seed 3 --quiet --device cpu"
  # shellcheck disable=SC2086
  ranks 2 $vary --checkpoint cpu2.ckpt >/dev/null
  for first in cpu gpu; do
    other=cpu; [ $first = cpu ] && other=gpu
    # shellcheck disable=SC2086
    "$mpiexec" --oversubscribe --bind-to none -n 1 -x CLT_PROFILE=$first "$cltrain" $vary \
      --checkpoint "first-$first.ckpt" : -n 1 -x CLT_PROFILE=$other "$cltrain" $vary >/dev/null
  done
  weights cpu2.ckpt cpu2.npz && weights first-cpu.ckpt first-cpu.npz
  weights first-gpu.ckpt first-gpu.npz
  cmp cpu2.npz first-cpu.npz || { echo "rank 1 did not run rank 0's variant" >&2; exit 1; }
  if cmp -s cpu2.npz first-gpu.npz; then echo "the variant changed no bits" >&2; exit 1; fi
fi

# Faults (CLT_DIST_FAULT): a rank that stops answering at step 5 (epoch
# 2 of 4-step epochs) ends the job within the watchdog's 3 s, exit 1,
# named by the others; one that exits ends the job (mpiexec), non-zero.
# Either way the last checkpoint (epoch 1) is whole.
fault="--data synthetic:1000,17,5 --batch 250 --shards 4 --epochs 3 --quiet --device ref"
fault="$fault --schedule constant"
for kind in hang exit; do
  rm -f fault.ckpt
  start=$(date +%s)
  # shellcheck disable=SC2086
  if CLT_DIST_FAULT=$kind:1:5 ranks 2 train --distributed $fault --dist-timeout 3 \
       --checkpoint fault.ckpt >/dev/null 2>fault.txt; then
    echo "a rank that does $kind at step 5: the job succeeded" >&2; exit 1
  fi
  took=$(( $(date +%s) - start ))
  [ "$took" -lt 60 ] || { echo "$kind: the job took $took s to end" >&2; exit 1; }
  if [ $kind = hang ]; then
    grep -q "waited 3 s (--dist-timeout) for rank 1" fault.txt ||
      { echo "hang: the silent rank is not named" >&2; cat fault.txt >&2; exit 1; }
  fi
  weights fault.ckpt fault.npz
  echo "fault $kind: the job ended in $took s, the last checkpoint loads"
done

# Refusals: exit 2 with a message, every rank
expect2() { # needle command...
  local needle=$1; shift
  if "$@" >out.txt 2>&1; then echo "ran: $*" >&2; exit 1; fi
  grep -q -- "$needle" out.txt || { echo "no '$needle' from: $*" >&2; cat out.txt >&2; exit 1; }
}
expect2 "without --distributed" ranks 2 train --data synthetic:100,4,3 --device ref --epochs 1
expect2 "smaller than the 2 ranks" ranks 2 train --distributed --data synthetic:100,4,3 \
  --device ref --epochs 1 --batch 1
# shellcheck disable=SC2086
expect2 "--shards 3 contradicts --resume straight.ckpt" "$cltrain" train ${common% --shards 4} \
  --epochs 5 --resume straight.ckpt --shards 3
# shellcheck disable=SC2086
ranks 2 train --distributed ${common% --shards 4} --shards 2 --epochs 1 --checkpoint two.ckpt \
  >/dev/null
# shellcheck disable=SC2086
expect2 "2 shards of 1000 rows for 4 ranks" ranks 4 train --distributed ${common% --shards 4} \
  --epochs 2 --resume two.ckpt
# fewer shards than ranks, whether the rows are known before reading or not
expect2 "1 shards of 1003 rows for 2 ranks" ranks 2 train --distributed --data train-x.npy \
  --labels train-y.npy --shards 1 --device ref --epochs 1
expect2 "1 shards of 1003 rows for 2 ranks" ranks 2 train --distributed --data t.csv.gz \
  --label-column kind --shards 1 --device ref --epochs 1
# a bad cell in rank 1's rows: rank 1 alone parses it, and names it
"$py" - <<'EOF'
import gzip
lines = gzip.open("t.csv.gz", "rt", newline="").read().split("\n")
cells = lines[-20].split(",")
cells[2] = "oops"
lines[-20] = ",".join(cells)
open("bad.csv", "w", newline="").write("\n".join(lines))
print(len(lines) - 19, file=open("bad.line", "w"))
EOF
expect2 "bad.csv: line $(cat bad.line), column 3: 'oops' is not a number" ranks 2 train \
  --distributed --data bad.csv --label-column kind --shards 4 --device ref --epochs 1
[ "$(grep -c "'oops' is not a number" out.txt)" = 1 ] ||
  { echo "a rank other than the bad row's parsed it" >&2; cat out.txt >&2; exit 1; }
# a bad value in rank 0's rows of an svmlight file whose --cache is to be
# written: rank 0, which parses every row for the cache, names it; rank 1,
# which leaves the cache to rank 0, parses its own rows only
"$py" - <<'EOF'
lines = open("sv.svm").read().split("\n")
lines[19] = lines[19].replace(":", ":x", 1)
open("bad.svm", "w").write("\n".join(lines))
EOF
expect2 "bad.svm: line 20, column 3: .* the value is not a finite float" ranks 2 train \
  --distributed --data bad.svm --cache bad.cache --shards 4 --device ref --epochs 1
[ "$(grep -c "line 20, column 3" out.txt)" = 1 ] ||
  { echo "a rank other than the cache's writer parsed rank 0's rows" >&2; cat out.txt >&2; exit 1; }
expect2 "cannot take rows from each of 8 shards" "$cltrain" train --data synthetic:100,4,3 \
  --device ref --epochs 1 --shards 8 --batch 4
expect2 "every shard a row" "$cltrain" train --data synthetic:100,4,3 --device ref --epochs 1 \
  --shards 200
echo "mpi_train: every case agrees"
