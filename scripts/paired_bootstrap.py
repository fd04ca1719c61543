#!/usr/bin/env python3
"""Paired bootstrap of two configurations on the same labelled photos: is a difference noise?

    scripts/paired_bootstrap.py SET A1 B1 [A2 B2 ...]

Each RUN's `eval/SET/predictions.csv` (written by `sneaker-id evaluate --model RUN --data .../SET`)
holds one row of probabilities per photo. Prints B minus A for top-1, top-5 and log-loss with a 95%
interval from 2,000 resamples of the photos; with several (A, B) pairs (say, one per seed) the
pairs are resampled together and averaged, so seed noise and photo noise both show.
"""
import csv
import math
import random
import sys
from pathlib import Path

RESAMPLES = 2000


def per_photo(run, dataset):
    """photo path -> (top-1 right, in top-5, -log p(true label))."""
    path = Path(run) / "eval" / dataset / "predictions.csv"
    rows = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        labels = next(reader)[2:]
        for row in reader:
            probs = [float(v) for v in row[2:]]
            truth = labels.index(row[1])
            order = sorted(range(len(probs)), key=lambda i: -probs[i])
            rows[row[0]] = (order[0] == truth, truth in order[:5], -math.log(max(probs[truth], 1e-15)))
    return rows


def mean_difference(pairs, photos):
    total = [0.0, 0.0, 0.0]
    for a, b in pairs:
        for p in photos:
            for k in range(3):
                total[k] += b[p][k] - a[p][k]
    n = len(photos) * len(pairs)
    return [t / n for t in total]


def main():
    if len(sys.argv) < 4 or len(sys.argv) % 2:
        sys.exit(__doc__)
    dataset, runs = sys.argv[1], sys.argv[2:]
    pairs = [(per_photo(runs[i], dataset), per_photo(runs[i + 1], dataset)) for i in range(0, len(runs), 2)]
    photos = sorted(pairs[0][0])
    for a, b in pairs:
        if sorted(a) != photos or sorted(b) != photos:
            sys.exit("the runs were not evaluated on the same photos")
    observed = mean_difference(pairs, photos)
    rng = random.Random(0)
    boots = [mean_difference(pairs, [rng.choice(photos) for _ in photos]) for _ in range(RESAMPLES)]
    lo, hi = int(0.025 * RESAMPLES), int(0.975 * RESAMPLES) - 1
    print(f"{len(photos)} photos, {len(pairs)} pair(s), B minus A, 95% interval")
    for k, name in enumerate(["top-1", "top-5", "log-loss"]):
        s = sorted(b[k] for b in boots)
        print(f"{name:9} {observed[k]:+.3f}  [{s[lo]:+.3f}, {s[hi]:+.3f}]")


if __name__ == "__main__":
    main()
