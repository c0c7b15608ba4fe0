"""Fairness CIs: batched confusion-matrix bootstrap vs one fairlearn MetricFrame per resample.

The fairness audit takes its point values from MetricFrame and its CIs from per-group
confusion matrices batched over all resamples (auditkit.audits.fairness.metrics). This prints
the time of both routes for the same resamples, side by side, and checks they agree.

    PYTHONPATH=. python bench/fairness_bootstrap.py [--probes 200] [--resamples 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from auditkit.audits.fairness.metrics import (
    grouped_confusions,
    metric_frame,
    rates_from_confusions,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--resamples", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    p, g, k = args.probes, args.groups, args.classes
    y = np.repeat(rng.integers(0, k, p), g)
    pred = np.where(rng.random(p * g) < 0.8, y, rng.integers(0, k, p * g))
    group = np.tile(np.arange(g), p)
    names = [f"g{i}" for i in range(g)]
    clusters = np.arange(p * g).reshape(p, g)
    idx = rng.integers(0, p, size=(args.resamples, p))

    def batched() -> np.ndarray:
        rows = clusters[idx].reshape(len(idx), -1)
        return rates_from_confusions(grouped_confusions(y, pred, group, k, g, rows))["accuracy"]

    def per_resample() -> np.ndarray:
        out = []
        for r in idx:
            rows = clusters[r].ravel()
            frame = metric_frame(y[rows], pred[rows], [names[i] for i in group[rows]], k)
            out.append(frame.by_group["accuracy"].reindex(names).to_numpy())
        return np.array(out)

    times: dict[str, list[float]] = {"batched": [], "metricframe": []}
    for _ in range(args.repeats):
        for name, fn in (("batched", batched), ("metricframe", per_resample)):
            start = time.perf_counter()
            values = fn()
            times[name].append(time.perf_counter() - start)
            if name == "batched":
                reference = values
            else:
                np.testing.assert_allclose(values, reference)
    b, m = statistics.median(times["batched"]), statistics.median(times["metricframe"])
    print(f"{p} probes x {g} groups, {args.resamples} resamples, median of {args.repeats}")
    print(f"  batched confusions : {b * 1000:9.1f} ms")
    print(f"  MetricFrame loop   : {m * 1000:9.1f} ms")
    print(f"  ratio              : {m / b:9.1f}x (same per-group accuracies)")


if __name__ == "__main__":
    main()
