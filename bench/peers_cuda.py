#!/usr/bin/env python3
"""PyTorch CUDA peers for a GPU run (scripts/gpu-check), same card, same run:

  floors   device-to-device copy (bytes read + written over time): the HBM
           bandwidth every memory-bound figure is divided by
  optim    torch.optim.AdamW (fused=True and foreach) on one flat parameter
           of 64M floats: 28 bytes per parameter (p, g, m, v read; p, m, v
           written) over the step's time
  step     one SGD step of a linear softmax classifier written by hand
           (S = XW + b, softmax cross-entropy gradient, dW = X^T dS, db,
           update), eager and replayed from a CUDA graph: samples/s and X
           read rate (N*D*4 bytes per step over its time)

Times are CUDA-event medians over --reps repetitions after warm-up.
Records use bench/benchutil.h's JSON format.
"""
import argparse
import json
import statistics

import torch


def timed(fn, reps, warmup=3):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    return min(times), statistics.median(times), max(times)


def record(suite, op, impl, unit, work, t, reps, **fields):
    lo, med, hi = t
    return {"suite": suite, "op": op, "impl": impl, "unit": unit, **fields,
            "reps": reps, "median": work / med, "min": work / hi, "max": work / lo,
            "time_median_s": med}


def floors(reps):
    n = 512 << 20  # 2 GiB of floats each way
    a = torch.empty(n, device="cuda").uniform_()
    b = torch.empty_like(a)
    return [record("floors", "copy", "torch-cuda", "GB/s", 8 * n / 1e9,
                   timed(lambda: b.copy_(a), reps), reps, elems=n, bytes=8 * n)]


def optim(reps):
    out = []
    n = 64 << 20
    for impl in ("fused", "foreach"):
        p = torch.nn.Parameter(torch.randn(n, device="cuda"))
        p.grad = torch.randn(n, device="cuda") * 1e-3
        opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, **{impl: True})
        out.append(record("optim", "adamw", f"torch-cuda-{impl}", "GB/s", 28 * n / 1e9,
                          timed(opt.step, reps), reps, elems=n, bytes=28 * n,
                          floor="copy"))
    return out


def step(reps):
    out = []
    for n, d, c in ((256, 784, 10), (16384, 784, 10), (16384, 3072, 10)):
        g = torch.Generator(device="cuda").manual_seed(0)
        X = torch.randn(n, d, device="cuda", generator=g)
        y = torch.randint(0, c, (n,), device="cuda", generator=g)
        W = torch.zeros(d, c, device="cuda")
        bias = torch.zeros(c, device="cuda")
        rows = torch.arange(n, device="cuda")

        def one():
            S = torch.addmm(bias, X, W)
            P = torch.softmax(S, dim=1)
            P[rows, y] -= 1.0
            P /= n
            W.sub_(X.t() @ P, alpha=0.1)
            bias.sub_(P.sum(0), alpha=0.1)

        def both(impl, t):
            shape = {"n": n, "d": d, "c": c}
            out.append(record("step", "step_softmax", impl, "samples/s", n, t, reps, **shape))
            out.append(record("step", "step_softmax_x_read", impl, "GB/s", 4 * n * d / 1e9,
                              t, reps, bytes=4 * n * d, floor="copy", **shape))

        both("torch-cuda-eager", timed(one, reps))
        one()
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            one()
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(graph):
            one()
        both("torch-cuda-graph", timed(graph.replay, reps))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", metavar="FILE", help="write every record to FILE")
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("peers_cuda.py: torch sees no CUDA device")
    records = floors(args.reps) + optim(args.reps) + step(args.reps)
    for r in records:
        shape = ",".join(f"{k}={r[k]}" for k in ("n", "d", "c", "elems") if k in r)
        print(f"{r['suite']:7} {r['op']:20} {r['impl']:20} {shape:22} "
              f"{r['median']:12.4g} {r['unit']} (min-max {r['min']:.4g}-{r['max']:.4g})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"program": "peers_cuda", "device": torch.cuda.get_device_name(),
                       "torch": torch.__version__, "records": records}, f, indent=1)


if __name__ == "__main__":
    main()
