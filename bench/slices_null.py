"""The slices audit under the null: is noise reported as a finding?

Keeps the suite's real candidate slices (text features, term lists, embedding clusters, pairs)
and the number of test errors, but permutes which test rows the model got wrong, so
correctness is independent of every slice. Each permutation reruns everything that looks at
correctness (pairs, the error tree, the tests, Benjamini-Hochberg). The share of
permutations with any significant slice estimates the false discovery rate under the global
null, where it is the chance of any false finding; it should be at most the suite's `fdr`.

    python bench/slices_null.py                                   # default suite, 200 runs
    AUDITKIT_FPB_DIR=../shared/data/financial_phrasebank \\
      python bench/slices_null.py --suite suites/financial_phrasebank.yaml

Uses the suite's cached fine-tune (run the suite once first; a cache miss trains it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(ROOT / "suites" / "finance_sentiment.yaml"))
    parser.add_argument("--permutations", type=int, default=200)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("AUDITKIT_NO_PROGRESS", "1")

    from auditkit.api.audit import AuditContext
    from auditkit.api.results import AuditResult
    from auditkit.audits.slices.audit import find, gather
    from auditkit.conformal import proportion_ci
    from auditkit.data import load_data
    from auditkit.models import load_model
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune

    suite = load_suite(args.suite)
    cfg = suite.audit_configs().get("slices")
    if cfg is None:
        sys.exit(f"{args.suite} has no `slices` audit")
    bundle = load_data(suite)
    handle = load_model(suite.model, bundle.label_names, "cpu", base_dir=suite.base_dir)
    handle = fine_tune(handle, bundle, suite.training, seed=suite.seed, progress=False).handle
    texts = [str(t) for t in bundle.test["text"]]
    y = np.asarray(bundle.test["label"])
    wrong = handle.predict(texts) != y
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AuditContext(model=handle, data=bundle, suite=suite, run_dir=Path(tmp),
                           seed=suite.seed, device="cpu")  # fmt: skip
        base = gather(ctx, cfg, texts, AuditResult(name="slices"))
    observed = find(base, wrong, cfg, seed=suite.seed)
    start = time.perf_counter()
    hits, found = 0, []
    for seed in range(args.permutations):
        permuted = np.random.default_rng(seed).permutation(wrong)
        significant = find(base, permuted, cfg, seed=suite.seed).significant
        hits += bool(significant)
        found.append(len(significant))
    took = time.perf_counter() - start
    low, high = proportion_ci(hits, args.permutations, 0.95)
    print(
        f"suite {suite.name}: {len(texts)} test rows, {int(wrong.sum())} errors, "
        f"{len(base)} base slices, {len(observed.tested)} candidates tested, fdr {cfg.fdr:g}"
    )
    print(f"observed: {len(observed.significant)} significant slice(s)")
    print(
        f"null: {hits} of {args.permutations} permutations had any significant slice: "
        f"{hits / args.permutations:.3f} (95% CI [{low:.3f}, {high:.3f}]); "
        f"mean {np.mean(found):.3f} per permutation; {took / args.permutations * 1000:.0f} ms each"
    )


if __name__ == "__main__":
    main()
