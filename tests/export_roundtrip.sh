#!/usr/bin/env bash
# train -> export (npz and safetensors) -> numpy reload -> the same
# predictions as `cltrain predict --proba` (tests/export_check.py).
#   tests/export_roundtrip.sh CLTRAIN WORKDIR [PYTHON]
# The Python is $CLT_PYTHON (scripts/test points it at a venv holding the
# safetensors package), else PYTHON (the build's, with numpy), else python3.
set -euo pipefail
cltrain=$1 work=$2 here=$(cd "$(dirname "$0")" && pwd)
py=${CLT_PYTHON:-${3:-python3}}
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
def blobs(n, path):
    y = np.arange(n) % 4
    x = rng.normal(size=(n, 9)) + 2.5 * np.eye(4, 9)[y] * 3 + 40.0
    np.savetxt(path, np.hstack([y[:, None], x]), delimiter=",", fmt="%.6f",
               header="label," + ",".join(f"f{j}" for j in range(9)), comments="")
blobs(400, "train.csv")
blobs(157, "test.csv")
PY
"$cltrain" train --data train.csv --test test.csv --epochs 3 --batch 32 --lr 0.05 \
  --device ref --quiet --checkpoint model.ckpt
"$cltrain" export --model model.ckpt --format npz
"$cltrain" export --model model.ckpt --format safetensors --out model.safetensors
# predict on the default device: float32 scores there, float64 in the check
"$cltrain" predict --model model.ckpt --data test.csv --proba --out pred.csv >/dev/null
"$py" "$here/export_check.py" model.ckpt.npz model.safetensors test.csv pred.csv
# text labels: the classes travel as strings
awk -F, 'BEGIN { split("owl,cat,dog,emu", n, ",") } NR == 1 { print; next }
         { $1 = n[int($1) + 1]; print }' OFS=, train.csv > named.csv
"$cltrain" train --data named.csv --epochs 2 --device ref --quiet --checkpoint named.ckpt
"$cltrain" export --model named.ckpt --format npz --out named.npz
"$cltrain" export --model named.ckpt --format safetensors --out named.safetensors
"$cltrain" predict --model named.ckpt --data named.csv --proba --out named_pred.csv >/dev/null
"$py" "$here/export_check.py" --labels named.npz named.safetensors named_pred.csv owl,cat,dog,emu
