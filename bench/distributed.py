#!/usr/bin/python3
"""Data-parallel training (cltrain train --distributed) under mpiexec:
scaling, the reduction's bandwidth against this machine's copy floor, and
an alpha-beta model of the step's communication at larger K.

For each problem and K (1, 2, and 4 oversubscribed on a 2-core machine,
reported as such), one `cltrain train --distributed --json` run (3 epochs,
1 with --quick; K = 1 is one rank of the same path) with the
same global batch and shards (strong scaling) and one with K times the
batch (weak scaling): the training phase's seconds and samples/s, and
rank 0's steps' parts (--json's step_*_seconds), in ms a step: compute (the
local loss and gradient), staging (the gradient read back, the sum
written back), reduction (the communication less the wait: the gradient's
reduce-scatter, each rank's sums of its segment and their gather; or, as
ranks on one machine do unless --messages, each rank's sums read in memory
the ranks share and a barrier: the "sum" column, --json's gradient_sum) and
wait (the small gather of the losses and shares that opens the
communication, which ends when the slowest rank is ready: the load
imbalance). Efficiency: samples/s over K times one rank's (T1 / (K TK) at
a fixed global batch). Per step the gradient, G = 4 (D + 1) C bytes as
float32, is allreduced; taking the reduction's t, its algbw is G / t and
its busbw 2 (K - 1) / K algbw
(nccl-tests' definitions), set against the copy floor (numpy's copy of a
64 MB array, this run).

The peer: MPI_Allreduce itself (Open MPI's own algorithm choice, not
rank-ordered, so not what cltrain may use) on a float32 array of each
problem's G bytes, in place, through mpi4py (Debian's python3-mpi4py;
skipped, and said, without it): the median of 20 after 3 untimed, at
K = 2 and 4, in the same run.

The model: t_comm(K) = 2 (K - 1) (alpha + G / (K beta)) for a ring and
2 ceil(log2 K) (alpha + G / beta) for a tree (reduce, then broadcast),
alpha and beta fitted to the measured reductions of the two problems at
K = 2, checked against K = 4; and for GPUs of H200 class, the batch at
which the communication (ring or tree, and the better of the two) is at
most 10 % of a step whose compute reads X at the HBM bandwidth (4.8 TB/s)
or runs the products at the fp32 peak (67 TFLOP/s), whichever is slower,
over NVLink (450 GB/s) and over 400 Gb/s InfiniBand (50 GB/s), both with
alpha = 10 us. --plot PREFIX draws both, for K from 2 to 256:
PREFIX-comm.png (this machine's model, ring and tree, with the measured
K = 2 and 4 reductions) and PREFIX-batch.png (the H200-class batch for
communication <= 10 %). --replot FILE.json prints the model and draws the
plots again from the records a run saved with --json, without measuring.

  bench/distributed.py --cltrain build/cltrain [--mpiexec mpiexec] [--quick]
                       [--messages] [--json FILE] [--plot PREFIX]
  bench/distributed.py --replot FILE.json [--plot PREFIX]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time


def copy_floor():
    import numpy as np  # here: --replot runs without numpy
    a = np.ones(16 << 20, np.float32)
    b = np.empty_like(a)
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best  # bytes/s, read once and written once


def steps_per_epoch(n, shards, batch):
    steps = 0
    for s in range(shards):
        n_s = n * (s + 1) // shards - n * s // shards
        b_s = batch // shards + (s < batch % shards)
        steps = max(steps, -(-n_s // b_s))
    return steps


def run(args, k, flags):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               CLT_TUNE=os.environ.get("CLT_TUNE", "off"),
               POCL_MAX_PTHREAD_COUNT=str(args.threads))
    if args.messages:
        env["CLT_DIST_SHARED"] = "0"
    cmd = [args.mpiexec, "-n", str(k), "--oversubscribe", "--bind-to", "none", args.cltrain,
           "train", "--distributed", "--json", "--quiet"] + flags
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# The problems: name, training rows (quick, full), D, C, batch, --data.
PROBLEMS = [
    ("Fashion-MNIST", (60000, 60000), 784, 10, 4096, "fashion-mnist"),
    ("wide synthetic", (8192, 16384), 3072, 1000, 1024, "synthetic:{n},3072,1000"),
]
KS = [2 ** i for i in range(1, 9)]  # the model's K, 2 to 256
# GPUs of H200 class: HBM bytes/s, fp32 FLOP/s, and the links' latency and bandwidths
H200_HBM, H200_FLOPS, H200_ALPHA = 4.8e12, 67e12, 10e-6
LINKS = (("NVLink 450 GB/s", 450e9), ("InfiniBand 50 GB/s", 50e9))


def gradient_bytes(d, c):
    """The gradient a step reduces: W and b as float32."""
    return 4 * (d + 1) * c


def ring(k, g, alpha, beta):
    """A ring allreduce of g bytes over k ranks: reduce-scatter and allgather."""
    return 2 * (k - 1) * (alpha + g / (k * beta))


def tree(k, g, alpha, beta):
    """A binary tree's reduce and broadcast of g bytes over k ranks."""
    return 2 * math.ceil(math.log2(k)) * (alpha + g / beta)


ALGORITHMS = (("ring", ring), ("tree", tree))


def h200_batch(k, comm, d, c):
    """The global batch at which comm is <= 10 % of a step: each rank's B / K
    rows take at least 9 comm, a row the slower of reading it from HBM and
    its forward and dW products at the fp32 peak."""
    per_row = max(d * 4 / H200_HBM, 4 * d * c / H200_FLOPS)
    return 9 * comm / per_row * k


def fit(records):
    """alpha, beta of a ring at K = 2 (t = 2 alpha + G / beta) through the two
    problems' K = 2 strong-scaling reductions."""
    pts = sorted((rec["gradient_bytes"], rec["comm_seconds"] / rec["steps"])
                 for rec in records if rec["k"] == 2 and rec.get("scaling") == "strong")
    if len(pts) < 2 or pts[0][0] == pts[-1][0] or pts[-1][1] <= pts[0][1]:
        sys.exit(f"distributed.py: no alpha-beta fit: the K = 2 reductions {pts} need two "
                 "gradient sizes, the larger one slower")
    (g1, t1), (g2, t2) = pts[0], pts[-1]
    inv_beta = (t2 - t1) / (g2 - g1)
    return max((t1 - g1 * inv_beta) / 2, 0.0), 1 / inv_beta


def model(records, cores, plot):
    """Prints the alpha-beta model fitted to records, its check at K = 4 and
    the H200-class batches; with plot, draws them (PREFIX-comm.png,
    PREFIX-batch.png)."""
    alpha, beta = fit(records)
    print(f"\nalpha-beta fit (K = 2 reductions): alpha {1e6 * alpha:.1f} us, beta "
          f"{beta / 1e9:.2f} GB/s")
    measured = {}  # problem: [(K, ms a step)]
    for rec in records:
        if rec.get("scaling") == "strong" and rec["k"] > 1:
            measured.setdefault(rec["problem"], []).append(
                (rec["k"], 1e3 * rec["comm_seconds"] / rec["steps"]))
        if rec["k"] == 4 and rec.get("scaling") == "strong":
            g = rec["gradient_bytes"]
            print(f"  check, {rec['problem']} K = 4: model ring {1e3 * ring(4, g, alpha, beta):.2f}"
                  f" ms, tree {1e3 * tree(4, g, alpha, beta):.2f} ms, measured "
                  f"{1e3 * rec['comm_seconds'] / rec['steps']:.2f} ms"
                  + (f" (oversubscribed: 4 ranks on {cores} cores)" if cores < 4 else ""))
    print("\nH200 class: compute per row = max(D 4 bytes / 4.8 TB/s, 4 D C flops / 67 "
          "TFLOP/s fp32) (the forward and dW products); an allreduce of the gradient "
          "(float32, 4 (D+1) C bytes) with alpha 10 us; the global batch at which "
          "communication <= 10 % of a step:")
    print("| problem | link | K | ring ms/step | tree ms/step | batch, ring | batch, tree | "
          "batch, the better |")
    print("|---|---|---|---|---|---|---|---|")
    batches = []  # (label, [(K, batch)])
    for name, _, d, c, _, _ in PROBLEMS:
        g = gradient_bytes(d, c)
        for link, bw in LINKS:
            times = {a: [f(k, g, H200_ALPHA, bw) for k in KS] for a, f in ALGORITHMS}
            need = {a: [h200_batch(k, t, d, c) for k, t in zip(KS, times[a])] for a in times}
            best = [min(r, t) for r, t in zip(need["ring"], need["tree"])]
            batches.append((f"{name}, {link}", list(zip(KS, best))))
            for i, k in enumerate(KS):
                if k in (8, 64, 256):
                    print(f"| {name} | {link} | {k} | {1e3 * times['ring'][i]:.3f} | "
                          f"{1e3 * times['tree'][i]:.3f} | {need['ring'][i]:.3g} | "
                          f"{need['tree'][i]:.3g} | {best[i]:.3g} |")
    if not plot:
        return
    from report import series_plot  # bench/report.py's gnuplot driver
    comm = []
    for name, _, d, c, _, _ in PROBLEMS:
        g = gradient_bytes(d, c)
        for a, f in ALGORITHMS:
            comm.append((f"{name}, {a} model", [(k, 1e3 * f(k, g, alpha, beta)) for k in KS]))
        comm.append((f"{name}, measured", measured.get(name, [])))
    drawn = [series_plot(f"{plot}-comm.png",
                         f"allreduce here: alpha {1e6 * alpha:.0f} us, beta {beta / 1e9:.2f} "
                         "GB/s (fit at K = 2)",
                         "ranks K", "ms a step", comm, logy=True),
             series_plot(f"{plot}-batch.png",
                         "H200 class: batch for allreduce <= 10 % of a step",
                         "ranks K", "global batch (ring or tree, the better)", batches,
                         logy=True)]
    for path in drawn:
        if path:
            print(f"plot: {path}")


def allreduce_rank(nbytes):
    """One rank of the peer, under mpiexec: prints (rank 0) the median
    seconds of an in-place MPI_Allreduce of nbytes of float32."""
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    import numpy as np
    a = np.ones(nbytes // 4, np.float32)
    times = []
    for i in range(23):
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
        if i >= 3:
            times.append(time.perf_counter() - t0)
    if comm.Get_rank() == 0:
        print(json.dumps({"seconds": float(np.median(times))}))


def allreduce_peer(args, k, nbytes):
    """MPI_Allreduce's median seconds for nbytes at k ranks, or None
    without mpi4py."""
    try:
        import mpi4py  # noqa: F401  (only whether it is there)
    except ImportError:
        return None
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [args.mpiexec, "-n", str(k), "--oversubscribe", "--bind-to", "none", sys.executable,
           os.path.abspath(__file__), "--allreduce-rank", str(nbytes)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--allreduce-rank":
        return allreduce_rank(int(sys.argv[2]))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cltrain")
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=1,
                   help="POCL threads per rank (default 1: K ranks use K cores, so that K = 1 "
                        "is one core and the efficiency measures the data-parallel overhead)")
    p.add_argument("--messages", action="store_true",
                   help="sum the gradients through messages, not shared memory")
    p.add_argument("--json", help="write the records here")
    p.add_argument("--plot", metavar="PREFIX",
                   help="draw the model to PREFIX-comm.png and PREFIX-batch.png (gnuplot)")
    p.add_argument("--replot", metavar="FILE.json",
                   help="the model and its plots from a run's --json records, measuring nothing")
    args = p.parse_args()
    if args.replot:
        with open(args.replot) as f:
            saved = json.load(f)
        return model(saved["records"], saved["cores"], args.plot)
    if not args.cltrain:
        p.error("--cltrain is required (or --replot FILE.json)")
    floor = copy_floor()
    cores = os.cpu_count()
    epochs = 1 if args.quick else 3
    problems = [(name, rows[0 if args.quick else 1], d, c, batch,
                 ["--data", data.format(n=rows[0 if args.quick else 1])])
                for name, rows, d, c, batch, data in PROBLEMS]
    records = []
    print(f"copy floor (numpy, 64 MB): {floor / 1e9:.1f} GB/s; {cores} cores, "
          f"{args.threads} POCL thread(s) per rank\n")
    print("| problem | K | scaling | batch | samples/s | efficiency | compute | staging | "
          "sum | reduction | wait | gather share of step | gradient MB | algbw GB/s | "
          "busbw GB/s | busbw/floor |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, d, c, batch, data in problems:
        grad = gradient_bytes(d, c)
        base = None
        for k in (1, 2, 4):
            for scaling in ("strong", "weak"):
                if k == 1 and scaling == "weak":
                    continue
                b = batch if scaling == "strong" else batch * k
                shards = 4
                flags = data + ["--device", args.device, "--batch", str(b), "--shards",
                                str(shards), "--epochs", str(epochs), "--optim", "momentum",
                                "--lr", "0.01", "--schedule", "constant"]
                r = run(args, k, flags)
                steps = epochs * steps_per_epoch(r["train_rows"], shards, b)
                t = r["seconds"]
                part = {k: 1e3 * r[f"step_{k}_seconds"] / steps
                        for k in ("compute", "staging", "gather", "wait")}
                # the reduction: the communication less the wait for the slowest rank
                per_step = (part["gather"] - part["wait"]) / 1e3
                if k == 1:
                    base = r["samples_per_second"]
                # samples/s against K times one rank's at the base batch: T1 / (K TK)
                # at a fixed global batch, and the same for a fixed batch per rank
                eff = r["samples_per_second"] / (k * base)
                algbw = grad / per_step if k > 1 and per_step > 0 else float("nan")
                busbw = algbw * 2 * (k - 1) / k if k > 1 else float("nan")
                over = " (oversubscribed)" if k > cores else ""
                print(f"| {name} | {k}{over} | {scaling} | {b} | {r['samples_per_second']:.0f} | "
                      f"{eff:.2f} | {part['compute']:.2f} | {part['staging']:.2f} | "
                      f"{r.get('gradient_sum', '-')} | {part['gather'] - part['wait']:.2f} | "
                      f"{part['wait']:.2f} | "
                      f"{part['gather'] * steps / 1e3 / t:.2f} | "
                      f"{grad / 1e6:.2f} | {algbw / 1e9:.2f} | {busbw / 1e9:.2f} | "
                      f"{busbw / floor:.2f} |")
                records.append(dict(problem=name, k=k, scaling=scaling, batch=b, seconds=t,
                                    samples_per_second=r["samples_per_second"],
                                    comm_seconds=per_step * steps, steps=steps,
                                    step_ms=part, gradient_sum=r.get("gradient_sum"),
                                    gradient_bytes=grad, efficiency=eff,
                                    test_accuracy=r.get("test_accuracy")))
    print("\nThe peer, MPI_Allreduce of the same bytes (float32, in place, median of 20):\n")
    print("| problem | K | gradient MB | ms | algbw GB/s | busbw GB/s | busbw/floor |")
    print("|---|---|---|---|---|---|---|")
    for name, n, d, c, batch, data in problems:
        grad = gradient_bytes(d, c)
        for k in (2, 4):
            t = allreduce_peer(args, k, grad)
            if t is None:
                print(f"| {name} | {k} | not measured: no mpi4py (apt-get install "
                      "python3-mpi4py) | | | | |")
                continue
            busbw = grad / t * 2 * (k - 1) / k
            over = " (oversubscribed)" if k > cores else ""
            print(f"| {name} | {k}{over} | {grad / 1e6:.2f} | {1e3 * t:.2f} | "
                  f"{grad / t / 1e9:.2f} | {busbw / 1e9:.2f} | {busbw / floor:.2f} |")
            records.append(dict(problem=name, k=k, peer="MPI_Allreduce", seconds=t,
                                gradient_bytes=grad))
    if args.json:  # first: --replot redoes the model from these
        with open(args.json, "w") as f:
            json.dump(dict(copy_floor=floor, cores=cores, records=records), f, indent=1)
    model(records, cores, args.plot)


if __name__ == "__main__":
    sys.exit(main())
