"""auditkit's attack runner against TextAttack's own loop, side by side on the same examples.

Three ways to run one recipe (DeepWordBug by default) against the same fine-tuned MiniLM:

1. TextAttack's stock `Attacker` with its `HuggingFaceModelWrapper` (pads every query to the
   tokenizer's model_max_length);
2. TextAttack's `Attacker` with a wrapper that pads each batch only to its longest text, the
   fair peer;
3. auditkit's `BatchedAttackRunner` (cross-example batching, length-sorted dynamic padding,
   a query cache).

It prints seconds per example (median of per-example times is not defined for a batched run,
so the per-example figure is wall time / examples, each run taken --repeats times and the
median kept), both ratios, the success rates and the per-example agreement of outcomes.

    python bench/robustness_vs_textattack.py --examples 100 --stock-examples 10

The model is the default suite's fine-tune (trained once, then cached). Sentences come from the
Financial PhraseBank when $AUDITKIT_FPB_DIR (or ../shared/data/financial_phrasebank) holds it,
else from the suite's test split.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_fine_tuned(suite_path: Path):
    from auditkit.data import load_data
    from auditkit.models import load_model
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune

    suite = load_suite(suite_path)
    bundle = load_data(suite)
    handle = load_model(suite.model, bundle.label_names, "cpu", base_dir=suite.base_dir)
    return fine_tune(handle, bundle, suite.training, seed=suite.seed, progress=False).handle, bundle


def load_sentences(bundle, n: int, seed: int) -> tuple[list[str], list[int], str]:
    fpb = Path(os.environ.get("AUDITKIT_FPB_DIR", ROOT.parent / "shared/data/financial_phrasebank"))
    path = fpb / "sentences_50agree.csv"
    if path.is_file():
        import pandas as pd

        frame = pd.read_csv(path)
        text_col = "sentence" if "sentence" in frame else frame.columns[0]
        label_col = "label" if "label" in frame else frame.columns[1]
        names = bundle.label_names
        frame = frame[frame[label_col].isin(names)].sample(n=n, random_state=seed)
        return list(frame[text_col]), [names.index(x) for x in frame[label_col]], str(path)
    pick = random.Random(seed).sample(range(len(bundle.test)), min(n, len(bundle.test)))
    return [bundle.test["text"][i] for i in pick], [bundle.test["label"][i] for i in pick], "suite"


class DynamicPaddingWrapper:
    """A TextAttack model wrapper that pads each batch to its own longest text."""

    def __init__(self, model, tokenizer, max_length: int) -> None:
        from textattack.models.wrappers import ModelWrapper

        assert ModelWrapper  # only to show which interface this implements
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length
        self.forward_calls, self.padded_tokens, self.forward_seconds = 0, 0, 0.0  # as ModelHandle

    def __call__(self, texts):
        import torch

        enc = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length,
            return_tensors="pt",
        )  # fmt: skip
        start = time.perf_counter()  # from token ids to probabilities, as ModelHandle times it
        with torch.no_grad():
            probs = torch.softmax(self.model(**enc).logits, dim=-1).numpy()
        self.forward_calls += 1
        self.padded_tokens += enc["input_ids"].numel()
        self.forward_seconds += time.perf_counter() - start
        return probs


def textattack_run(recipe, wrapper, texts, labels, seed: int) -> tuple[float, list[str]]:
    import textattack
    from textattack.attack_results import SkippedAttackResult, SuccessfulAttackResult

    attack = recipe.build(wrapper)
    dataset = textattack.datasets.Dataset(list(zip(texts, labels, strict=True)))
    args = textattack.AttackArgs(
        num_examples=len(texts), random_seed=seed, silent=True, disable_stdout=True
    )
    attacker = textattack.Attacker(attack, dataset, args)
    start = time.perf_counter()
    results = attacker.attack_dataset()
    seconds = time.perf_counter() - start
    status = [
        "succeeded" if isinstance(r, SuccessfulAttackResult)
        else "skipped" if isinstance(r, SkippedAttackResult)
        else "failed"
        for r in results
    ]  # fmt: skip
    return seconds, status


def auditkit_run(recipe, handle, texts, labels, seed: int, concurrency: int):
    from auditkit.audits.robustness.attacker import BatchedAttackRunner

    runner = BatchedAttackRunner(handle, recipe.build, concurrency=concurrency, seed=seed)
    start = time.perf_counter()
    outcomes = runner.run(texts, labels)
    return time.perf_counter() - start, [o.status for o in outcomes]


def rate(status: list[str]) -> float:
    attacked = [s for s in status if s in ("succeeded", "failed")]
    return sum(s == "succeeded" for s in attacked) / max(1, len(attacked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "suites/finance_sentiment.yaml")
    parser.add_argument("--recipe", default="deepwordbug")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--stock-examples", type=int, default=10, help="stock is slow: fewer")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from auditkit.audits.robustness.offline import prepare_textattack
    from auditkit.audits.robustness.recipes import RECIPES

    prepare_textattack()
    from textattack.models.wrappers import HuggingFaceModelWrapper

    handle, bundle = load_fine_tuned(args.suite)
    texts, labels, origin = load_sentences(bundle, args.examples, args.seed)
    recipe = RECIPES[args.recipe]
    lengths = [len(x) for x in handle.encode(texts)]
    print(f"recipe {args.recipe}; {len(texts)} sentences from {origin}; mean {np.mean(lengths):.1f}"
          f" tokens; torch threads {torch.get_num_threads()}; device {handle.device}")  # fmt: skip

    def median_run(fn):
        runs = [fn() for _ in range(args.repeats)]
        return statistics.median(r[0] for r in runs), runs[0][1]

    k = args.stock_examples
    stock_s, stock = median_run(
        lambda: textattack_run(
            recipe,
            HuggingFaceModelWrapper(handle.model, handle.tokenizer),
            texts[:k],
            labels[:k],
            args.seed,
        )
    )
    dyn_wrapper = DynamicPaddingWrapper(handle.model, handle.tokenizer, handle.max_length)
    dyn_s, dyn = median_run(lambda: textattack_run(recipe, dyn_wrapper, texts, labels, args.seed))
    ours_s, ours = median_run(
        lambda: auditkit_run(recipe, handle, texts, labels, args.seed, args.concurrency)
    )
    one_s, one = median_run(lambda: auditkit_run(recipe, handle, texts, labels, args.seed, 1))

    n = len(texts)
    per = {
        "textattack stock": stock_s / k,
        "textattack dynamic padding": dyn_s / n,
        "auditkit, 1 at a time": one_s / n,
        f"auditkit, {args.concurrency} at a time": ours_s / n,
    }
    print(f"\n{'runner':<32}{'s/example':>10}{'success':>9}")
    rates = [rate(stock), rate(dyn), rate(one), rate(ours)]
    for (name, s), r in zip(per.items(), rates, strict=True):
        print(f"{name:<32}{s:>10.3f}{r:>9.1%}")
    ours_per = ours_s / n
    print(f"\nspeed-up vs stock TextAttack:            {per['textattack stock'] / ours_per:6.2f}x")
    print(f"speed-up vs dynamic-padding TextAttack:  {dyn_s / ours_s:6.2f}x")
    print(f"success rate: auditkit {rate(ours):.1%} vs dynamic TextAttack {rate(dyn):.1%} "
          f"({100 * (rate(ours) - rate(dyn)):+.1f} points)")  # fmt: skip
    agree = np.mean([a == b for a, b in zip(ours, dyn, strict=True)])
    agree_stock = np.mean([a == b for a, b in zip(ours[:k], stock, strict=True)])
    print(f"per-example outcome agreement: vs dynamic {agree:.1%} ({n}), vs stock "
          f"{agree_stock:.1%} ({k}); 1-at-a-time vs batched auditkit "
          f"{np.mean([a == b for a, b in zip(one, ours, strict=True)]):.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
