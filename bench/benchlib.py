"""What bench/peers.py and bench/largebatch.py share: the Fashion-MNIST
large-batch recipe (so cltrain's trainer and PyTorch run the same one) and
the records of bench/benchutil.h's JSON format."""
import json
import math
import time

TARGET_ACCURACY = 0.84

# The large-batch recipe: linear softmax (cross-entropy); pixels scaled to
# [0, 1] and standardised with the training set's per-pixel mean and
# standard deviation; zero initial weights and bias (LARS: see below). Peak
# learning rate min(base_lr * batch / 256, max_lr): the linear scaling rule
# (Goyal et al. 2017) up to the largest rate that still converged at full
# batch here; reached by a linear warm-up over the first 5% of the steps (at
# least one), then cosine decay to 0 at the end of the run, exactly as
# cltrain's clt_schedule_lr computes it (lr_scale below). Each epoch a fresh
# permutation, the last partial batch kept; test accuracy after every epoch.
# PyTorch runs momentum and AdamW (torch 1.13 has no LARS or LAMB); cltrain
# runs all four.
RECIPE = {
    "momentum": {"base_lr": 0.01, "max_lr": 0.25, "momentum": 0.9},
    "adamw": {"base_lr": 0.001, "max_lr": 0.07, "weight_decay": 1e-4},
}
WARMUP_FRACTION = 0.05
# Epochs per batch size: enough steps for the full batch to get there.
RECIPE_EPOCHS = {256: 10, 1024: 15, 4096: 20, 16384: 40, 60000: 150}


def peak_lr(optim, batch, recipe=RECIPE):
    cfg = recipe[optim]
    return min(cfg["base_lr"] * batch / 256, cfg["max_lr"])


def warmup_steps(total):
    """Warm-up steps for a run of total steps: 5%, at least one."""
    return max(1, round(WARMUP_FRACTION * total))


def lr_scale(step, warm, total):
    """The learning rate of 0-based step over the peak: clt_schedule_lr's
    linear warm-up ((step + 1) / (warm + 1)) and cosine decay to 0."""
    if step < warm:
        return (step + 1) / (warm + 1)
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


class Report:
    """Records in bench/benchutil.h's format, printed as they come."""

    PARAMS = ("n", "d", "c", "elems", "batch")

    def __init__(self, program):
        self.program = program
        self.records, self.notes, self.curves = [], {}, []
        self.header = False

    def note(self, key, value):
        self.notes[key] = str(value)
        print(f"# {key}: {value}", flush=True)

    def add(self, suite, op, impl, times, floor=None, extra=None, bytes=0.0,
            flops=0.0, samples=0.0, variant=None, **params):
        """variant: what else a figure depends on (the large-batch runs'
        optimizer); ours and a peer's are compared only at the same one."""
        t = sorted(times)
        m = len(t)
        med = t[m // 2] if m % 2 else 0.5 * (t[m // 2 - 1] + t[m // 2])
        work, unit = ((bytes * 1e-9, "GB/s") if bytes else
                      (flops * 1e-9, "GFLOP/s") if flops else
                      (samples, "samples/s") if samples else (0, "s"))
        rate = (work / med, work / t[-1], work / t[0]) if work else (med, t[0], t[-1])
        rec = {"suite": suite, "op": op, "impl": impl, "unit": unit}
        if variant:
            rec["variant"] = variant
        rec.update({k: int(v) for k, v in params.items() if v})
        for k, v in (("bytes", bytes), ("flops", flops), ("samples", samples)):
            if v:
                rec[k] = float(v)
        if floor:
            rec["floor"] = floor
        rec.update(reps=m, median=rate[0], min=rate[1], max=rate[2],
                   time_median_s=med, time_min_s=t[0], time_max_s=t[-1])
        if extra:
            rec["extra"] = extra
        self.records.append(rec)
        if not self.header:
            print(f"{'suite':<8} {'op':<21} {'impl':<18} {'params':<30} {'median':>10}  "
                  f"{'[min .. max]':<21} unit")
            self.header = True
        ps = " ".join(f"{k}={v >> 20}M" if v >= 1 << 20 and v % (1 << 20) == 0 else f"{k}={v}"
                      for k in self.PARAMS if (v := params.get(k)))
        shown = f"{impl} {variant}" if variant else impl
        print(f"{suite:<8} {op:<21} {shown:<18} {ps:<30} {rate[0]:>10.4g}  "
              f"[{rate[1]:>8.4g} .. {rate[2]:>8.4g}] {unit}", flush=True)

    def write(self, path, quick):
        doc = {"program": self.program, "quick": quick,
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "notes": self.notes, "records": self.records, "curves": self.curves}
        with open(path, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
