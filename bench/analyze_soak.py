#!/usr/bin/env python3
"""Summarise soak CSVs written by `bench_random_mixed --soak`.

usage: analyze_soak.py SOAK.csv [SOAK2.csv ...]

For each CSV (epoch,elapsed_s,ops,ns_per_op,throughput,rss_kb) prints RSS
drift (first vs last epoch), throughput drift, throughput CV, percentiles of
the per-epoch ns/op, and, if SOAK.csv.lat.csv exists, p50/p99/p99.9 of the
sampled per-operation latency histogram. Informational only: the exit status
is nonzero only for unreadable input.
"""
import csv
import os
import statistics
import sys


def percentile(sorted_vals, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return float("nan")
    rank = max(1, min(len(sorted_vals), int(q * len(sorted_vals) + 0.999999)))
    return sorted_vals[rank - 1]


def hist_percentile(buckets, total, q):
    """buckets: [(lower, upper, count)] sorted; returns the bucket midpoint."""
    if total == 0:
        return float("nan")
    rank = max(1, int(q * total + 0.999999))
    seen = 0
    for lo, hi, n in buckets:
        seen += n
        if seen >= rank:
            return (lo + hi) / 2
    return buckets[-1][1]


def pct_change(first, last):
    return (last - first) * 100.0 / first if first else float("nan")


def read_epochs(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {
            "epoch": int(r["epoch"]),
            "elapsed": float(r["elapsed_s"]),
            "ops": int(r["ops"]),
            "ns": float(r["ns_per_op"]),
            "tput": float(r["throughput"]),
            "rss": int(r["rss_kb"]),
        }
        for r in rows
    ]


def read_hist(path):
    with open(path, newline="") as f:
        return sorted(
            (int(r["lower_ns"]), int(r["upper_ns"]), int(r["count"]))
            for r in csv.DictReader(f)
        )


def analyze(path):
    rows = read_epochs(path)
    print(f"== {path}")
    if not rows:
        print("no epochs recorded")
        return
    first, last = rows[0], rows[-1]
    rss = [r["rss"] for r in rows]
    tput = [r["tput"] for r in rows]
    ns = sorted(r["ns"] for r in rows)
    total_ops = sum(r["ops"] for r in rows)
    print(f"epochs           {len(rows)}  ({last['elapsed']:.1f} s, {total_ops} ops)")
    print(
        f"RSS kB           first {first['rss']}  last {last['rss']}  max {max(rss)}  "
        f"drift {last['rss'] - first['rss']:+d} kB ({pct_change(first['rss'], last['rss']):+.1f}%)"
    )
    if len(rows) > 2:
        # The first epoch includes the warm-up; drift after it is the leak signal.
        second = rows[1]
        print(
            f"RSS after warm-up epoch 1 {second['rss']} -> last {last['rss']}  "
            f"drift {last['rss'] - second['rss']:+d} kB"
        )
    mean = statistics.fmean(tput)
    cv = statistics.pstdev(tput) * 100.0 / mean if mean else float("nan")
    print(
        f"throughput M/s   first {first['tput'] / 1e6:.2f}  last {last['tput'] / 1e6:.2f}  "
        f"drift {pct_change(first['tput'], last['tput']):+.1f}%  mean {mean / 1e6:.2f}  CV {cv:.1f}%"
    )
    # Single epochs are noisy on a shared machine; compare 10% windows too.
    k = max(1, len(rows) // 10)
    head, tail = statistics.fmean(tput[:k]), statistics.fmean(tput[-k:])
    print(f"throughput drift first {k} vs last {k} epochs (means): {pct_change(head, tail):+.1f}%")
    print(
        f"epoch ns/op      p50 {percentile(ns, 0.5):.2f}  p99 {percentile(ns, 0.99):.2f}  "
        f"p99.9 {percentile(ns, 0.999):.2f}  max {ns[-1]:.2f}"
    )
    lat_path = path + ".lat.csv"
    if os.path.exists(lat_path):
        buckets = read_hist(lat_path)
        total = sum(n for _, _, n in buckets)
        print(
            f"sampled op ns    p50 {hist_percentile(buckets, total, 0.5):.0f}  "
            f"p99 {hist_percentile(buckets, total, 0.99):.0f}  "
            f"p99.9 {hist_percentile(buckets, total, 0.999):.0f}  "
            f"max<= {buckets[-1][1] if buckets else 0}  ({total} samples, includes clock reads)"
        )
    else:
        print("sampled op ns    (no histogram file)")


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    status = 0
    for path in argv[1:]:
        try:
            analyze(path)
        except (OSError, KeyError, ValueError) as e:
            print(f"{path}: cannot read: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
