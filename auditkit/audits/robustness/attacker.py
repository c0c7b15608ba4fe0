"""Run TextAttack recipes on many examples at once, batching their model queries together.

TextAttack attacks one example at a time, and each search step sends a handful of candidate
texts to the model: small batches that leave a GPU idle and are inefficient on a CPU too.
Here every example gets its own worker thread with its own `Attack` object (TextAttack's
search, transformations and constraints, unchanged). A worker runs until it needs model
outputs, then parks its query; when every live worker is parked, the scheduler answers all
their queries with one length-sorted, dynamically padded `ModelHandle.predict_proba` call,
through a cache of texts already scored.

Workers run one at a time, in a fixed order, each with its own saved random state (seeded
from the suite's seed and the example's identity, its row in the split), and TextAttack's own
caches are cleared before each example, so an example's attack draws the same random numbers
and sees only its own queries' cached outputs. One `run` call is one block of
`AuditContext.map`; it shares its batches only with the examples of that block, and a fresh
query cache, so its results are the same on whichever rank it runs.
The threads are coroutines here, not parallelism; the GIL would serialize them anyway, and
the model forward is where the time goes.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from auditkit.models import ModelHandle

log = logging.getLogger(__name__)


class QueryCache:
    """Probabilities of texts already scored by one model (LRU, bounded)."""

    def __init__(self, max_items: int = 200_000) -> None:
        self.max_items = max_items
        self._store: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> np.ndarray | None:
        row = self._store.get(text)
        if row is not None:
            self._store.move_to_end(text)
            self.hits += 1
        return row

    def put(self, text: str, row: np.ndarray) -> None:
        self._store[text] = row
        if len(self._store) > self.max_items:
            self._store.popitem(last=False)


def score(handle: ModelHandle, texts: Sequence[str], cache: QueryCache, batch_size: int | None):
    """Probabilities for texts, scoring each distinct uncached text once."""
    found = {t: cache.get(t) for t in dict.fromkeys(texts)}  # one lookup per distinct text
    todo = [t for t, row in found.items() if row is None]
    cache.misses += len(todo)
    if todo:
        probs = handle.predict_proba(todo, batch_size)
        for text, row in zip(todo, probs, strict=True):
            cache.put(text, row)
            found[text] = row
    return np.stack([found[t] for t in texts]) if texts else np.zeros((0, handle.num_labels))


class HandleWrapper:
    """A TextAttack `ModelWrapper` that scores through the ModelHandle (dynamic padding)."""

    def __init__(self, handle: ModelHandle, ask: Callable[[list[str]], np.ndarray]) -> None:
        self.model = handle.model  # TextAttack inspects `.model` to validate the goal function
        self.tokenizer = handle.tokenizer
        self._ask = ask

    def __call__(self, text_input_list: list[str]) -> np.ndarray:
        return self._ask([str(t) for t in text_input_list])

    def get_grad(self, text_input):  # gradient-based recipes are not supported
        raise NotImplementedError("auditkit routes queries only; gradient recipes are not used")

    def _tokenize(self, inputs):
        return [
            self.tokenizer.convert_ids_to_tokens(self.tokenizer(x)["input_ids"]) for x in inputs
        ]


@dataclass
class _Slot:
    """A worker's TextAttack `Attack`, built once and reused by the worker of each `run` call."""

    attack: Any = None
    worker: _Worker | None = None


@dataclass
class _Worker:
    index: int
    go: threading.Event = field(default_factory=threading.Event)
    parked: threading.Event = field(default_factory=threading.Event)
    request: list[str] | None = None
    answer: np.ndarray | None = None
    done: bool = False
    np_state: Any = None
    py_state: Any = None
    thread: threading.Thread | None = None


@dataclass
class AttackOutcome:
    """One attacked example, reduced to plain data."""

    index: int  # position in the list given to the runner
    status: str  # succeeded | failed | skipped | error
    original: str
    perturbed: str
    label: int
    pred_before: int
    pred_after: int
    proba_before: list[float]
    proba_after: list[float]
    queries: int
    changed_words: list[list[str]]
    words: int
    seconds: float
    error: str | None = None

    @property
    def perturbed_word_share(self) -> float:
        return len(self.changed_words) / self.words if self.words else 0.0

    def slim(self, *, keep_perturbed: bool = False) -> AttackOutcome:
        """What the metrics need once the artifact row is on disk: no texts or probabilities
        (the perturbed text kept where asked, for the adversarial examples to train on)."""
        return replace(
            self,
            original="",
            perturbed=self.perturbed if keep_perturbed else "",
            proba_before=[],
            proba_after=[],
        )


def example_seed(seed: int, index: int) -> int:
    return (seed * 1_000_003 + index * 7919) % (2**32)


class BatchedAttackRunner:
    """Attacks many examples concurrently; one batched model call per scheduling round."""

    def __init__(
        self,
        handle: ModelHandle,
        build_attack: Callable[[Any], Any],
        *,
        concurrency: int = 32,
        query_budget: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        cache: QueryCache | None = None,
    ) -> None:
        self.handle = handle
        self.build_attack = build_attack
        self.concurrency = max(1, concurrency)
        self.query_budget = query_budget
        self.batch_size = batch_size
        self.seed = seed
        self.cache = cache or QueryCache()
        self.model_calls = 0
        self.rounds = 0
        self.cache_hits = 0
        self.attacks: list[Any] = []  # every Attack built, to check which resources they read
        self._slots: list[_Slot] = []
        self._fatal: Exception | None = None

    # -- the worker side: runs inside a thread, only while the scheduler lets it
    def _ask(self, worker: _Worker, texts: list[str]) -> np.ndarray:
        worker.request = texts
        worker.parked.set()
        worker.go.wait()
        worker.go.clear()
        answer, worker.answer = worker.answer, None
        return answer

    def _work(
        self, worker: _Worker, slot: _Slot, jobs: list[tuple[int, int, str, int]], sink: list
    ) -> None:
        worker.go.wait()
        worker.go.clear()
        slot.worker = worker
        try:
            if slot.attack is None:
                wrapper = HandleWrapper(self.handle, lambda texts: self._ask(slot.worker, texts))
                try:
                    slot.attack = self.build_attack(wrapper)
                except Exception as exc:  # e.g. a resource that vanished: fail the whole run
                    self._fatal = exc
                    return
                self.attacks.append(slot.attack)
                if self.query_budget:
                    slot.attack.goal_function.query_budget = self.query_budget
            attack = slot.attack
            for index, ident, text, label in jobs:
                attack.clear_cache()  # outputs cached for another example must not steer this one
                s = example_seed(self.seed, ident)
                random.seed(s)
                np.random.seed(s)
                start = time.perf_counter()
                try:
                    result = attack.attack(text, int(label))
                    sink.append(to_outcome(index, text, int(label), result, start))
                except Exception as exc:  # one bad example must not sink the batch
                    log.warning("attack on example %d failed: %s", index, exc)
                    sink.append(_error_outcome(index, text, int(label), exc, start))
        finally:
            worker.done = True
            worker.parked.set()

    def _resume(self, worker: _Worker) -> None:
        """Let one worker run until it parks a query or finishes, with its own RNG state."""
        if worker.np_state is not None:
            np.random.set_state(worker.np_state)
            random.setstate(worker.py_state)
        worker.parked.clear()
        worker.go.set()
        worker.parked.wait()
        worker.np_state = np.random.get_state()
        worker.py_state = random.getstate()

    def run(
        self,
        texts: Sequence[str],
        labels: Sequence[int],
        progress: Callable[[int], None] | None = None,
        *,
        ids: Sequence[int] | None = None,
    ) -> list[AttackOutcome]:
        """Attack every (text, label); outcomes come back in input order.

        `ids` are the examples' identities (rows of their split), which seed each attack;
        by default their positions. Each call scores through a fresh query cache."""
        n = len(texts)
        if n == 0:
            return []
        ids = list(range(n)) if ids is None else [int(i) for i in ids]
        self.cache = QueryCache(self.cache.max_items)
        k = min(self.concurrency, n)
        while len(self._slots) < k:
            self._slots.append(_Slot())
        # interleave so that each worker gets a similar mix of examples
        jobs: list[list[tuple[int, int, str, int]]] = [[] for _ in range(k)]
        for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
            jobs[i % k].append((i, ids[i], text, int(label)))
        sink: list[AttackOutcome] = []
        workers = [_Worker(i) for i in range(k)]
        np_saved, py_saved = np.random.get_state(), random.getstate()
        for w in workers:
            w.thread = threading.Thread(
                target=self._work, args=(w, self._slots[w.index], jobs[w.index], sink), daemon=True
            )
            w.thread.start()
        reported = 0
        try:
            live = list(workers)
            while live:
                for w in live:
                    self._resume(w)
                live = [w for w in live if not w.done]
                if len(sink) > reported and progress is not None:
                    progress(len(sink) - reported)
                    reported = len(sink)
                if not live:
                    break
                asked = [w.request for w in live]
                flat = [t for texts_ in asked for t in texts_]
                before = self.handle.forward_calls
                probs = score(self.handle, flat, self.cache, self.batch_size)
                self.model_calls += self.handle.forward_calls - before
                self.rounds += 1
                start = 0
                for w, texts_ in zip(live, asked, strict=True):
                    w.answer = probs[start : start + len(texts_)]
                    w.request = None
                    start += len(texts_)
        finally:
            np.random.set_state(np_saved)
            random.setstate(py_saved)
            for w in workers:
                if w.thread is not None and w.thread.is_alive() and not w.done:
                    log.error("attack worker %d left running", w.index)
        self.cache_hits += self.cache.hits
        if self._fatal is not None:
            raise self._fatal
        if progress is not None and len(sink) > reported:
            progress(len(sink) - reported)
        return sorted(sink, key=lambda o: o.index)


def to_outcome(index: int, text: str, label: int, result: Any, start: float) -> AttackOutcome:
    """Plain data from a TextAttack AttackResult."""
    from textattack.attack_results import (
        FailedAttackResult,
        SkippedAttackResult,
        SuccessfulAttackResult,
    )

    original = result.original_result
    perturbed = result.perturbed_result
    if isinstance(result, SuccessfulAttackResult):
        status = "succeeded"
    elif isinstance(result, SkippedAttackResult):
        status = "skipped"
    elif isinstance(result, FailedAttackResult):
        status = "failed"
    else:  # MaximizedAttackResult: not produced by untargeted classification
        status = "failed"
    before = original.attacked_text
    after = perturbed.attacked_text
    changed = []
    if status != "skipped":
        words_a, words_b = before.words, after.words
        for i in sorted(before.all_words_diff(after)):
            if i < len(words_a) and i < len(words_b):
                changed.append([words_a[i], words_b[i]])
    return AttackOutcome(
        index=index,
        status=status,
        original=text,
        perturbed=after.text,
        label=label,
        pred_before=int(original.output),
        pred_after=int(perturbed.output),
        proba_before=[float(x) for x in np.asarray(original.raw_output)],
        proba_after=[float(x) for x in np.asarray(perturbed.raw_output)],
        queries=int(perturbed.num_queries),
        changed_words=changed,
        words=len(before.words),
        seconds=time.perf_counter() - start,
    )


def _error_outcome(index: int, text: str, label: int, exc: Exception, start: float):
    return AttackOutcome(
        index=index,
        status="error",
        original=text,
        perturbed=text,
        label=label,
        pred_before=-1,
        pred_after=-1,
        proba_before=[],
        proba_after=[],
        queries=0,
        changed_words=[],
        words=len(text.split()),
        seconds=time.perf_counter() - start,
        error=f"{type(exc).__name__}: {exc}",
    )
