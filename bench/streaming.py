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
"""
import argparse
import json
import os
import statistics
import subprocess

def run(exe, data, extra):
    out = subprocess.run([exe, "train", "--quiet", "--json"] + data + extra, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])



def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cltrain", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--debian", help="a directory from bench/debian_text.py")
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
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
