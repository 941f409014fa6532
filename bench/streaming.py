#!/usr/bin/python3
"""Streaming against resident training, in one run (the machine is shared:
ratios, not bare times).

For each data set, `cltrain train --json` runs alternately as it is
(resident: the training set uploaded once) and streamed (the training rows
stay in host memory and every minibatch is gathered there and uploaded):
for Fashion-MNIST because --device-memory-limit is a third of the
training rows' bytes plus what stays on the device (the test set and the
model: W, its gradient and the optimizer's state, 3 x D x C floats); for
the Debian set, whose model (2^18 x 51 floats, three times over) outweighs
its rows thirty times, by --stream. The figure is
the training phase's samples per second, the median of --reps runs of
each; the two must reach the same test accuracy (they train the same bits).

    bench/streaming.py --cltrain build/cltrain [--reps 5] [--debian DIR] [--json FILE]

Data: Fashion-MNIST (dense, 60000 x 784 floats: 188 MB), and with
--debian DIR the svmlight split of bench/debian_text.py (sparse).

With --mapped-rows N, a generated float32 .npy of N x 256 (which cltrain
maps rather than reads) trains once resident and once with --stream, and
the peak anonymous memory of each process (RssAnon, sampled every 20 ms)
is set against the file's size: streamed rows stay the file's pages.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

def run(exe, data, extra):
    out = subprocess.run([exe, "train", "--quiet", "--json"] + data + extra, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])



def peak_anon(cmd):
    """(peak RssAnon in bytes, the JSON line) of cmd, sampled every 20 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
        except OSError:
            pass
        time.sleep(0.02)
    out = proc.stdout.read()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: exit {proc.returncode}")
    return peak, json.loads(out.strip().splitlines()[-1])


def mapped(exe, rows):
    import numpy as np
    d, c = 256, 10
    rng = np.random.default_rng(0)
    means = rng.standard_normal((c, d)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="clt-mapped-") as tmp:
        xp, yp = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.npy")
        x = np.lib.format.open_memmap(xp, mode="w+", dtype=np.float32, shape=(rows, d))
        y = rng.integers(0, c, rows)
        for i in range(0, rows, 16384):
            j = min(rows, i + 16384)
            x[i:j] = 3 * means[y[i:j]] + 4 * rng.standard_normal((j - i, d), dtype=np.float32) + 7
        x.flush()
        del x
        np.save(yp, y.astype(np.int32))
        size = os.path.getsize(xp)
        print(f"\nmapped .npy: {rows} x {d} float32, {size / 1e6:.0f} MB")
        print("%-10s %14s %14s %12s" % ("mode", "peak anon MB", "of the file", "samples/s"))
        flags = [exe, "train", "--data", xp, "--labels", yp, "--epochs", "1", "--quiet", "--json"]
        out = []
        for mode, extra in (("resident", []), ("streamed", ["--stream"])):
            peak, j = peak_anon(flags + extra)
            print("%-10s %14.0f %14.2f %12.0f" % (mode, peak / 1e6, peak / size,
                                                  j["samples_per_second"]))
            out.append({"mode": mode, "file_bytes": size, "peak_anon_bytes": peak,
                        "samples_per_second": j["samples_per_second"]})
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cltrain", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--debian", help="a directory from bench/debian_text.py")
    ap.add_argument("--mapped-rows", type=int, default=0,
                    help="rows of a generated float32 .npy (x 256) for the memory figures")
    ap.add_argument("--json")
    a = ap.parse_args()
    # (name, data flags, training flags, training rows' bytes, the flags that stream)
    fmnist = 60000 * 784 * 4
    resident = 10000 * 784 * 4 + 3 * 784 * 10 * 4  # the test set and the model
    sets = [("fashion-mnist", ["--data", "fashion-mnist"], ["--epochs", "3"], fmnist,
             ["--device-memory-limit", "%dK" % ((fmnist // 3 + resident) // 1024)])]
    if a.debian:
        def svm_bytes(path):  # entries (column and value) and row offsets
            return sum(8 * len(line.split()) for line in open(path))
        train, test = os.path.join(a.debian, "train.svm"), os.path.join(a.debian, "test.svm")
        sets.append(("debian (sparse)", ["--data", train, "--test", test],
                     ["--optim", "sgd", "--lr", "16", "--loss", "hinge", "--epochs", "5"],
                     svm_bytes(train), ["--stream"]))
    rows = []
    print("%-18s %12s %14s %14s %8s %10s" % ("data", "train bytes", "resident/s", "streamed/s",
                                             "ratio", "same acc"))
    for name, data, flags, nbytes, limit in sets:
        res, stm = [], []
        for _ in range(a.reps):
            res.append(run(a.cltrain, data, flags))
            stm.append(run(a.cltrain, data, flags + limit))
        assert all(not j["stream"] for j in res) and all(j["stream"] for j in stm), "modes"
        r = statistics.median([j["samples_per_second"] for j in res])
        s = statistics.median([j["samples_per_second"] for j in stm])
        same = res[0]["test_accuracy"] == stm[0]["test_accuracy"]
        rows.append({"data": name, "train_bytes": nbytes, "streamed_by": " ".join(limit),
                     "resident_samples_per_s": r, "streamed_samples_per_s": s, "ratio": s / r,
                     "same_accuracy": same, "device": res[0]["device"]})
        print("%-18s %12d %14.0f %14.0f %8.2f %10s" % (name, nbytes, r, s, s / r, same))
    memory = mapped(a.cltrain, a.mapped_rows) if a.mapped_rows else []
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"speed": rows, "memory": memory}, f, indent=1)


if __name__ == "__main__":
    main()
