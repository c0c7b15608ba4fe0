"""fp32 against bf16 autocast and dynamic int8, interleaved, as ratios per batch size.

The efficiency audit times one variant after another; on a shared machine the load can change
between them. Here every round times each variant once on the same batch, in turn, and the
script prints the median of the per-round ratios (variant latency / fp32 latency), which the
drift cancels out of. It uses the suite's cached fine-tune (run the suite once first).

    python bench/efficiency_variants.py --suite suites/finance_sentiment.yaml --rounds 15
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="suites/finance_sentiment.yaml")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--variants", default="bf16,int8_dynamic")
    args = parser.parse_args()

    import torch

    from auditkit.audits.efficiency.timing import sample_batches
    from auditkit.audits.efficiency.variants import build_variant
    from auditkit.data import load_data
    from auditkit.models import load_model, resolve_model_spec
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune

    suite = load_suite(args.suite)
    bundle = load_data(suite)
    source = resolve_model_spec(suite.model, suite.base_dir)
    torch.manual_seed(suite.seed)
    handle = load_model(suite.model, bundle.label_names, "cpu", source=source)
    if suite.training.enabled:
        handle = fine_tune(handle, bundle, suite.training, seed=suite.seed).handle
    texts = list(bundle.test["text"])
    lengths = [len(x) for x in handle.encode(texts)]
    handles = {"fp32": handle}
    for name in args.variants.split(","):
        variant = build_variant(name, handle)
        if variant.available:
            handles[name] = variant.handle
        else:
            print(f"{name}: not available ({variant.note})")
    print(f"threads {torch.get_num_threads()}, {len(texts)} test texts, {args.rounds} rounds")
    print(f"{'batch':>5} {'variant':>13} {'fp32 p50 ms':>12} {'p50 ms':>9} {'ratio':>7}")
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        batches = sample_batches(lengths, bs, args.rounds + 1, seed=0)
        times: dict[str, list[float]] = {name: [] for name in handles}
        for i, idx in enumerate(batches):
            chunk = [texts[j] for j in idx]
            for name, h in handles.items():
                start = time.perf_counter()
                h.predict_proba(chunk, batch_size=bs, split_by_length=False)
                if i:  # round 0 is the warm-up
                    times[name].append((time.perf_counter() - start) * 1000)
        ref = np.asarray(times["fp32"])
        for name in handles:
            if name == "fp32":
                continue
            ratio = float(np.median(np.asarray(times[name]) / ref))
            print(
                f"{bs:>5} {name:>13} {np.median(ref):>12.1f} "
                f"{np.median(times[name]):>9.1f} {ratio:>6.2f}x"
            )


if __name__ == "__main__":
    main()
