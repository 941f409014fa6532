#!/usr/bin/env bash
# The benchmark drivers stay runnable: bench/largebatch.py --quick drives
# `cltrain train` on a small synthetic set, and bench/report.py merges its
# JSON into results.json and the markdown tables; bench/debian_text.py
# writes the Debian-descriptions svmlight split (the large sections only
# here) and bench/sparse_peers.py trains cltrain on it; bench/distributed.py
# --replot fits its alpha-beta model to records of known alpha and beta,
# prints the H200-class table and draws the model.
#   bench_scripts.sh PYTHON CLTRAIN BENCH_DIR WORK_DIR
set -euo pipefail
py=$1 cltrain=$2 bench=$3 work=$4
rm -rf "$work" && mkdir -p "$work"
"$py" "$bench/largebatch.py" --quick --cltrain "$cltrain" \
  --data synthetic:3000,24,5 --json "$work/largebatch.json"
"$py" "$bench/report.py" --no-plots --out "$work" --markdown "$work/results.md" \
  "$work/largebatch.json"
"$py" - "$work" <<'PY'
import json, sys
work = sys.argv[1]
recs = json.load(open(f"{work}/results.json"))["records"]
ops = {(r["op"], r.get("variant"), r.get("batch"), r["impl"]) for r in recs}
want = {("fmnist_throughput", "momentum", 4096, "cltrain"),
        ("fmnist_time_to_084", "momentum", 4096, "cltrain")}
assert want <= ops, f"records {sorted(ops)} lack {sorted(want - ops)}"
thr = next(r for r in recs if r["op"] == "fmnist_throughput")
assert thr["unit"] == "samples/s" and thr["median"] > 0, thr
# 20 epochs of synthetic:3000's 3000 training rows, to the precision of
# the metrics file (samples/s times seconds).
assert abs(thr["samples"] - 20 * 3000) <= 0.01 * 20 * 3000, thr["samples"]
md = open(f"{work}/results.md").read()
assert "| fmnist_time_to_084 | momentum batch=4096 | cltrain |" in md, md
print("bench scripts ok:", len(recs), "records")
PY
"$py" "$bench/debian_text.py" "$work/debian" --min-count 3000
"$py" "$bench/sparse_peers.py" --cltrain "$cltrain" --data "$work/debian" --no-peers --reps 1 \
  --recipe "--optim sgd --lr 8 --epochs 2" --json "$work/sparse.json"
"$py" - "$work/sparse.json" <<'PY'
import json, sys
row = json.load(open(sys.argv[1]))["rows"][0]
assert row["update"] == "touched" and 0.3 < row["accuracy"] <= 1, row
print("sparse peers ok: accuracy", row["accuracy"])
PY
"$py" - "$work/dist.json" <<'PY'
import json, sys
# reductions of a ring at K = 2 with alpha 100 us and beta 2 GB/s
a, b, recs = 100e-6, 2e9, []
for name, g in (("Fashion-MNIST", 4 * 785 * 10), ("wide synthetic", 4 * 3073 * 1000)):
    for k, t in ((2, 2 * a + g / b), (4, 7e-3)):
        recs.append(dict(problem=name, k=k, scaling="strong", steps=10, comm_seconds=10 * t,
                         gradient_bytes=g))
json.dump(dict(cores=2, records=recs), open(sys.argv[1], "w"))
PY
"$py" "$bench/distributed.py" --replot "$work/dist.json" --plot "$work/dist" >"$work/dist.txt"
grep -q "alpha 100.0 us, beta 2.00 GB/s" "$work/dist.txt"
# wide, NVLink, K = 8: ring 2 * 7 * (10 us + G / (8 * 450 GB/s)), tree 2 * 3 * (10 us + G / 450 GB/s)
grep -q "| wide synthetic | NVLink 450 GB/s | 8 | 0.188 | 0.224 | 7.37e+04 | 8.79e+04 | 7.37e+04 |" \
  "$work/dist.txt" || { cat "$work/dist.txt" >&2; exit 1; }
if command -v gnuplot >/dev/null; then
  for plot in comm batch; do
    [ "$(head -c 4 "$work/dist-$plot.png" | tail -c 3)" = PNG ] || { echo "no $plot plot" >&2; exit 1; }
  done
fi
echo "distributed model ok"
