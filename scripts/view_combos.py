#!/usr/bin/env python3
"""Scores averages of test-time views from `view_dump` output, with paired intervals.

    scripts/view_combos.py DUMP.tsv [DUMP2.tsv ...] -- BASE COMBO [COMBO ...]

A combo is view names joined by `+` (as in the dump's header), e.g. `plain+crop75+mirror+crop75mirror`;
its log-probabilities are averaged and renormalised. With several dumps (say, one per network of an
ensemble) each combo is also scored on their mean. For every combo: top-1, top-5, log-loss, and the
share of photos answerable at >= 90% precision (P90), then each combo minus BASE on the same photos
with a 95% interval from 2,000 resamples of the photos.
"""
import math
import random
import sys

RESAMPLES = 2000


def read(path):
    """(view names, [(photo path, label index, {view: [log p]})])."""
    rows = []
    with open(path) as f:
        header = f.readline().lstrip("#").rstrip("\n").split("\t")
        views = header[5:]
        for line in f:
            cols = line.rstrip("\n").split("\t")
            logs = {v: [float(x) for x in c.split(",")] for v, c in zip(views, cols[5:])}
            rows.append((cols[0], int(cols[1]), logs))
    return views, rows


def normalised_mean(vectors):
    mean = [sum(v) / len(vectors) for v in zip(*vectors)]
    top = max(mean)
    z = top + math.log(sum(math.exp(x - top) for x in mean))
    return [x - z for x in mean]


def per_photo(dumps, combo):
    """For each photo: (top-1 right, in top-5, -log p(truth), top-1 probability)."""
    names = combo.split("+")
    out = []
    for i in range(len(dumps[0])):
        label = dumps[0][i][1]
        logs = normalised_mean([d[i][2][v] for d in dumps for v in names])
        order = sorted(range(len(logs)), key=lambda j: -logs[j])
        out.append((order[0] == label, label in order[:5], -logs[label], math.exp(logs[order[0]])))
    return out


def p90(rows):
    """Largest share of photos, answered in order of confidence, still >= 90% right."""
    ranked = sorted(rows, key=lambda r: -r[3])
    best, right = 0, 0
    for n, r in enumerate(ranked, 1):
        right += r[0]
        if right >= 0.9 * n:
            best = n
    return best / len(rows)


def summary(rows):
    n = len(rows)
    return [sum(r[0] for r in rows) / n, sum(r[1] for r in rows) / n, sum(r[2] for r in rows) / n, p90(rows)]


def main():
    if "--" not in sys.argv or sys.argv.index("--") < 2:
        sys.exit(__doc__)
    cut = sys.argv.index("--")
    paths, combos = sys.argv[1:cut], sys.argv[cut + 1 :]
    if len(combos) < 2:
        sys.exit(__doc__)
    dumps = [read(p)[1] for p in paths]
    for d in dumps[1:]:
        if [r[0] for r in d] != [r[0] for r in dumps[0]]:
            sys.exit("the dumps do not list the same photos in the same order")
    sets = [(p, [d]) for p, d in zip(paths, dumps)]
    if len(dumps) > 1:
        sets.append(("mean of all", dumps))
    rng = random.Random(0)
    n = len(dumps[0])
    samples = [[rng.randrange(n) for _ in range(n)] for _ in range(RESAMPLES)]
    lo, hi = int(0.025 * RESAMPLES), int(0.975 * RESAMPLES) - 1
    for name, ds in sets:
        print(f"\n{name} ({n} photos): top-1 / top-5 / log-loss / P90; minus {combos[0]} [95% interval]")
        base = per_photo(ds, combos[0])
        for combo in combos:
            rows = per_photo(ds, combo)
            t1, t5, ll, p = summary(rows)
            line = f"{combo:50} {t1:.3f} / {t5:.3f} / {ll:.3f} / {p:.3f}"
            if combo != combos[0]:
                deltas = []
                for k in range(3):
                    diff = [rows[i][k] - base[i][k] for i in range(n)]
                    boots = sorted(sum(diff[i] for i in s) / n for s in samples)
                    deltas.append(f"{sum(diff) / n:+.3f} [{boots[lo]:+.3f}, {boots[hi]:+.3f}]")
                line += "   " + " / ".join(deltas)
            print(line)


if __name__ == "__main__":
    main()
