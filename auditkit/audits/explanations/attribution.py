"""Batched attributions: near-equal-length batches, adaptive integrated gradients, GPU batches.

Measured here (fine-tuned MiniLM, FPB sentences, 2 CPU cores): captum one example at a time
at 50 steps costs about 0.6 s per example and can still leave convergence deltas up to 0.41.
The default `bisect` strategy (quadrature.py) cuts each example's path into pieces and halves
the pieces whose own error is large, so the gradients go where the probability changes; it
was 2.5-4.8x faster than 50 fixed steps with every example within tolerance. Halving makes
several small calls per batch, so on CPU examples within `length_slack` (25%) of each other's
length share a batch; on a GPU, where padding costs little, examples are sorted by length and
padded into big batches. `restart` is the earlier strategy: examples over the tolerance rerun
the whole path with `step_growth` times the steps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.audits.explanations.methods import (
    EmbedsForward,
    Encoded,
    ProbabilityForward,
    embedding_layer,
)
from auditkit.audits.explanations.quadrature import CompositeIG


@dataclass
class Attribution:
    """Signed per-token scores (summed over the hidden size) for one example."""

    scores: np.ndarray
    delta: float | None = None
    steps: int | None = None  # the step count of the kept result
    steps_spent: int | None = None  # all steps tried for this example, retries included


@dataclass
class RunnerSettings:
    delta_tolerance: float = 0.05
    steps: int = 6
    max_steps: int = 256
    step_growth: int = 4  # "restart": factor on the steps of each retry
    adaptive: bool = True
    strategy: str = "bisect"  # or "restart": rerun the whole path with step_growth x steps
    points: int = 2  # "bisect": Gauss-Legendre points per path piece (2 measured faster than 4)
    batch_size: int = 8
    internal_batch_size: int = 512
    pad_batches: bool = False  # True on GPU: sort by length and pad, for large batches
    # CPU: examples whose lengths differ by at most this share share a batch (0: equal only).
    # Bisect makes several small calls per batch, where batching pays more than the padding.
    length_slack: float = 0.0

    @classmethod
    def for_device(cls, device: Any, **overrides: Any) -> RunnerSettings:
        """Defaults per device: batches of near-equal length on CPU, big padded ones on GPU."""
        gpu = str(device).startswith("cuda")
        base = {
            "batch_size": 64 if gpu else 16,
            "internal_batch_size": 4096 if gpu else 512,
            "pad_batches": gpu,
            "length_slack": 0.0 if gpu else 0.25,
        }
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)


def length_batches(
    examples: Sequence[Encoded], batch_size: int, pad: bool, slack: float = 0.0
) -> Iterator[list[int]]:
    """Indices of examples per batch: equal lengths only, or (pad=True) sorted neighbours.

    With `slack` > 0, sorted neighbours share a batch while the longest is at most
    (1 + slack) times the shortest, which bounds the padding waste.
    """
    if pad or slack > 0:
        order = sorted(range(len(examples)), key=lambda i: len(examples[i]))
        batch: list[int] = []
        for i in order:
            full = len(batch) >= batch_size
            shortest = len(examples[batch[0]]) if batch else 0
            too_long = not pad and len(examples[i]) > shortest * (1 + slack)
            if batch and (full or too_long):
                yield batch
                batch = []
            batch.append(i)
        if batch:
            yield batch
        return
    groups: dict[int, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[len(ex)].append(i)
    for length in sorted(groups):
        members = groups[length]
        for start in range(0, len(members), batch_size):
            yield members[start : start + batch_size]


class AttributionRunner:
    """Runs one captum method over many examples; the model is only read, never changed."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        device: Any,
        settings: RunnerSettings,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.settings = settings
        self.on_batch = on_batch or (lambda n: None)
        self.pad = int(tokenizer.pad_token_id or 0)

    def run(self, method: str, examples: Sequence[Encoded]) -> list[Attribution]:
        fn = {
            "integrated_gradients": self._integrated_gradients,
            "input_x_gradient": self._input_x_gradient,
            "occlusion": self._occlusion,
        }[method]
        out: list[Attribution | None] = [None] * len(examples)
        # Gradients are needed for activations only; frozen weights save autograd's bookkeeping.
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p in params:
            p.requires_grad_(False)
        try:
            s = self.settings
            slack = s.length_slack if method == "integrated_gradients" else 0.0
            batches = length_batches(examples, s.batch_size, s.pad_batches, slack)
            for batch in batches:
                tensors = self._tensors([examples[i] for i in batch])
                for i, attribution in zip(batch, fn(*tensors), strict=True):
                    attribution.scores = attribution.scores[: len(examples[i])]
                    out[i] = attribution
                self.on_batch(len(batch))
        finally:
            for p in params:
                p.requires_grad_(True)
        return out  # type: ignore[return-value]

    def _tensors(self, batch: list[Encoded]):
        import torch

        longest = max(len(ex) for ex in batch)
        ids = torch.full((len(batch), longest), self.pad, dtype=torch.long)
        base = torch.full((len(batch), longest), self.pad, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        for row, ex in enumerate(batch):
            ids[row, : len(ex)] = torch.tensor(ex.input_ids)
            base[row, : len(ex)] = torch.tensor(ex.baseline_ids)
            mask[row, : len(ex)] = 1
        target = torch.tensor([ex.target for ex in batch], dtype=torch.long)
        dev = self.device
        return ids.to(dev), base.to(dev), mask.to(dev), target.to(dev)

    def _integrated_gradients(self, ids, base, mask, target) -> list[Attribution]:
        """Adaptive IG: halve the path pieces that miss (default), or restart with more steps."""
        s = self.settings
        if s.adaptive and s.strategy == "bisect":
            composite = CompositeIG(self.model, embedding_layer(self.model), s.internal_batch_size)
            found = composite.attribute(
                ids, base, mask, target, tolerance=s.delta_tolerance, steps=s.steps,
                points=s.points, max_steps=s.max_steps,
            )  # fmt: skip
            return [Attribution(r.scores, r.delta, r.steps, r.steps_spent) for r in found]
        return self._restart_ig(ids, base, mask, target)

    def _restart_ig(self, ids, base, mask, target) -> list[Attribution]:
        """LayerIntegratedGradients; examples over the delta tolerance go again with more steps."""
        from captum.attr import LayerIntegratedGradients

        s = self.settings
        lig = LayerIntegratedGradients(ProbabilityForward(self.model), embedding_layer(self.model))
        results: list[Attribution | None] = [None] * len(ids)
        pending = np.arange(len(ids))
        spent = np.zeros(len(ids), dtype=int)
        steps = s.steps
        while True:
            sel = list(pending)
            attr, delta = lig.attribute(
                inputs=ids[sel],
                baselines=base[sel],
                target=target[sel],
                additional_forward_args=(mask[sel],),
                n_steps=steps,
                method="gausslegendre",
                internal_batch_size=max(len(sel), s.internal_batch_size),
                return_convergence_delta=True,
            )
            scores = attr.sum(dim=-1).detach().float().cpu().numpy()
            deltas = delta.detach().float().cpu().numpy()
            for row, i in enumerate(sel):
                spent[i] += steps
                results[i] = Attribution(scores[row], float(deltas[row]), steps, int(spent[i]))
            over = np.abs(deltas) > s.delta_tolerance
            if not s.adaptive or steps >= s.max_steps or not over.any():
                break
            pending = pending[over]
            steps = min(steps * s.step_growth, s.max_steps)
        return results  # type: ignore[return-value]

    def _input_x_gradient(self, ids, base, mask, target) -> list[Attribution]:
        """captum's InputXGradient on the word embeddings (the model adds positions itself)."""
        from captum.attr import InputXGradient

        embeds = self.model.get_input_embeddings()(ids).detach().requires_grad_(True)
        attr = InputXGradient(EmbedsForward(self.model)).attribute(
            embeds, target=target, additional_forward_args=(mask,)
        )
        scores = attr.sum(dim=-1).detach().float().cpu().numpy()
        return [Attribution(row) for row in scores]

    def _occlusion(self, ids, base, mask, target) -> list[Attribution]:
        """captum's FeatureAblation, one token at a time, replaced by the baseline's padding.

        p(x) - p(x without the token): positive where the token supports the target class.
        Special tokens equal their baseline, so ablating them changes nothing and scores 0.
        """
        from captum.attr import FeatureAblation

        per_eval = max(1, self.settings.internal_batch_size // max(1, len(ids)))
        attr = FeatureAblation(ProbabilityForward(self.model)).attribute(
            ids,
            baselines=base,
            target=target,
            additional_forward_args=(mask,),
            perturbations_per_eval=min(per_eval, ids.shape[1]),
        )
        scores = attr.detach().float().cpu().numpy()
        return [Attribution(row) for row in scores]
