#!/usr/bin/env python3
"""Aggregate bench/compare.sh results into a table, docs/benchmarks.md and a
gnuplot chart. Standard library only.

Inputs (CSV, written by compare.sh):
  raw:       workload,allocator,rep,throughput,rss_kb   (throughput empty = failed run)
  syscalls:  workload,allocator,syscalls,ops
  callgrind: allocator,ir,ops
  meta:      key=value lines (date, machine, cpu, ...)
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys

BASELINE = "mimalloc"
CANONICAL = ["glibc", "hakmem", "hakmem-direct", "mimalloc", "jemalloc", "tcmalloc", "floor"]
PEERS = ["glibc", "mimalloc", "jemalloc", "tcmalloc"]  # "the best peer": the best of these per lane


def read_csv(path):
    if not path or not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_meta(path):
    meta = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    meta[k] = v
    return meta


def ordered_unique(seq):
    seen, out = set(), []
    for x in seq:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


PAIRED_NOTE = ("Ratios (\"vs mimalloc\", \"vs best peer\") are taken within each repetition, "
               "whose runs are back to back, then the median over repetitions; (min-max) is "
               "their spread. A ratio can differ from the ratio of the two medians shown: "
               "the machine drifts between fast and slow states across repetitions.")
VERDICT_NOTE = ("met: yes / no from the median; \"within noise\" when the spread over the "
                "repetitions has values on both sides of the goal.")


def qualify(raw, max_ns):
    """Keeps, for the lanes measured with a ping-pong beside each run, the
    repetitions in which every run's ping-pong was at most max_ns (both
    cores ran at the same time). Returns (rows kept, {workload: (kept reps,
    all reps)}). A lane none of whose repetitions qualify keeps them all;
    its count (0 of n) says it could not be measured in parallel."""
    pp = {}
    for r in raw:
        v = r.get("pingpong_ns") or ""
        if v:
            pp.setdefault((r["workload"], r["rep"]), []).append(float(v))
    lanes = {}
    for (wl, rep), vals in pp.items():
        lanes.setdefault(wl, {})[rep] = max(vals) <= max_ns
    counts = {wl: (sum(ok.values()), len(ok)) for wl, ok in lanes.items()}
    kept = []
    for r in raw:
        ok = lanes.get(r["workload"])
        if ok is None or counts[r["workload"]][0] == 0 or ok.get(r["rep"], False):
            kept.append(r)
    return kept, counts


def spread(vals):
    return (min(vals), max(vals)) if vals else (None, None)


def aggregate(raw, sysc):
    """Returns (workloads, allocators, rows) with one row per (workload, allocator)."""
    workloads = ordered_unique(r["workload"] for r in raw)
    # Runs are rotated between reps; report in one fixed order.
    allocators = sorted(ordered_unique(r["allocator"] for r in raw),
                        key=lambda a: (CANONICAL.index(a) if a in CANONICAL else len(CANONICAL), a))
    groups = {}
    for r in raw:
        groups.setdefault((r["workload"], r["allocator"]), []).append(r)
    sysmap = {}
    for r in sysc:
        try:
            calls, ops = int(r["syscalls"]), int(r["ops"])
            sysmap[(r["workload"], r["allocator"])] = calls / ops if ops else None
        except (ValueError, KeyError):
            pass
    rows = []
    for wl in workloads:
        for al in allocators:
            runs = groups.get((wl, al))
            if not runs:
                continue
            tp = [float(r["throughput"]) for r in runs if r["throughput"]]
            rss = [int(r["rss_kb"]) for r in runs if r["rss_kb"]]
            flt = [float(r["minflt_per_op"]) for r in runs if r.get("minflt_per_op")]
            row = {
                "workload": wl,
                "allocator": al,
                "runs": len(runs),
                "failed": len(runs) - len(tp),
                "median": statistics.median(tp) if tp else None,
                "cv": (statistics.pstdev(tp) * 100 / statistics.fmean(tp)) if len(tp) > 1 else None,
                "rss_mib": statistics.median(rss) / 1024 if rss else None,
                "sys_per_op": sysmap.get((wl, al)),
                "minflt": statistics.median(flt) if flt else None,
            }
            rows.append(row)
    # The ratio to the baseline is taken within each repetition (its runs
    # are back to back), then the median over repetitions: this machine
    # drifts between states for seconds at a time, and a per-rep ratio
    # cancels what a ratio of medians keeps.
    by_rep, rss_rep = {}, {}
    for r in raw:
        if r["throughput"]:
            by_rep.setdefault((r["workload"], r["allocator"]), {})[r["rep"]] = float(r["throughput"])
        if r["rss_kb"]:
            rss_rep.setdefault((r["workload"], r["allocator"]), {})[r["rep"]] = float(r["rss_kb"])
    for r in rows:
        mine = by_rep.get((r["workload"], r["allocator"]), {})
        base = by_rep.get((r["workload"], BASELINE), {})
        paired = [mine[k] / base[k] for k in mine if base.get(k)]
        r["ratio"] = statistics.median(paired) if paired else None
        r["ratio_spread"] = spread(paired)
        # Against the best peer of each repetition (the fastest of PEERS in
        # that repetition), and which peer that was most often.
        best, names = [], []
        for k in mine:
            peers = [(by_rep.get((r["workload"], p), {}).get(k), p) for p in PEERS]
            peers = [(v, p) for v, p in peers if v]
            if peers:
                v, p = max(peers)
                best.append(mine[k] / v)
                names.append(p)
        r["vs_best"] = statistics.median(best) if best else None
        r["vs_best_spread"] = spread(best)
        r["best_peer"] = max(set(names), key=names.count) if names else None
        peer_rss = [(q["rss_mib"], q["allocator"]) for q in rows
                    if q["workload"] == r["workload"] and q["allocator"] in PEERS and q["rss_mib"]]
        if peer_rss and r["rss_mib"]:
            v, p = min(peer_rss)
            r["rss_vs_best"], r["rss_best_peer"] = r["rss_mib"] / v, p
        else:
            r["rss_vs_best"], r["rss_best_peer"] = None, None
        # The same per repetition, for its spread.
        mine_rss = rss_rep.get((r["workload"], r["allocator"]), {})
        per = []
        for k, v in mine_rss.items():
            peers = [rss_rep.get((r["workload"], p), {}).get(k) for p in PEERS]
            peers = [x for x in peers if x]
            if peers:
                per.append(v / min(peers))
        r["rss_vs_best_spread"] = spread(per)
    return workloads, allocators, rows


def fmt(v, spec, none="-"):
    return none if v is None else format(v, spec)


def verdict(ok, v, lo=None, hi=None):
    """yes / no from the median, or "within noise" when the spread over the
    repetitions (lo..hi) has values on both sides of the goal."""
    if v is None:
        return None
    if lo is not None and hi is not None and ok(lo) != ok(hi):
        return "within noise"
    return "yes" if ok(v) else "no"


def fmt_spread(v, lo, hi, spec=".2f"):
    return fmt(v, spec) + (f" ({lo:{spec}}-{hi:{spec}})" if lo is not None and hi is not None else "")


def table_lines(rows, markdown):
    head = ["workload", "allocator", "M ops/s (median)", "vs mimalloc (min-max)", "CV %",
            "peak RSS MiB", "syscalls/op"]
    body = []
    for r in rows:
        tp = fmt(r["median"] / 1e6 if r["median"] else None, ".2f", "FAILED")
        if r["failed"] and r["median"]:
            tp += f" ({r['failed']} failed)"
        lo, hi = r["ratio_spread"]
        body.append([r["workload"], r["allocator"], tp, fmt_spread(r["ratio"], lo, hi),
                     fmt(r["cv"], ".1f"), fmt(r["rss_mib"], ".1f"), fmt(r["sys_per_op"], ".2e")])
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return out
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [line(head), line(["-" * w for w in widths])]
    prev = None
    for b in body:
        if prev is not None and b[0] != prev:
            out.append("")
        prev = b[0]
        out.append(line(b))
    return out


def callgrind_lines(cg, markdown):
    vals = []
    for r in cg:
        try:
            vals.append((r["allocator"], int(r["ir"]) / int(r["ops"])))
        except (ValueError, KeyError, ZeroDivisionError):
            vals.append((r.get("allocator", "?"), None))
    floor = dict(vals).get("floor")
    mi = dict(vals).get("mimalloc")
    mi_above = mi - floor if (mi is not None and floor is not None) else None

    def above(v):
        return v - floor if (v is not None and floor is not None) else None

    def vs_mi(v):  # the figure: own cost relative to mimalloc's own cost
        a = above(v)
        return a / mi_above if (a is not None and mi_above) else None

    head = ["allocator", "Ir/op", "above floor", "above floor / mimalloc's"]
    body = [[a, fmt(v, ".1f", "FAILED"), fmt(above(v), "+.1f"), fmt(vs_mi(v), ".2f")]
            for a, v in vals]
    if markdown:
        return ["| " + " | ".join(head) + " |", "|---|---|---|---|"] + \
               ["| " + " | ".join(b) + " |" for b in body]
    return ["  ".join(h.ljust(14) for h in head)] + \
           ["  ".join(c.ljust(14) for c in b) for b in body]


def steady_per_op(steady):
    """{allocator: syscalls per op after warm-up}: the longer traced run's
    calls beyond the shorter one's, per extra op."""
    out = {}
    for r in steady or []:
        try:
            d_ops = int(r["ops_long"]) - int(r["ops_short"])
            if d_ops > 0:
                out[r["allocator"]] = (int(r["calls_long"]) - int(r["calls_short"])) / d_ops
        except (ValueError, KeyError):
            pass
    return out


def best_peer_lines(rows, qualified, max_ns):
    """One line per lane: hakmem (preload) against the best peer."""
    head = ["lane", "hakmem vs best peer (median, min-max)", "best peer", "peak RSS MiB",
            "RSS vs best peer (min-max) [peer]", "reps in parallel"]
    body = []
    for r in rows:
        if r["allocator"] != "hakmem":
            continue
        lo, hi = r["vs_best_spread"]
        q = qualified.get(r["workload"])
        rlo, rhi = r["rss_vs_best_spread"]
        body.append([r["workload"], fmt_spread(r["vs_best"], lo, hi),
                     r["best_peer"] or "-", fmt(r["rss_mib"], ".1f"),
                     fmt_spread(r["rss_vs_best"], rlo, rhi)
                     + (f" [{r['rss_best_peer']}]" if r["rss_best_peer"] else ""),
                     f"{q[0]} of {q[1]}" if q else "-"])
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
           ["| " + " | ".join(b) + " |" for b in body]


def remote_target_lines(rows, cg, markdown=True):
    """The cross-thread targets: hakmem (preload) against the best peer."""
    idx = {(r["workload"], r["allocator"]): r for r in rows}

    def get(wl, key):
        r = idx.get((wl, "hakmem"))
        return r.get(key) if r else None

    T = []

    def add(what, target, key, wl, ok):
        v = get(wl, key)
        lo, hi = get(wl, key + "_spread") or (None, None)
        T.append((what, target, fmt_spread(v, lo, hi), verdict(ok, v, lo, hi)))

    for wl in ("mt_remote_50", "larson", "handoff"):
        add(f"{wl}, 2 threads: throughput vs the best peer", ">= 1.0", "vs_best", wl, lambda v: v >= 1.0)
    for wl in ("mt_remote_50_t4", "mt_remote_50_t8", "larson_t4", "larson_t8"):
        add(f"{wl}: throughput vs the best peer", ">= 0.9", "vs_best", wl, lambda v: v >= 0.9)
    mt = [(wl, get(wl, "rss_vs_best")) for wl in ("mt_remote_50", "larson", "handoff", "mt_remote_50_t4",
                                                  "mt_remote_50_t8", "larson_t4", "larson_t8")]
    mt = [(w, v) for w, v in mt if v is not None]
    if mt:
        w, v = max(mt, key=lambda x: x[1])
        lo, hi = get(w, "rss_vs_best_spread")
        T.append(("peak RSS vs the best peer, every lane above (worst)", "<= 1.3",
                  f"{fmt_spread(v, lo, hi)} ({w})", verdict(lambda x: x <= 1.3, v, lo, hi)))
    for wl in ("free_only_consumer", "node_window"):
        add(f"{wl}: peak RSS vs the best peer", "<= 2.0", "rss_vs_best", wl, lambda v: v <= 2.0)
    ir = {}
    for r in cg:
        try:
            ir[r["allocator"]] = int(r["ir"]) / int(r["ops"])
        except (ValueError, KeyError, ZeroDivisionError):
            pass
    v = ir.get("hakmem")
    T.append(("random_mixed Ir/op, preload (before the cross-thread work: 50.73)", "<= 51.23",
              fmt(v, ".2f"), verdict(lambda x: x <= 51.23, v)))
    head = ["figure (hakmem, preload)", "goal", "measured (median, min-max)", "met"]
    body = [[w, g, m, "-" if ok is None else ok] for w, g, m, ok in T]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
           ["| " + " | ".join(b) + " |" for b in body]


def large_target_lines(rows, micro, steady=None):
    """The large-block targets: hakmem (preload) against the best peer."""
    idx = {(r["workload"], r["allocator"]): r for r in rows}
    T = []

    def add(what, target, wl, key, ok):
        r = idx.get((wl, "hakmem"))
        v = r.get(key) if r else None
        lo, hi = (r.get(key + "_spread") if r else None) or (None, None)
        T.append((what, target, fmt_spread(v, lo, hi), verdict(ok, v, lo, hi)))

    add("large_churn: throughput vs the best peer (time <= 1.0)", ">= 1.0", "large_churn", "vs_best",
        lambda v: v >= 1.0)
    add("large_churn: peak RSS vs the best peer", "<= 1.3", "large_churn", "rss_vs_best",
        lambda v: v <= 1.3)
    mine = idx.get(("large_churn", "hakmem"), {}).get("minflt")
    peers = [(idx[("large_churn", p)]["minflt"], p) for p in PEERS
             if ("large_churn", p) in idx and idx[("large_churn", p)].get("minflt") is not None]
    if peers:
        best, who = min(peers)
        T.append(("large_churn: minor faults per op", f"<= best peer's ({who}: {best:.1f})",
                  fmt(mine, ".1f"), verdict(lambda v: v <= best, mine)))
    add("large_churn_t2: throughput vs the best peer (time <= 1.1)", ">= 0.91", "large_churn_t2",
        "vs_best", lambda v: v >= 1 / 1.1)
    add("handoff_large (100 KB, all freed by the other thread): throughput vs the best peer "
        "(time <= 1.5)", ">= 0.67", "handoff_large", "vs_best", lambda v: v >= 1 / 1.5)
    hk, tc = micro.get("hakmem", {}), micro.get("tcmalloc", {})
    for n in (131072, 262144, 1048576, 4194304):
        name = f"BM_MallocFree/{n}"
        v = hk.get(name) / tc[name] if hk.get(name) and tc.get(name) else None
        T.append((f"{name}: ns vs tcmalloc", "<= 1.0",
                  "-" if v is None else f"{v:.2f} ({hk[name]:.1f} vs {tc[name]:.1f} ns)",
                  verdict(lambda x: x <= 1.0, v)))
    head = ["figure (hakmem, preload)", "goal", "measured (median, min-max)", "met"]
    body = [[w, g, m, "-" if ok is None else ok] for w, g, m, ok in T]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
           ["| " + " | ".join(b) + " |" for b in body]


def target_lines(rows, cg, micro, steady=None):
    """The speed and footprint targets, each beside the figure this run measured."""
    idx = {(r["workload"], r["allocator"]): r for r in rows}
    steady = steady_per_op(steady)

    def ratio(wl, al="hakmem", key="ratio"):
        r = idx.get((wl, al))
        if r is None:
            return None
        if key == "rss":
            b = idx.get((wl, BASELINE))
            return r["rss_mib"] / b["rss_mib"] if (b and b["rss_mib"] and r["rss_mib"]) else None
        return r[key]

    ir = {}
    for r in cg:
        try:
            ir[r["allocator"]] = int(r["ir"]) / int(r["ops"])
        except (ValueError, KeyError, ZeroDivisionError):
            pass
    ir_ratio = None
    if all(k in ir for k in ("floor", "mimalloc", "hakmem")) and ir["mimalloc"] > ir["floor"]:
        ir_ratio = (ir["hakmem"] - ir["floor"]) / (ir["mimalloc"] - ir["floor"])
    pairs = []  # (size, hakmem ns / mimalloc ns) for the malloc+free pair
    hk, mi = micro.get("hakmem", {}), micro.get(BASELINE, {})
    for n, v in hk.items():
        if n.startswith("BM_MallocFree/") and n in mi and mi[n]:
            size = int(n.split("/")[1])
            if size <= 1024:
                pairs.append((size, v / mi[n]))
    pairs.sort()
    rss_all = [(r["workload"], a) for r in rows if r["allocator"] in ("hakmem", "hakmem-direct")
               for a in [ratio(r["workload"], r["allocator"], "rss")] if a is not None]
    worst = max(rss_all, key=lambda x: x[1]) if rss_all else None

    T = []  # (what, target, measured text, verdict or None)

    def add(what, target, v, ok, spec=".2f", spread=(None, None)):
        lo, hi = spread
        T.append((what, target, fmt_spread(v, lo, hi, spec) if lo is not None else fmt(v, spec),
                  None if v is None or ok(v) is None else verdict(ok, v, lo, hi)))

    def sp(wl, al="hakmem"):
        r = idx.get((wl, al))
        return r["ratio_spread"] if r else (None, None)

    add("random_mixed Ir/op above floor, hakmem / mimalloc", "<= 0.5", ir_ratio, lambda v: v <= 0.5)
    add("random_mixed throughput, preload", ">= 1.05", ratio("random_mixed"), lambda v: v >= 1.05,
        spread=sp("random_mixed"))
    add("random_mixed throughput, direct hk_heap_malloc", ">= 1.15",
        ratio("random_mixed", "hakmem-direct"), lambda v: v >= 1.15,
        spread=sp("random_mixed", "hakmem-direct"))
    add("(reference) random_mixed throughput of the floor lane: the loop over a no-op allocator",
        "-", ratio("random_mixed", "floor"), lambda v: None, spread=sp("random_mixed", "floor"))
    add("random_mixed peak RSS", "<= 1.2", ratio("random_mixed", key="rss"), lambda v: v <= 1.2)
    if "hakmem" in steady:
        add("random_mixed syscalls/op after warm-up (strace: longer run minus shorter)",
            "<= 1e-8", steady["hakmem"], lambda v: v <= 1e-8, ".2e")
    else:  # start-up and warm-up are in this count, so it cannot decide the goal
        add("random_mixed syscalls/op (short strace run, start-up included)", "<= 1e-8 after warm-up",
            (idx.get(("random_mixed", "hakmem")) or {}).get("sys_per_op"), lambda v: None, ".2e")
    for wl in ("random_mixed_medium", "random_mixed_wide", "mt_remote_0", "mt_remote_50", "larson"):
        add(f"{wl} throughput, preload", ">= 1.0", ratio(wl), lambda v: v >= 1.0, spread=sp(wl))
    if pairs:
        bad = [f"{sz} B ({r:.2f})" for sz, r in pairs if r > 1.0]
        T.append(("malloc+free pair 16-1024 B, ns", "<= 1.0 at every size",
                  f"{len(pairs) - len(bad)} of {len(pairs)} sizes <= 1.0"
                  + (("; above: " + ", ".join(bad)) if bad else ""), "no" if bad else "yes"))
    if worst:
        T.append(("peak RSS, every workload (worst)", "<= 1.5",
                  f"{worst[1]:.2f} ({worst[0]})", "yes" if worst[1] <= 1.5 else "no"))
    head = ["figure (hakmem vs mimalloc)", "goal", "measured (median, min-max)", "met"]
    body = [[w, g, m, "-" if ok is None else ok] for w, g, m, ok in T]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
           ["| " + " | ".join(b) + " |" for b in body]


def read_micro(micro_dir):
    """{allocator: {benchmark: median ns per item}} from Google Benchmark JSON,
    one file per allocator and round (ALLOC.rN.json): the median over rounds."""
    runs = {}
    if not micro_dir or not os.path.isdir(micro_dir):
        return {}
    for fn in sorted(os.listdir(micro_dir)):
        if not fn.endswith(".json"):
            continue
        alloc = fn[:-5].rsplit(".r", 1)[0]
        try:
            with open(os.path.join(micro_dir, fn)) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        for b in data.get("benchmarks", []):
            if b.get("run_type", "iteration") == "iteration" and b.get("items_per_second"):
                runs.setdefault(alloc, {}).setdefault(b.get("run_name", b["name"]), []).append(
                    1e9 / b["items_per_second"])
    return {a: {n: statistics.median(v) for n, v in res.items()} for a, res in runs.items()}


def micro_lines(micro, markdown):
    allocs = sorted(micro, key=lambda a: (CANONICAL.index(a) if a in CANONICAL else 99, a))
    names = ordered_unique(n for a in allocs for n in micro[a])
    head = ["benchmark (ns/item, median)"] + allocs
    body = [[n] + [fmt(micro[a].get(n), ".1f") for a in allocs] for n in names]
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + \
               ["| " + " | ".join(b) + " |" for b in body]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + body]


KEY = {"hakmem": "hakmem (LD_PRELOAD)", "hakmem-direct": "hakmem-direct (hk_heap_malloc, static link)",
       "floor": "floor (no-op allocator)"}


def write_plot(workloads, allocators, rows, png, datadir, meta=None):
    """Two clustered bar charts: throughput ratio vs mimalloc with the
    min-max over repetitions as error bars, and peak RSS."""
    meta = meta or {}
    idx = {(r["workload"], r["allocator"]): r for r in rows}
    # One file per panel: columnheader() reads the first row of the file.
    dats = {}
    for key in ("ratio", "rss_mib"):
        dats[key] = os.path.join(datadir, f"chart_{key}.dat")
        with open(dats[key], "w") as f:
            names = [f'"{KEY.get(a, a)}"' for a in allocators]
            if key == "ratio":  # value, low, high per allocator
                names = [x for n in names for x in (n, '"lo"', '"hi"')]
            f.write("workload " + " ".join(names) + "\n")
            for wl in workloads:
                cells = []
                for al in allocators:
                    r = idx.get((wl, al))
                    v = r[key] if r else None
                    cells.append("?" if v is None else f"{v:.4f}")
                    if key == "ratio":
                        lo, hi = r["ratio_spread"] if r else (None, None)
                        cells += ["?" if lo is None else f"{lo:.4f}", "?" if hi is None else f"{hi:.4f}"]
                f.write(f'"{wl}" ' + " ".join(cells) + "\n")
    n = len(allocators)
    ext = os.path.splitext(png)[1].lower()
    term = ("set terminal svg size 1200,900 dynamic font 'sans,11'" if ext == ".svg"
            else "set terminal pngcairo size 1200,900 font 'sans,10'")
    run = (f"{meta.get('mode', '?')} run, {meta.get('reps', '?')} repetitions, "
           f"commit {meta.get('commit', '?')}, {meta.get('date', '')}")
    gp = os.path.join(datadir, "chart.gp")
    with open(gp, "w") as f:
        f.write(f"""{term}
set output '{png}'
set datafile missing '?'
set style data histogram
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set grid ytics
set xtics rotate by -30 noenhanced
set bmargin 8
set key noenhanced
set multiplot layout 2,1 title "hakmem benchmarks: {run}" noenhanced
set title 'Throughput relative to mimalloc (higher is better): median of per-repetition ratios, bars min-max'
set style histogram errorbars gap 1 lw 1
set ylabel 'ratio'
set yrange [0:*]
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lc rgb 'black'
plot for [i=0:{n - 1}] '{dats["ratio"]}' using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) title columnheader(2+3*i)
set title 'Peak RSS (lower is better): median over repetitions'
set style histogram cluster gap 1
set ylabel 'MiB'
unset arrow 1
set logscale y
set yrange [*:*]
plot for [i=2:{n + 1}] '{dats["rss_mib"]}' using i:xtic(1) title columnheader(i)
unset multiplot
""")
    try:
        subprocess.run(["gnuplot", gp], check=True, capture_output=True, text=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", "") or str(e)
        print(f"report: gnuplot failed, no chart: {err.strip()}", file=sys.stderr)
        return False


VM_NOTE = ("VmPeak is the process's peak virtual size (/proc/self/status) in a run of "
           "the statically linked `<bench>_hk` binary, program, thread stacks and "
           "libraries included; peak mapped is the default heap's own figure "
           "(`hk_stats_t.peak_mapped_bytes`). The goal: at most twice what the heap "
           "mapped, plus 1 GiB.")


def vm_lines(vm):
    """Address space per workload against the goal VmPeak <= 2 x peak mapped + 1 GiB."""
    L = ["| workload | VmPeak MiB | peak mapped MiB | goal MiB (2 x mapped + 1024) | met |",
         "|---|---:|---:|---:|---|"]
    for r in vm:
        v, m = int(r["vm_peak_kb"]) / 1024, int(r["peak_mapped_kb"]) / 1024
        goal = 2 * m + 1024
        L.append(f"| {r['workload']} | {v:.0f} | {m:.0f} | {goal:.0f} | {'yes' if v <= goal else 'no'} |")
    return L


def write_markdown(path, meta, rows, cg, chart, notes, micro, steady=None, qualified=None, vm=None):
    L = ["# hakmem benchmarks", "",
         "Generated by `bash bench/compare.sh --{}`; do not edit by hand.".format(meta.get("mode", "quick")),
         "", "## Machine", ""]
    for key in ("date", "mode", "reps", "machine", "cpu", "nproc", "kernel", "commit"):
        if key in meta:
            L.append(f"- {key}: {meta[key]}")
    vers = sorted(k for k in meta if k.startswith("version."))
    if vers:
        L.append("- versions: " + ", ".join(f"{k[8:]} {meta[k]}" for k in vers))
    max_ns = meta.get("pingpong_max_ns", "400")
    L += ["", "## Cross-thread targets", ""]
    L += remote_target_lines(rows, cg)
    L += ["", VERDICT_NOTE, "", "Ratios to the best peer: in each repetition, hakmem's throughput over "
          "the best of glibc, mimalloc, jemalloc and tcmalloc in that repetition; the "
          "median over repetitions and, in brackets, the lowest and highest. Peak RSS "
          "against the peer with the lowest. Multi-thread lanes count only repetitions "
          f"whose two cores ran at the same time (a core-to-core ping-pong of at most "
          f"{max_ns} ns before each run, bench/bench_pingpong.c; see Method).", ""]
    L += best_peer_lines(rows, qualified or {}, max_ns)
    L += ["", "## Large-block targets", ""]
    L += large_target_lines(rows, micro)
    L += ["", "Minor faults per op: `ru_minflt` over the timed steps of bench_large_churn, "
          "median over the repetitions. BM_MallocFree: Google Benchmark, median ns per "
          "malloc+free pair (Microbenchmarks below).", ""]
    L += ["", "## Single-thread targets", ""]
    L += target_lines(rows, cg, micro, steady)
    L += ["", VERDICT_NOTE, "", "The speed and footprint goals, each beside this run's figure: ratios "
          "to mimalloc (throughput above 1 is faster, RSS and ns below 1 are "
          "better). Lanes this run skipped show `-`. Syscalls after warm-up: "
          "random_mixed traced with strace at 1/40 and at the full op count; "
          "the calls the longer run makes beyond the shorter one, per extra "
          "op (mmap, munmap, madvise, mprotect, mremap, brk). docs/policies.md "
          "has the same figure from the heap's own counters.", ""]
    if vm:
        L += ["## Address space", ""] + vm_lines(vm) + ["", VM_NOTE, ""]
    L += ["## Results", ""]
    L += table_lines(rows, markdown=True)
    L += ["", "Throughput is the median over the repetitions (allocators interleaved "
          "A B C ... A B C ...); \"vs mimalloc\" is the median over the repetitions of "
          "the ratio within each one (its runs are back to back, so the machine's "
          "drift between repetitions cancels); CV is the population coefficient of "
          "variation of the runs. Peak RSS is the median of each run's `ru_maxrss`. Syscalls/op "
          "counts mmap, munmap, madvise, brk and mprotect under `strace -f -c` in a "
          "separate shorter run, divided by that run's total op count (warm-up "
          "included, process start-up too).", ""]
    if chart:
        L += [f"![throughput ratio and RSS]({os.path.basename(chart)})", ""]
    if cg:
        L += ["## Instructions per op (callgrind)", ""]
        L += callgrind_lines(cg, markdown=True)
        L += ["", "random_mixed under `valgrind --tool=callgrind`; total Ir of the whole "
              "process divided by its op count (prefault included). `floor` is "
              "libfloor_malloc.so, a single LIFO list of fixed blocks: what is above it "
              "is the allocator's own work.", ""]
    if micro:
        L += ["## Microbenchmarks (Google Benchmark)", ""]
        L += micro_lines(micro, markdown=True)
        L += ["", "bench/bench_micro.cpp through the C shim bench/shim.c: nanoseconds "
              "per item (an item is one malloc+free pair, one allocation or free of a "
              "batch, one realloc step, or one block freed by another thread), median "
              "over interleaved rounds (each round runs every allocator once). "
              "BM_HeapCreateDestroy exists only for hakmem.", ""]
    L += ["## Workloads", ""] + [f"- {n}" for n in notes] + [""]
    L += ["## Allocators", "",
          "- glibc: the system malloc (no preload).",
          "- hakmem: libhakmem_malloc.so through LD_PRELOAD (the malloc override).",
          "- hakmem-direct: the same source built as `<bench>_hk`, calling "
          "hk_heap_malloc(hk_heap_default(), n) and hk_free, statically linked.",
          "- mimalloc, jemalloc, tcmalloc: the Debian libraries through LD_PRELOAD "
          "(tcmalloc is libtcmalloc_minimal).",
          "- floor: bench/floor_malloc.c, one per-thread LIFO list of fixed 1088-byte "
          "blocks; only for sizes <= 1039 (the random_mixed lane). The distance to it "
          "is what allocation costs beyond the benchmark loop itself.", "",
          "## Reproducing", "",
          "```sh",
          "bash bench/compare.sh --quick      # into build-bench/report/ (README: how long)",
          "bash bench/compare.sh --full --update-docs  # these figures: 7 reps, callgrind, microbenchmarks",
          "bash bench/soak.sh --seconds 600   # RSS/throughput drift and latency percentiles",
          "build-bench/bench/bench_random_mixed_hk 20000000 400 1",
          "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 build-bench/bench/bench_random_mixed 20000000 400 1",
          "```", "",
          "The machine is shared and has 2 cores: expect run-to-run noise (see the CV "
          "column); compare ratios taken in the same run rather than absolute numbers "
          "across runs.", ""]
    with open(path, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--vm", help="vm.csv: hakmem-direct's VmPeak and peak mapped bytes")
    ap.add_argument("--syscalls")
    ap.add_argument("--steady", help="steady.csv: random_mixed traced at two lengths")
    ap.add_argument("--callgrind")
    ap.add_argument("--meta")
    ap.add_argument("--notes", help="file with one workload description per line")
    ap.add_argument("--micro-dir")
    ap.add_argument("--md")
    ap.add_argument("--chart")
    ap.add_argument("--workdir", default=".")
    a = ap.parse_args()

    raw = read_csv(a.raw)
    meta = read_meta(a.meta)
    cg = read_csv(a.callgrind)
    if not raw:
        print("report: no results", file=sys.stderr)
        return 1
    max_ns = float(meta.get("pingpong_max_ns", "400"))
    raw, qualified = qualify(raw, max_ns)
    workloads, allocators, rows = aggregate(raw, read_csv(a.syscalls))
    print("\n".join(table_lines(rows, markdown=False)))
    print("\n" + PAIRED_NOTE)
    print("\nhakmem against the best peer:")
    for line in best_peer_lines(rows, qualified, meta.get("pingpong_max_ns", "400")):
        print(line)
    print("\nCross-thread targets:")
    for line in remote_target_lines(rows, cg):
        print(line)
    print("\nLarge-block targets:")
    for line in large_target_lines(rows, read_micro(a.micro_dir)):
        print(line)
    vm = read_csv(a.vm)
    if vm:
        print("\nAddress space (hakmem-direct):")
        print("\n".join(vm_lines(vm)))
    print("\nSingle-thread targets (ratios to mimalloc):")
    for line in target_lines(rows, cg, read_micro(a.micro_dir), read_csv(a.steady)):
        print(line)
    print("\n" + VERDICT_NOTE)
    for wl, (k, n) in sorted(qualified.items()):
        if k == 0:
            print(f"report: {wl}: no repetition ran with both cores in parallel "
                  f"(ping-pong <= {max_ns:.0f} ns); its figures are from time-shared cores",
                  file=sys.stderr)
    if cg:
        print("\ncallgrind (random_mixed):")
        print("\n".join(callgrind_lines(cg, markdown=False)))
    micro = read_micro(a.micro_dir)
    if micro:
        print("\nmicrobenchmarks:")
        print("\n".join(micro_lines(micro, markdown=False)))
    chart_ok = False
    if a.chart:
        chart_ok = write_plot(workloads, allocators, rows, os.path.abspath(a.chart), a.workdir, meta)
    if a.md:
        notes = []
        if a.notes and os.path.exists(a.notes):
            with open(a.notes) as f:
                notes = [l.strip() for l in f if l.strip()]
        write_markdown(a.md, meta, rows, cg, a.chart if chart_ok else None, notes, micro,
                       read_csv(a.steady), qualified, vm)
        print(f"\nwrote {a.md}" + (f" and {a.chart}" if chart_ok else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
