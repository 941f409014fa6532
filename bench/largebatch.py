#!/usr/bin/python3
"""cltrain's trainer on the Fashion-MNIST large-batch recipe of
bench/benchlib.py, the one bench/peers.py runs in PyTorch: `cltrain train`
at every batch size from 256 to the full 60000 with momentum SGD and AdamW
(the linear scaling rule with warm-up) and with LARS and LAMB.

For each run: seconds and epochs to 0.84 test accuracy, final accuracy,
samples/s and the loss curve, from `cltrain train --metrics`: its seconds
count each epoch's training and test evaluation (data loading, the device's
set-up and kernel compilation excluded, as in peers.py). Records in
bench/benchutil.h's JSON format, impl "cltrain", the optimizer as variant.

With --ranks K, every run is `mpiexec -n K cltrain train --distributed`
(the global batch, 64 shards: the same batches whatever K); POCL's
threads per rank come from POCL_MAX_PTHREAD_COUNT as given, so that
`--ranks 2` with one thread each and `--ranks 1` with two use the same
cores. --optims and --batches pick a subset of the table.

Differences from the PyTorch recipe, all small: LARS and LAMB start from
W ~ 0.001 N(0, 1) (their trust ratios scale each step by ||W||, so a zero
start stays almost frozen: LARS from zero reached 0.826 at full batch where
this start reaches 0.846), and cltrain keeps the bias out of weight decay
and trust ratios (PyTorch's AdamW decays it too).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

from benchlib import (RECIPE, RECIPE_EPOCHS, TARGET_ACCURACY, WARMUP_FRACTION, Report,
                      peak_lr)

# LARS and LAMB, cltrain only. Peak rates from a sweep of this recipe at
# every batch size (LARS lr 3, 10, 30, 100; LAMB 0.01, 0.03, 0.1, 0.2; the
# best: LARS 3 at 256 rising to 30 from 4096 on, LAMB 0.01 rising to 0.1),
# written as the same linear scaling with a cap.
# LARS's momentum and trust coefficient are `cltrain train`'s defaults.
CLTRAIN_RECIPE = dict(RECIPE, **{
    "lars": {"base_lr": 3.0, "max_lr": 30.0, "trust_coefficient": 1e-3, "momentum": 0.9,
             "init_std": 1e-3},
    "lamb": {"base_lr": 0.01, "max_lr": 0.1, "init_std": 1e-3},
})


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--cltrain", default=os.path.join(here, "..", "build", "cltrain"),
                    help="the cltrain tool (default: build/cltrain)")
    ap.add_argument("--quick", action="store_true",
                    help="one configuration: momentum at batch 4096, one seed")
    ap.add_argument("--json", metavar="FILE", help="write every figure to FILE")
    ap.add_argument("--reps", type=int, default=3, help="seeds per configuration (default 3)")
    ap.add_argument("--device", help="cltrain's --device (default: auto)")
    ap.add_argument("--data", default="fashion-mnist", help="cltrain's --data")
    ap.add_argument("--ranks", type=int, default=0,
                    help="K: data-parallel runs of K ranks under --mpiexec (default: none)")
    ap.add_argument("--mpiexec", default="mpiexec", help="with --ranks (default: mpiexec)")
    ap.add_argument("--optims", help="comma-separated optimizers (default: all)")
    ap.add_argument("--batches", help="comma-separated batch sizes (default: all)")
    a = ap.parse_args()
    a.optims = a.optims.split(",") if a.optims else list(CLTRAIN_RECIPE)
    a.batches = [int(b) for b in a.batches.split(",")] if a.batches else list(RECIPE_EPOCHS)
    if any(o not in CLTRAIN_RECIPE for o in a.optims) or \
            any(b not in RECIPE_EPOCHS for b in a.batches):
        ap.error(f"--optims from {list(CLTRAIN_RECIPE)}, --batches from {list(RECIPE_EPOCHS)}")
    if a.ranks < 0:
        ap.error("--ranks must be positive")
    if a.reps < 1:
        ap.error("--reps must be positive")
    if not os.access(a.cltrain, os.X_OK):
        ap.error(f"{a.cltrain} is not an executable (build first, or pass --cltrain)")
    return a


def train_run(args, optim, batch, epochs, seed, workdir):
    """One run: the per-epoch rows of `cltrain train --metrics` as dicts (the
    cells of a set the run did not have, empty in the file, left out)."""
    cfg = CLTRAIN_RECIPE[optim]
    metrics = os.path.join(workdir, f"{optim}_{batch}_{seed}.csv")
    cmd = [args.cltrain, "train"]
    env = None
    if args.ranks:
        cmd = [args.mpiexec, "-n", str(args.ranks), "--oversubscribe", "--bind-to", "none",
               args.cltrain, "train", "--distributed", "--shards", "64"]
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd += ["--data", args.data, "--loss", "cross-entropy",
           "--optim", optim, "--lr", repr(peak_lr(optim, batch, CLTRAIN_RECIPE)),
           "--batch", str(batch),
           "--epochs", str(epochs), "--warmup", repr(WARMUP_FRACTION * epochs),
           "--schedule", "cosine", "--preprocess", "standardize",
           "--init-std", repr(cfg.get("init_std", 0.0)),
           "--weight-decay", repr(cfg.get("weight_decay", 0.0)),
           "--seed", str(seed), "--quiet", "--metrics", metrics]
    if args.device:
        cmd += ["--device", args.device]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: exit {res.returncode}\n{res.stderr}")
    with open(metrics) as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def summarize(rows):
    """(seconds, epoch) to the target or None; final accuracy; seconds of
    the run; samples trained (an epoch is one pass over the training set:
    its samples/s times its seconds, to the metrics file's precision); the
    curve (cumulative seconds, losses, accuracy)."""
    n_train = round(rows[0]["samples_per_second"] * rows[0]["seconds"])
    t, reached, curve = 0.0, None, []
    for r in rows:
        t += r["seconds"]
        curve.append([t, r["train_loss"], r["test_loss"], r["test_accuracy"]])
        if reached is None and r["test_accuracy"] >= TARGET_ACCURACY:
            reached = (t, int(r["epoch"]))
    return reached, rows[-1]["test_accuracy"], t, len(rows) * n_train, curve


def main():
    args = parse_args()
    rep = Report("largebatch.py")
    with open("/proc/loadavg") as f:
        rep.note("loadavg_at_start", f.read().strip())
    rep.note("cltrain", os.path.realpath(args.cltrain))
    rep.note("largebatch_recipe", json.dumps({
        "optimizers": CLTRAIN_RECIPE, "warmup_fraction": WARMUP_FRACTION,
        "epochs": RECIPE_EPOCHS, "target": TARGET_ACCURACY}))
    if args.quick:
        runs, reps = [("momentum", 4096)], 1
    else:
        runs = [(o, b) for o in args.optims for b in args.batches]
        reps = args.reps
    failed = 0
    with tempfile.TemporaryDirectory(prefix="clt-largebatch-") as workdir:
        for optim, batch in runs:
            epochs = RECIPE_EPOCHS[batch]
            try:
                results = [summarize(train_run(args, optim, batch, epochs, seed, workdir))
                           for seed in range(reps)]
            except RuntimeError as e:
                print(f"largebatch.py: {e}", file=sys.stderr)
                failed += 1
                continue
            hit = [r[0] for r in results if r[0]]
            extra = {"optimizer": optim, "epochs": epochs, "ranks": args.ranks or None,
                     "pocl_threads": os.environ.get("POCL_MAX_PTHREAD_COUNT"),
                     "lr": peak_lr(optim, batch, CLTRAIN_RECIPE),
                     "final_accuracy": [r[1] for r in results],
                     "reached": len(hit), "runs": reps,
                     "epochs_to_target": [h[1] for h in hit]}
            rep.add("largebatch", "fmnist_throughput", "cltrain", [r[2] for r in results],
                    samples=results[0][3], extra=extra, variant=optim, batch=batch)
            if hit:
                rep.add("largebatch", "fmnist_time_to_084", "cltrain", [h[0] for h in hit],
                        extra=extra, variant=optim, batch=batch)
            ranks = f", {args.ranks} rank(s)" if args.ranks else ""
            print(f"# cltrain {optim} batch {batch}{ranks}, lr {extra['lr']:.4g}: {TARGET_ACCURACY} "
                  f"reached in {len(hit)} of {reps} runs, at epochs "
                  f"{extra['epochs_to_target']} of {epochs}, seconds "
                  f"{', '.join(f'{h[0]:.3f}' for h in hit)}; final accuracy "
                  f"{', '.join(f'{a:.4f}' for a in extra['final_accuracy'])}", flush=True)
            rep.curves.append({"impl": "cltrain", "optimizer": optim, "batch": batch,
                               "columns": ["seconds", "train_loss", "test_loss",
                                           "test_accuracy"],
                               "points": results[0][4]})
    if args.json:
        rep.write(args.json, args.quick)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
