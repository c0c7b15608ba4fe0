"""Latency timing: warm-up, device sync, a fixed thread count, and percentiles with their spread.

Each timed call is one real `predict_proba` on a batch of test texts (tokenization, padding and
the forward pass: what a caller waits for). Batches are drawn from the test set, so sequence
lengths are the realistic ones rather than a fixed synthetic length. `timing_cis` bootstraps the
timed calls for the CIs of the percentiles and the rates: call-to-call noise within one run, not
the difference between two machines or two loads.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from auditkit import metrics as M


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p90: float
    p99: float
    iqr: float
    n: int


def percentiles(samples: Sequence[float]) -> Percentiles:
    """p50/p90/p99 and the interquartile range, linear interpolation between order statistics.

    With few samples p99 is close to the maximum; `n` is reported next to it for that reason.
    """
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no timing samples")
    p25, p50, p75, p90, p99 = np.percentile(arr, [25, 50, 75, 90, 99])
    return Percentiles(float(p50), float(p90), float(p99), float(p75 - p25), int(arr.size))


@dataclass
class TimingResult:
    batch_size: int
    latencies_ms: list[float]
    examples: int
    tokens: int  # real (unpadded) tokens processed in the timed calls
    padded_lengths: list[int] = field(default_factory=list)  # per timed call: longest in batch
    seconds: float = 0.0
    call_tokens: list[int] = field(default_factory=list)  # per timed call: its real tokens

    @property
    def stats(self) -> Percentiles:
        return percentiles(self.latencies_ms)

    @property
    def throughput_per_s(self) -> float:
        return self.examples / self.seconds if self.seconds > 0 else float("nan")

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")


def sample_batches(
    lengths: Sequence[int], batch_size: int, count: int, seed: int
) -> list[np.ndarray]:
    """`count` batches of row indices drawn without replacement (reshuffled when exhausted)."""
    rng = np.random.default_rng(seed)
    n = len(lengths)
    out, pool = [], np.array([], dtype=np.int64)
    for _ in range(count):
        while len(pool) < batch_size:
            pool = np.concatenate([pool, rng.permutation(n)])
        out.append(pool[:batch_size])
        pool = pool[batch_size:]
    return out


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so a timer measures the work and not its launch."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


@contextlib.contextmanager
def fixed_threads(threads: int | None) -> Iterator[int]:
    """Pin torch's intra-op thread count for the measurement; yields the count in effect."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def time_calls(
    run: Callable[[list[str]], object],
    texts: Sequence[str],
    lengths: Sequence[int],
    batch_size: int,
    *,
    warmup: int,
    iterations: int,
    min_iterations: int,
    budget_s: float,
    device: str,
    seed: int,
) -> TimingResult:
    """Time `run(batch_texts)` over batches from `texts`: warm-up first, then up to `iterations`.

    Stops early once `budget_s` of timed work has passed and `min_iterations` are done, so a slow
    variant (bf16 emulated on a CPU without bf16 units) cannot stall the run.
    """
    batches = sample_batches(lengths, batch_size, warmup + iterations, seed)
    for idx in batches[:warmup]:
        run([texts[i] for i in idx])
    synchronize(device)
    result = TimingResult(batch_size, [], 0, 0)
    for idx in batches[warmup:]:
        chunk = [texts[i] for i in idx]
        synchronize(device)
        start = time.perf_counter()
        run(chunk)
        synchronize(device)
        elapsed = time.perf_counter() - start
        result.latencies_ms.append(elapsed * 1000.0)
        result.seconds += elapsed
        result.examples += len(chunk)
        tokens = int(sum(lengths[i] for i in idx))
        result.tokens += tokens
        result.call_tokens.append(tokens)
        result.padded_lengths.append(int(max(lengths[i] for i in idx)))
        done = len(result.latencies_ms)
        if done >= min_iterations and result.seconds >= budget_s:
            break
    return result


TIMED_METRICS = (
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "throughput_per_s",
    "tokens_per_s",
)


def timing_cis(
    t: TimingResult, *, n_resamples: int, seed: int, confidence: float
) -> dict[str, tuple[float, float] | None]:
    """Percentile-bootstrap CIs of TIMED_METRICS, resampling the timed calls with replacement.

    A resampled call keeps its latency, its examples and its real tokens together. The
    percentiles interpolate as `percentiles` does; the rates are sum(examples) / sum(seconds)
    and sum(tokens) / sum(seconds) over the resampled calls, the same ratio as the point values.
    Every statistic sees the same resamples (one seed). With fewer than 2 timed calls there is
    nothing to resample: each CI is None.
    """
    lat = np.asarray(t.latencies_ms, dtype=np.float64)
    n = lat.size
    if n < 2:
        return dict.fromkeys(TIMED_METRICS)
    seconds = lat / 1000.0
    # every timed call is one batch of batch_size texts (sample_batches never returns less)
    examples = np.full(n, t.examples / n)
    tokens = np.asarray(t.call_tokens, dtype=np.float64)
    boot = {"n_resamples": n_resamples, "seed": seed, "confidence": confidence}

    def rate(per_call: np.ndarray):
        return lambda idx: per_call[idx].sum(axis=1) / seconds[idx].sum(axis=1)

    statistics = {
        f"latency_p{q}_ms": (lambda idx, q=q: np.percentile(lat[idx], q, axis=1))
        for q in (50, 90, 99)
    }
    statistics["throughput_per_s"] = rate(examples)
    out: dict[str, tuple[float, float] | None] = {
        key: M.bootstrap(statistic, n, **boot)[:2] for key, statistic in statistics.items()
    }
    # a TimingResult built without per-call tokens has no honest interval for tokens_per_s
    out["tokens_per_s"] = M.bootstrap(rate(tokens), n, **boot)[:2] if tokens.size == n else None
    return out


class PeakRss:
    """Peak resident memory of this process while inside the block, sampled every few ms.

    psutil reports current RSS only (the lifetime peak would include training), so a thread
    polls it; a spike shorter than the interval can be missed, which the description says.
    """

    def __init__(self, interval_s: float = 0.005) -> None:
        import psutil

        self._proc = psutil.Process()
        self.interval_s = interval_s
        self.peak_bytes = 0
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._proc.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self.peak_bytes = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 2**20
