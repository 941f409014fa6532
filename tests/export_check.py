"""The round trip of `cltrain export`: the arrays of a model, read without
cltrain (numpy.load for .npz, the safetensors package for .safetensors),
give the scores, classes and probabilities `cltrain predict --proba` wrote.

    python3 tests/export_check.py MODEL.npz MODEL.safetensors DATA.csv PRED.csv
    python3 tests/export_check.py --labels MODEL.npz MODEL.safetensors PRED.csv L1,L2,...

The second form checks a model trained on text labels: its classes are the
sorted labels, in the npz as numpy strings and in the safetensors metadata
(class_labels), and predict's predictions are among them.

DATA.csv has the label first, then the raw features; PRED.csv is predict's
--out with --proba (a softmax model). Scores are recomputed in float64 as
docs/CHECKPOINT.md and `cltrain export --help` state:
    ((x * preprocess_scale - preprocess_mean) / preprocess_std) @ W + b
Tolerance: |ours - predict's| <= 1e-5 on every probability (float32 scores
on the device against float64 here), and the same class wherever the top two
probabilities differ by more than that.
"""
import os
import sys

import numpy as np

TOL = 1e-5


def safetensors_metadata(path):
    import json
    import struct
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n])["__metadata__"]


def load_safetensors(path):
    try:
        from safetensors.numpy import load_file
    except ImportError:
        if os.environ.get("CLT_REQUIRE_SAFETENSORS") == "1":
            raise
        # Not installed here: the format by its specification (an 8-byte
        # header length, a JSON header, the data), and say so.
        import json
        import struct
        print("export_check: safetensors package missing; reading the file "
              "by the format's specification", file=sys.stderr)
        raw = open(path, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        body = raw[8 + n:]
        out = {}
        for name, t in header.items():
            if name == "__metadata__":
                continue
            a, b = t["data_offsets"]
            dt = {"F32": "<f4", "F64": "<f8", "I64": "<i8"}[t["dtype"]]
            out[name] = np.frombuffer(body[a:b], dtype=dt).reshape(t["shape"])
        return out
    return load_file(path)


def probabilities(arrays, x):
    xp = (x * arrays["preprocess_scale"] - arrays["preprocess_mean"]) / arrays["preprocess_std"]
    s = xp @ arrays["W"].astype(np.float64)
    if "b" in arrays:
        s = s + arrays["b"].astype(np.float64)
    s = s - s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=1, keepdims=True)


def check_labels(npz_path, st_path, pred_path, labels):
    want = sorted(labels.split(","))
    classes = np.load(npz_path)["classes"]
    assert classes.dtype.kind == "U" and list(classes) == want, (classes, want)
    import json
    meta = json.loads(safetensors_metadata(st_path)["class_labels"])
    assert meta == want, (meta, want)
    assert "classes" not in load_safetensors(st_path), "no string tensors in safetensors"
    with open(pred_path) as f:
        header = f.readline().strip().split(",")
        assert header == ["prediction"] + [f"p_{c}" for c in want], header
        predicted = {line.split(",")[0] for line in f}
    assert predicted <= set(want), predicted
    print(f"export_check: text labels {want} in the npz, the safetensors metadata "
          f"and predict's output")


def main():
    if sys.argv[1] == "--labels":
        check_labels(*sys.argv[2:6])
        return
    npz_path, st_path, data_path, pred_path = sys.argv[1:5]
    data = np.loadtxt(data_path, delimiter=",", skiprows=1, ndmin=2)
    x = data[:, 1:]
    pred = np.loadtxt(pred_path, delimiter=",", skiprows=1, ndmin=2)
    with open(pred_path) as f:
        header = f.readline().strip().split(",")
    assert header[0] == "prediction" and header[1] == "p_0", header
    want_label, want_p = pred[:, 0].astype(np.int64), pred[:, 1:]
    npz = dict(np.load(npz_path))
    st = load_safetensors(st_path)
    assert sorted(npz) == sorted(st), (sorted(npz), sorted(st))
    for name in npz:
        assert npz[name].dtype == st[name].dtype and npz[name].shape == st[name].shape, name
        assert np.array_equal(npz[name], st[name]), name
    assert npz["W"].dtype == np.float32 and npz["preprocess_mean"].dtype == np.float64
    assert npz["classes"].dtype == np.int64, npz["classes"].dtype
    for what, arrays in (("npz", npz), ("safetensors", st)):
        p = probabilities(arrays, x)
        err = np.abs(p - want_p).max()
        assert err <= TOL, f"{what}: probabilities differ by {err:.3g} > {TOL}"
        top2 = np.sort(p, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > TOL
        mismatch = np.flatnonzero((arrays["classes"][p.argmax(axis=1)] != want_label) & clear)
        assert mismatch.size == 0, f"{what}: classes differ at rows {mismatch[:10]}"
        print(f"export_check: {what}: {len(x)} rows, max |p - predict's p| {err:.2e}, "
              f"classes agree")


if __name__ == "__main__":
    main()
