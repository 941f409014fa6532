#!/usr/bin/python3
"""Merges the JSON files of the bench programs, largebatch.py and peers.py
into one results.json, prints one table with ratios, and renders plots with
gnuplot.

Ratios (records in bench/benchutil.h's format):
  of floor   a figure over the best measured floor it names: GB/s over the
             best copy/triad/axpy/sum bandwidth (host OpenMP or OpenCL
             device), GFLOP/s over OpenBLAS's 4096^3 SGEMM; a training
             step's samples/s over N / max(X read twice at the read-only
             bandwidth, 4 N D C FLOPs at the SGEMM rate)
  vs peer    ours (impl "cltrain...") over each other impl measured at the
             same op, variant (the large-batch runs' optimizer) and sizes:
             > 1 means ours is faster

Plots are data-driven: a series with no records is left out, a plot with
no series is not drawn.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

PARAMS = ("n", "d", "c", "elems", "batch")
SUITE_ORDER = ["floors", "linear", "loss", "optim", "step", "largebatch"]


def key_of(rec):
    return (rec["op"], rec.get("variant", "")) + tuple(rec.get(k, 0) for k in PARAMS)


def params_str(rec):
    out = [rec["variant"]] if rec.get("variant") else []
    for k in PARAMS:
        v = rec.get(k)
        if v:
            out.append(f"{k}={v // 1048576}M" if v >= 1048576 and v % 1048576 == 0 else f"{k}={v}")
    return " ".join(out)


def machine():
    info = {"nproc": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    try:
        out = subprocess.run(["clinfo", "-l"], capture_output=True, text=True, timeout=60).stdout
        info["opencl_devices"] = [l.split(":", 1)[1].strip() for l in out.splitlines()
                                  if "Device #" in l]
    except (OSError, subprocess.SubprocessError):
        info["opencl_devices"] = []
    with open("/proc/loadavg") as f:
        info["loadavg_at_report"] = f.read().strip()
    return info


class Floors:
    def __init__(self, records):
        self.best = {}
        for r in records:
            if r["suite"] == "floors" and r["unit"] in ("GB/s", "GFLOP/s") and r["op"] in (
                    "copy", "triad", "axpy", "sum", "sgemm"):
                if r["median"] > self.best.get(r["op"], (0, None))[0]:
                    self.best[r["op"]] = (r["median"], r["impl"])

    def value(self, name):
        return self.best.get(name, (None, None))[0]

    def fraction(self, rec):
        name = rec.get("floor")
        if not name:
            return None
        if name == "step":
            bw, gemm = self.value("sum"), self.value("sgemm")
            n, d, c = rec.get("n"), rec.get("d"), rec.get("c")
            if not (bw and gemm and n and d and c):
                return None
            floor_s = max(2 * n * d * 4 / (bw * 1e9), 4 * n * d * c / (gemm * 1e9))
            return rec["median"] / (n / floor_s)
        v = self.value(name)
        return rec["median"] / v if v else None


def speedup(ours, peer):
    if ours["unit"] != peer["unit"] or not ours["median"] or not peer["median"]:
        return None
    if ours["unit"] == "s":
        return peer["median"] / ours["median"]
    return ours["median"] / peer["median"]


def label(rec):
    """The impl, and the run it came from when a program ran twice."""
    return f"{rec['impl']} ({rec['run']})" if "run" in rec else rec["impl"]


def by_key(records):
    groups = {}
    for r in records:
        groups.setdefault(key_of(r), []).append(r)
    return groups


def in_suite_order(suites):
    return sorted(suites, key=lambda s: (SUITE_ORDER.index(s) if s in SUITE_ORDER else 99, s))


def peer_ratios(rec, groups):
    """(peer, ours over it) for every other impl at rec's op, variant and
    sizes."""
    return [(p, s) for p in groups[key_of(rec)] if not p["impl"].startswith("cltrain")
            if (s := speedup(rec, p)) is not None]


def print_table(records, floors):
    groups = by_key(records)
    suites = in_suite_order({r["suite"] for r in records})
    print(f"\n{'suite':<10} {'op':<22} {'params':<28} {'impl':<18} {'median':>10} "
          f"{'[min .. max]':<21} {'unit':<9} {'of floor':>8}  vs peer")
    for suite in suites:
        for r in [x for x in records if x["suite"] == suite]:
            frac = floors.fraction(r)
            vs = ""
            if r["impl"].startswith("cltrain"):
                vs = ", ".join(f"{label(p)} {s:.2f}x" for p, s in peer_ratios(r, groups))
            frac_s = f"{100 * frac:7.1f}%" if frac is not None else ""
            print(f"{suite:<10} {r['op']:<22} {params_str(r):<28} {label(r):<18} "
                  f"{r['median']:>10.4g} [{r['min']:>8.4g} .. {r['max']:>8.4g}] "
                  f"{r['unit']:<9} {frac_s:>8}  {vs}")
    if floors.best:
        print("\nfloors (best of host OpenMP and the OpenCL device, over every floors run): " + ", ".join(
            f"{k} {v:.4g} {'GFLOP/s' if k == 'sgemm' else 'GB/s'} ({impl})"
            for k, (v, impl) in sorted(floors.best.items())))


def fmt(v):
    return f"{v:.3g}" if abs(v) < 1e5 else f"{v:,.0f}"


def write_markdown(path, records, floors):
    """cltrain's figures as markdown tables, one per suite: every record of
    an impl "cltrain..." (per-launch records left out), its fraction of
    the floor, and each peer at the same op, variant and sizes with ours
    over it. For bench/RESULTS.md."""
    groups = by_key(records)
    suites = in_suite_order({r["suite"] for r in records if r["impl"].startswith("cltrain")})
    out = []
    for suite in suites:
        rows = [r for r in records if r["suite"] == suite and r["impl"].startswith("cltrain")
                and ":" not in r["op"]]
        if not rows:
            continue
        extra_col = suite == "largebatch"
        out += [f"### {suite}", "",
                "| op | params | impl | median [min – max] | of floor | peers (ours over theirs) |"
                + (" epochs to 0.84 / final accuracy |" if extra_col else ""),
                "|---|---|---|---|---|---|" + ("---|" if extra_col else "")]
        for r in rows:
            frac = floors.fraction(r)
            vs = ", ".join(f"{label(p)} {fmt(p['median'])} ({s:.2f}x)"
                           for p, s in peer_ratios(r, groups))
            line = (f"| {r['op']} | {params_str(r)} | {r['impl']} | {fmt(r['median'])} "
                    f"[{fmt(r['min'])} – {fmt(r['max'])}] {r['unit']} | "
                    f"{f'{100 * frac:.0f}%' if frac is not None else ''} | {vs} |")
            if extra_col:
                ex = r.get("extra", {})
                line += (f" {', '.join(map(str, ex.get('epochs_to_target', [])))} / "
                         f"{', '.join(f'{a:.4f}' for a in ex.get('final_accuracy', []))} |")
            out.append(line)
        out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


# ------------------------------------------------------------------ plots

def gnuplot(script, name):
    try:
        res = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"report.py: gnuplot failed for {name}: {e}", file=sys.stderr)
        return False
    if res.returncode:
        print(f"report.py: gnuplot failed for {name}: {res.stderr.strip()}", file=sys.stderr)
        return False
    return True


def series_plot(path, title, xlabel, ylabel, series, logx=True, logy=False):
    """series: list of (label, [(x, y[, ymin, ymax]), ...]); empty ones are
    skipped; points with a spread get error bars."""
    series = [(label, sorted(pts)) for label, pts in series if pts]
    if not series:
        return None
    lines = ["set terminal pngcairo size 900,600 noenhanced", f"set output '{path}'",
             f"set title '{title}'", f"set xlabel '{xlabel}'", f"set ylabel '{ylabel}'",
             "set key outside right", "set grid"]
    if logx:
        lines.append("set logscale x")
    if logy:
        lines.append("set logscale y")
    plots = []
    for i, (label, pts) in enumerate(series):
        lines.append(f"$d{i} << EOD")
        lines += [" ".join(f"{v:.9g}" for v in p) for p in pts]
        lines.append("EOD")
        style = "yerrorlines" if len(pts[0]) == 4 else "linespoints"
        cols = "1:2:3:4" if len(pts[0]) == 4 else "1:2"
        plots.append(f"$d{i} using {cols} with {style} title '{label}'")
    lines.append("plot " + ", ".join(plots))
    return path if gnuplot("\n".join(lines) + "\n", path) else None


def make_plots(doc, floors, out):
    records, made = doc["records"], []

    def by_impl(recs, x):
        impls = {}
        for r in recs:
            label = f"{r['impl']} {r['variant']}" if r.get("variant") else r["impl"]
            impls.setdefault(label, []).append((r[x], r["median"], r["min"], r["max"]))
        return sorted(impls.items())

    # Samples/s of whole steps against the batch size (the per-launch and
    # X-read records of the step suite are in the table and results.json).
    for op in sorted({r["op"] for r in records
                      if r["suite"] == "step" and r["unit"] == "samples/s"}):
        for d, c in sorted({(r["d"], r["c"]) for r in records if r["op"] == op}):
            recs = [r for r in records if r["op"] == op and r["d"] == d and r["c"] == c]
            limit = [(r["n"], r["median"] / f) for r in recs
                     if (f := floors.fraction(r))]
            made.append(series_plot(os.path.join(out, f"{op}_d{d}_c{c}.png"),
                                    f"{op}: D={d}, C={c}", "batch size N", "samples/s",
                                    by_impl(recs, "n") + [("floor", sorted(set(limit)))]))
    lb = [r for r in records if r["suite"] == "largebatch"]
    made.append(series_plot(os.path.join(out, "largebatch_throughput.png"),
                            "Fashion-MNIST training throughput", "batch size", "samples/s",
                            by_impl([r for r in lb if r["op"] == "fmnist_throughput"], "batch")))
    made.append(series_plot(os.path.join(out, "largebatch_time_to_084.png"),
                            "Fashion-MNIST: seconds to 0.84 test accuracy", "batch size",
                            "seconds", by_impl([r for r in lb if r["op"] == "fmnist_time_to_084"],
                                               "batch"), logy=True))
    for batch in sorted({cv["batch"] for cv in doc["curves"]}):
        series = []
        for cv in doc["curves"]:
            if cv["batch"] != batch:
                continue
            t, loss = cv["columns"].index("seconds"), cv["columns"].index("train_loss")
            series.append((f"{cv['impl']} {cv['optimizer']}",
                           [(p[t], p[loss]) for p in cv["points"]]))
        made.append(series_plot(os.path.join(out, f"loss_vs_time_b{batch}.png"),
                                f"training loss vs time, batch {batch}", "seconds",
                                "training loss", series, logx=False, logy=True))
    return [m for m in made if m]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory for results.json and the plots")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--markdown", metavar="FILE",
                    help="also write cltrain's figures as markdown tables to FILE")
    ap.add_argument("inputs", nargs="+", help="JSON files of the bench programs and peers.py")
    a = ap.parse_args()
    doc = {"machine": machine(), "programs": [], "records": [], "curves": []}
    for path in a.inputs:
        if os.path.basename(path) == "results.json":
            continue  # an earlier merge (DIR/*.json): its records are in the others
        try:
            with open(path) as f:
                part = json.load(f)
        except (OSError, ValueError) as e:
            print(f"report.py: skipping {path}: {e}", file=sys.stderr)
            continue
        doc["programs"].append({k: part.get(k) for k in ("program", "quick", "date", "notes")})
        # A second run of a program (bench_floors_end.json) is told apart
        # in the table by its file name.
        stem = os.path.splitext(os.path.basename(path))[0]
        for r in part.get("records", []):
            r["program"] = part.get("program")
            if stem != part.get("program", stem).replace(".py", ""):
                r["run"] = stem
            doc["records"].append(r)
        doc["curves"] += part.get("curves", [])
    floors = Floors(doc["records"])
    for r in doc["records"]:
        frac = floors.fraction(r)
        if frac is not None:
            r["of_floor"] = frac
    m = doc["machine"]
    print(f"machine: {m.get('cpu', '?')}, {m['nproc']} cores; OpenCL: "
          f"{'; '.join(m['opencl_devices']) or 'none'}; {m['date']}; load {m['loadavg_at_report']}")
    for p in doc["programs"]:
        for k, v in (p.get("notes") or {}).items():
            print(f"# {p['program']}: {k}: {v}")
    print_table(doc["records"], floors)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"\nwrote {os.path.join(a.out, 'results.json')}")
    if a.markdown:
        write_markdown(a.markdown, doc["records"], floors)
        print(f"wrote {a.markdown}")
    if not a.no_plots:
        for path in make_plots(doc, floors, a.out):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
