"""Does the gate hold its error rates? Simulated paired runs through the real gate code.

Per-example outcomes of a baseline and a candidate on the same n test examples are drawn with
a known true change, turned into the snapshots the gate reads (`Examples` with class
probabilities, metrics recomputed from them), and judged by the gate's own `_prepare`,
`adjust` and `_finish`, as `auditkit gate` would. It prints, for each n:

- the family-wise false-failure rate with nothing changed (the same accuracy, different
  errors), 4 bare checks (accuracy, macro-F1, weighted-F1, Brier: any significant worsening
  fails), with Holm and without a correction;
- the detection rate of the accuracy check (McNemar) when the true drop equals the minimum
  detectable effect the gate reports for that discordance: it should be about 0.80;
- the non-inferiority policy's pass rate when the true drop equals the bound (accuracy,
  `max_drop` = `--bound`, Tango's score test): it should be at most alpha; and, beside it,
  its pass rate for an unchanged model (its power at that bound);
- the exact McNemar p-values of every simulated table against statsmodels' `mcnemar(exact=
  True)`, when statsmodels is installed (the largest difference is printed).

    python bench/gate_calibration.py                  # 2,000 simulations per n
    python bench/gate_calibration.py --sims 400       # quicker, wider intervals
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
LABELS = ["negative", "neutral", "positive"]


def outcomes(rng, n: int, acc: float, disc: float, drop: float):
    """Correctness of baseline and candidate: lost and gained shares (disc +- drop) / 2."""
    lost, gained = (disc + drop) / 2, (disc - drop) / 2
    p = [lost, gained, acc - lost, 1 - acc - gained]  # 10, 01, 11, 00
    kind = rng.choice(4, size=n, p=p)
    base = np.isin(kind, (0, 2))
    cand = np.isin(kind, (1, 2))
    return base, cand


def probs_for(rng, y: np.ndarray, correct: np.ndarray) -> np.ndarray:
    """Class probabilities whose argmax is gold exactly where `correct`."""
    n, k = len(y), len(LABELS)
    target = np.where(correct, y, (y + rng.integers(1, k, n)) % k)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), target] = logits.max(axis=1) + 0.5 + rng.exponential(1.0, n)
    e = np.exp(logits - logits.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def snapshot(y, probs, run_id: str):
    from auditkit import metrics as M
    from auditkit.api.results import Metric, ModelInfo
    from auditkit.gate.baseline import AuditSnapshot, Examples, Snapshot

    pred = probs.argmax(1)
    scores = M.f1_from_confusion(M.confusion_counts(y, pred, len(LABELS)))
    values = {
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(scores["macro_f1"]),
        "weighted_f1": float(scores["weighted_f1"]),
        "brier": M.brier_score(probs, y),
    }
    metrics = {k: Metric(value=v, higher_is_better=k != "brier") for k, v in values.items()}
    return Snapshot(
        auditkit_version="bench", results_schema_version="1.0", created_at="t", run_id=run_id,
        run_status="ok", suite_name="bench", suite_hash="0" * 64, seed=0, git_commit=None,
        model=ModelInfo(id="m", source="local", location="m", revision=None, fingerprint="w"),
        dataset_fingerprint="d", split_fingerprints={"test": "t"}, label_names=LABELS,
        audits={"performance": AuditSnapshot(status="ok", confidence=0.95, metrics=metrics)},
        examples=Examples.from_arrays(y, probs),
    )  # fmt: skip


def judge(base, cur, spec) -> list:
    from auditkit.gate.checks import _finish, _prepare, adjust
    from auditkit.gate.pairing import pair_snapshots

    pairing = pair_snapshots(base, cur)
    pending = [_prepare(m, c, base, cur, pairing, spec, []) for m, c in spec.checks.items()]
    adjusted = adjust([p.p_check for p in pending], spec.correction)
    return [p.early or _finish(p, a) for p, a in zip(pending, adjusted, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[132, 1000, 5000])
    parser.add_argument("--accuracy", type=float, default=0.9)
    parser.add_argument("--discordance", type=float, default=0.08)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument(
        "--bound", type=float, default=0.02, help="non-inferiority max_drop (the default suite's)"
    )
    args = parser.parse_args()

    from auditkit.conformal import proportion_ci
    from auditkit.gate.pairing import best_case_accuracy_drop, mcnemar_detectable
    from auditkit.suite import GateSpec

    four = ["accuracy", "macro_f1", "weighted_f1", "brier"]
    specs = {
        c: GateSpec(
            alpha=args.alpha,
            correction=c,
            bootstrap=200,
            checks={f"performance.{m}": {} for m in four},
        )
        for c in ("holm", "none")
    }
    one = GateSpec(alpha=args.alpha, bootstrap=200, checks={"performance.accuracy": {}})
    try:
        from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
    except ImportError:
        sm_mcnemar = None
    worst_gap = 0.0

    def cross_check(base, cur) -> None:
        nonlocal worst_gap
        if sm_mcnemar is None:
            return
        from auditkit.gate.significance import mcnemar

        b = base.examples.probs().argmax(1) == base.examples.labels()
        c = cur.examples.probs().argmax(1) == cur.examples.labels()
        table = [[int(np.sum(b & c)), int(np.sum(b & ~c))], [int(np.sum(~b & c)), 0]]
        theirs = min(1.0, float(sm_mcnemar(table, exact=True).pvalue))
        worst_gap = max(worst_gap, abs(mcnemar(b, c).p_value - theirs))

    print(f"{args.sims} simulations per n; accuracy {args.accuracy}, discordance "
          f"{args.discordance}, alpha {args.alpha}; 95% Clopper-Pearson intervals")  # fmt: skip
    print(f"{'n':>6}  {'FWER holm':>24}  {'FWER none':>24}  {'MDE':>7}  {'detected at MDE':>24}  "
          f"{'bound':>6}  {'NI passes at bound':>24}  {'NI passes unchanged':>24}")  # fmt: skip
    for n in args.sizes:
        rng = np.random.default_rng(n)
        start = time.perf_counter()
        fails = {"holm": 0, "none": 0}
        detected = passed_at_bound = passed_unchanged = 0
        # what the gate reports for this discordance (exact McNemar's power given D)
        mde = max(
            mcnemar_detectable(round(args.discordance * n), n, args.alpha) or 1.0,
            best_case_accuracy_drop(n, args.alpha),
        )
        bound = args.bound
        ni = GateSpec(
            alpha=args.alpha,
            policy="non_inferiority",
            checks={"performance.accuracy": {"max_drop": bound}},
        )
        for _ in range(args.sims):
            y = rng.integers(0, 3, n)
            b, c = outcomes(rng, n, args.accuracy, args.discordance, 0.0)
            base = snapshot(y, probs_for(rng, y, b), "base")
            cur = snapshot(y, probs_for(rng, y, c), "cand")
            cross_check(base, cur)
            for name, spec in specs.items():
                fails[name] += any(r.fails for r in judge(base, cur, spec))
            b, c = outcomes(rng, n, args.accuracy, args.discordance, mde)
            base = snapshot(y, probs_for(rng, y, b), "base")
            cur = snapshot(y, probs_for(rng, y, c), "cand")
            cross_check(base, cur)
            detected += judge(base, cur, one)[0].fails
            b, c = outcomes(rng, n, args.accuracy, args.discordance, bound)
            base = snapshot(y, probs_for(rng, y, b), "base")
            cur = snapshot(y, probs_for(rng, y, c), "cand")
            passed_at_bound += not judge(base, cur, ni)[0].fails
            b, c = outcomes(rng, n, args.accuracy, args.discordance, 0.0)
            base = snapshot(y, probs_for(rng, y, b), "base")
            cur = snapshot(y, probs_for(rng, y, c), "cand")
            passed_unchanged += not judge(base, cur, ni)[0].fails

        def share(k: int) -> str:
            low, high = proportion_ci(k, args.sims, 0.95)
            return f"{k / args.sims:.3f} [{low:.3f}, {high:.3f}]"

        print(f"{n:>6}  {share(fails['holm']):>24}  {share(fails['none']):>24}  {mde:>7.4f}  "
              f"{share(detected):>24}  {bound:>6.4f}  {share(passed_at_bound):>24}  "
              f"{share(passed_unchanged):>24}   "
              f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
    if sm_mcnemar is not None:
        print(f"exact McNemar vs statsmodels mcnemar(exact=True): largest |p difference| "
              f"{worst_gap:.2e} over {2 * args.sims * len(args.sizes)} tables")  # fmt: skip
    else:
        print("statsmodels is not installed: no McNemar cross-check")


if __name__ == "__main__":
    main()
