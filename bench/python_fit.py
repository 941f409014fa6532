#!/usr/bin/python3
"""Fashion-MNIST through the Python package next to the tool and
scikit-learn, in one run (the machine is shared: ratios, not bare times).

- cltrain, the tool: `cltrain train --json` with its defaults; its
  "seconds" is the training phase (every epoch's steps and test
  evaluation), and the process's wall time is taken too.
- cltrain, Python: cltrain.sklearn.LinearClassifier().fit on the same
  numpy arrays, wall time (standardisation, upload, epochs); and the
  package's Trainer on the same standardised data, timed over its epochs
  alone (the tool's training phase, without the test evaluation).
- scikit-learn: LogisticRegression() and SGDClassifier(loss="log_loss"),
  defaults, each behind a StandardScaler, fit's wall time.

Each cltrain figure is the median of --reps runs, the scikit-learn ones
run once (a minute or more each); every one with its test accuracy. Not
part of scripts/bench for that reason: run it alone,
    bench/python_fit.py --cltrain build/cltrain [--json FILE]
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))


def idx(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    dims = raw[3]
    shape = np.frombuffer(raw, ">u4", dims, 4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist(d):
    def one(prefix):
        for ext in (".gz", ""):
            p = os.path.join(d, f"{prefix}-images-idx3-ubyte{ext}")
            if os.path.exists(p):
                x = idx(p)
                return x.reshape(len(x), -1), idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte{ext}"))
        sys.exit(f"python_fit: no Fashion-MNIST in {d} (apt-get install dataset-fashion-mnist)")
    return one("train") + one("t10k")



def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cltrain", default=os.path.join(HERE, "..", "build", "cltrain"))
    ap.add_argument("--library", help="libcltrain.so (default: $CLTRAIN_LIBRARY, else beside "
                                      "--cltrain)")
    ap.add_argument("--data", default=os.environ.get("CLT_DATA_DIR") or
                    "/usr/share/datasets/fashion-mnist")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one repetition each")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args()
    os.environ.setdefault("CLTRAIN_LIBRARY", a.library or
                          os.path.join(os.path.dirname(a.cltrain), "libcltrain.so"))
    import cltrain
    from cltrain.sklearn import LinearClassifier
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reps = 1 if a.quick else a.reps
    X, y, Xt, yt = fashion_mnist(a.data)
    rows = {}

    def record(name, seconds, accuracy, what):
        rows[name] = {"seconds": statistics.median(seconds), "min": min(seconds), "max": max(seconds),
                      "accuracy": accuracy, "what": what, "reps": len(seconds)}
        print(f"{name:<34} {statistics.median(seconds):8.3f} s  [{min(seconds):.3f} .. {max(seconds):.3f}]"
              f"  test accuracy {accuracy:.4f}  ({what})", flush=True)

    tool_phase, tool_wall, acc = [], [], None
    for _ in range(reps):
        t = time.perf_counter()
        out = subprocess.run([a.cltrain, "train", "--data", a.data, "--device", a.device,
                              "--json", "--quiet"], check=True, capture_output=True, text=True)
        tool_wall.append(time.perf_counter() - t)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        tool_phase.append(res["seconds"])
        acc = res["test_accuracy"]
    record("cltrain train: training phase", tool_phase, acc, "epochs and test evaluations")
    record("cltrain train: process", tool_wall, acc, "reading, compiling, training")

    fits = []
    for _ in range(reps):
        t = time.perf_counter()
        clf = LinearClassifier(device=a.device, random_state=0).fit(X, y)
        fits.append(time.perf_counter() - t)
    record("python LinearClassifier.fit", fits, clf.score(Xt, yt),
           "standardisation, upload, epochs")

    # The tool's defaults for 60000 rows through the package's Trainer.
    mean, std = X.mean(0), X.std(0)
    std[std < 1e-8] = 1
    Xs = ((X - mean) / std).astype(np.float32)
    ctx = cltrain.Context(a.device)
    epochs_only = []
    for _ in range(reps):
        steps = -(-len(y) // 256) * 20
        opt = cltrain.optim_desc("adamw", lr=7e-4, weight_decay=0.05)
        with cltrain.Trainer(ctx, Xs, y, 10, optim=opt, batch=256, epochs=20,
                             schedule=cltrain.Schedule("cosine", base_lr=7e-4,
                                                       total_steps=steps)) as tr:
            t = time.perf_counter()
            for _ in range(20):
                tr.epoch()
            epochs_only.append(time.perf_counter() - t)
    record("python Trainer: 20 epochs", epochs_only, float("nan"), "the epochs' steps alone")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, est in (("sklearn LogisticRegression", LogisticRegression()),
                          ("sklearn SGDClassifier(log_loss)", SGDClassifier(loss="log_loss"))):
            times = []
            m = make_pipeline(StandardScaler(), est)
            t = time.perf_counter()
            m.fit(X, y)
            times.append(time.perf_counter() - t)
            record(name, times, m.score(Xt, yt), "StandardScaler + fit, defaults")

    fit = rows["python LinearClassifier.fit"]["seconds"]
    print(f"# python fit over the tool's process: {fit / rows['cltrain train: process']['seconds']:.3f}")
    print(f"# python Trainer epochs over the tool's training phase: "
          f"{rows['python Trainer: 20 epochs']['seconds'] / rows['cltrain train: training phase']['seconds']:.3f}")
    for peer in ("sklearn LogisticRegression", "sklearn SGDClassifier(log_loss)"):
        print(f"# {peer} over python fit: {rows[peer]['seconds'] / fit:.1f}x "
              f"(accuracy {rows[peer]['accuracy']:.4f} against {rows['python LinearClassifier.fit']['accuracy']:.4f})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"program": "python_fit", "device": ctx.device_name, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
