"""Attribution runner vs captum one example at a time at a fixed 50 steps, on the same examples.

The peer is what the captum tutorials do: LayerIntegratedGradients over the embeddings, one
example per call, 50 Gauss-Legendre steps. auditkit's runner groups equal-length examples and
splits each example's path into pieces, halving the pieces whose own error is large until
|convergence delta| <= the tolerance ("bisect", the default); "restart" is the older strategy
that reruns the whole path with more steps. Both explain the
same model, forward (softmax probabilities), layer, baseline and target class, and run
alternately in one process, so the ratio holds on a shared machine.

    AUDITKIT_FPB_DIR=/work/shared/data/financial_phrasebank \\
      python bench/explanations_batching.py            # the suite's cached fine-tune
    python bench/explanations_batching.py --model DIR  # any fine-tuned classifier folder

Prints the speed ratio (median over rounds), the share of examples within the tolerance for
each approach and the correlation of the attributions (Pearson per example, over tokens).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FPB = ROOT.parent / "shared" / "data" / "financial_phrasebank"


def load(args):
    """The fine-tuned handle and the test split: from --model, or the suite's fine-tune cache."""
    os.environ.setdefault("AUDITKIT_FPB_DIR", str(FPB))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from auditkit.data import load_data
    from auditkit.models import ModelSource, load_handle, load_model
    from auditkit.suite import load_suite
    from auditkit.training import cache_key, cache_root

    suite = load_suite(args.suite)
    bundle = load_data(suite)
    if args.model:
        folder = Path(args.model)
    else:
        base = load_model(suite.model, bundle.label_names, "cpu", base_dir=suite.base_dir)
        key = cache_key(
            base.fingerprint or "", bundle, suite.training, seed=suite.seed,
            max_length=base.max_length, pooling=base.pooling,
        )  # fmt: skip
        folder = cache_root() / "models" / key
        if not (folder / "config.json").is_file():
            sys.exit(f"no cached fine-tune at {folder}: run `auditkit run {args.suite}` first")
    # Not load_model: any classifier folder (--model), read with its own pooling ("auto").
    handle = load_handle(
        ModelSource("local", str(folder), str(folder)), bundle.label_names, device="cpu",
        max_length=suite.model.max_length, allow_new_head=False,
    )  # fmt: skip
    return handle, list(bundle.test["text"])


def reference(handle, examples, steps: int):
    """captum as documented: one example per call, a fixed number of steps."""
    import torch
    from captum.attr import LayerIntegratedGradients

    from auditkit.audits.explanations.methods import ProbabilityForward, embedding_layer

    lig = LayerIntegratedGradients(ProbabilityForward(handle.model), embedding_layer(handle.model))
    out = []
    for ex in examples:
        ids = torch.tensor([ex.input_ids])
        attr, delta = lig.attribute(
            ids,
            baselines=torch.tensor([ex.baseline_ids]),
            target=ex.target,
            additional_forward_args=(torch.ones_like(ids),),
            n_steps=steps,
            return_convergence_delta=True,
        )
        out.append((attr.sum(-1)[0].detach().numpy(), abs(float(delta[0])), steps, steps))
    return out


def runner(
    handle, examples, tolerance: float, start: int, cap: int, batch: int, growth: int = 2,
    strategy: str = "bisect", points: int = 4, slack: float = 0.0,
):  # fmt: skip
    from auditkit.audits.explanations.attribution import AttributionRunner, RunnerSettings

    settings = RunnerSettings.for_device(
        "cpu", delta_tolerance=tolerance, steps=start, max_steps=cap, batch_size=batch,
        step_growth=growth, strategy=strategy, points=points, length_slack=slack,
    )  # fmt: skip
    atts = AttributionRunner(handle.model, handle.tokenizer, "cpu", settings).run(
        "integrated_gradients", examples
    )
    return [(a.scores, abs(a.delta), a.steps, a.steps_spent) for a in atts]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default=str(ROOT / "suites" / "financial_phrasebank.yaml"))
    parser.add_argument("--model", help="a fine-tuned classifier folder (skips the cache)")
    parser.add_argument("-n", type=int, default=16, help="test sentences (seeded pick)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=6, help="runner's first step count")
    parser.add_argument(
        "--points", type=int, nargs="+", default=[2], help="bisect: points per path piece"
    )
    parser.add_argument(
        "--slack", type=float, nargs="+", default=[0.25],
        help="bisect: length share by which batched examples may differ (0: equal lengths)",
    )  # fmt: skip
    parser.add_argument("--max-steps", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument(
        "--growth", type=int, nargs="*", default=[4], help="restart-strategy step_growth variants"
    )
    parser.add_argument(
        "--ref-steps", type=int, nargs="+", default=[50], help="fixed-step captum references"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from auditkit.audits.explanations.methods import encode

    handle, texts = load(args)
    rng = np.random.default_rng(args.seed)
    picked = [texts[i] for i in rng.choice(len(texts), size=args.n, replace=False)]
    targets = handle.predict_proba(picked).argmax(axis=1)
    examples = encode(handle.tokenizer, picked, targets.tolist(), handle.max_length)
    lengths = [len(e) for e in examples]
    print(
        f"{len(examples)} sentences, {len(set(lengths))} distinct lengths "
        f"(tokens: median {int(np.median(lengths))}, max {max(lengths)}); "
        f"torch threads {torch.get_num_threads()}; tolerance {args.tolerance}"
    )

    approaches = {
        f"captum, 1 example/call, {n} steps": lambda n=n: reference(handle, examples, n)
        for n in args.ref_steps
    }
    for points in args.points:
        for slack in args.slack:
            name = (
                f"runner bisect, batches <= {args.batch} within {slack:.0%} length, "
                f"{args.steps} steps in pieces of {points}, up to {args.max_steps}"
            )
            approaches[name] = lambda points=points, slack=slack: runner(
                handle, examples, args.tolerance, args.steps, args.max_steps, args.batch,
                points=points, slack=slack,
            )  # fmt: skip
    for g in args.growth:
        name = (
            f"runner restart, equal-length batches <= {args.batch}, steps {args.steps} x{g} "
            f"up to {args.max_steps}"
        )
        approaches[name] = lambda g=g: runner(
            handle, examples, args.tolerance, args.steps, args.max_steps, args.batch, g,
            strategy="restart",
        )  # fmt: skip
    runner(handle, examples[:2], args.tolerance, 4, 4, 2)  # warm-up (allocations, captum import)
    times: dict[str, list[float]] = {name: [] for name in approaches}
    outputs = {}
    for _ in range(args.rounds):  # alternate, so load changes hit both alike
        for name, fn in approaches.items():
            start = time.perf_counter()
            outputs[name] = fn()
            times[name].append(time.perf_counter() - start)

    work: dict[str, int] = {}
    for name in approaches:
        res = outputs[name]
        deltas = np.array([r[1] for r in res])
        steps = [r[2] for r in res]
        work[name] = sum(r[3] * len(ex) for r, ex in zip(res, examples, strict=True))
        print(
            f"{name}: median {statistics.median(times[name]):.2f} s "
            f"({statistics.median(times[name]) / len(examples):.3f} s/example) over "
            f"{args.rounds} rounds; within tolerance {np.mean(deltas <= args.tolerance):.0%}; "
            f"|delta| median {np.median(deltas):.4f} max {deltas.max():.3f}; "
            f"final steps median {np.median(steps):.0f} max {max(steps)}; "
            f"work {work[name]} token-steps"
        )
    for ref_name in [n for n in approaches if n.startswith("captum")]:
        ref_ok = np.mean([r[1] <= args.tolerance for r in outputs[ref_name]])
        for name in [n for n in approaches if n.startswith("runner")]:
            corr = [
                float(np.corrcoef(a, b)[0, 1])
                for (a, *_), (b, *_) in zip(outputs[ref_name], outputs[name], strict=True)
            ]
            speedup = statistics.median(times[ref_name]) / statistics.median(times[name])
            run_ok = np.mean([r[1] <= args.tolerance for r in outputs[name]])
            met = speedup >= 2 and run_ok >= ref_ok
            print(
                f"[{name}] vs {ref_name}: speed ratio {speedup:.2f}x (work ratio "
                f"{work[ref_name] / work[name]:.2f}x in token-steps); within tolerance "
                f"{run_ok:.0%} vs {ref_ok:.0%}; attribution correlation median "
                f"{np.median(corr):.4f}, min {min(corr):.4f}; "
                "bar (>= 2x, at least as many within tolerance): " + ("met" if met else "NOT met")
            )


if __name__ == "__main__":
    main()
