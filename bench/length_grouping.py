"""Fine-tuning time per epoch with length-grouped batches against random batches.

Runs auditkit's own fine-tuning (transformers Trainer) on the Financial PhraseBank both ways,
interleaved (grouped, random, grouped, ...) so machine noise hits both alike, and prints the
median seconds per epoch, the padded tokens per epoch, and the ratios.

    AUDITKIT_FPB_DIR=../shared/data/financial_phrasebank python bench/length_grouping.py
    python bench/length_grouping.py --train 3876 --repeats 1     # the full 80% train split
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

FPB = Path(__file__).resolve().parents[2] / "shared" / "data" / "financial_phrasebank"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1200, help="training examples")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    os.environ.setdefault("AUDITKIT_NO_PROGRESS", "1")
    from auditkit.data import load_data
    from auditkit.models import load_model, resolve_model
    from auditkit.suite import load_suite
    from auditkit.training import fine_tune

    folder = Path(os.environ.get("AUDITKIT_FPB_DIR", FPB))
    work = Path(tempfile.mkdtemp(prefix="auditkit-bench-"))
    suite_file = work / "suite.yaml"
    suite_file.write_text(
        f"""name: bench
model: {{id: sentence-transformers/all-MiniLM-L6-v2, max_length: 128}}
data:
  source: csv
  path: {folder}/sentences_50agree.csv
  text_column: sentence
  labels: [negative, neutral, positive]
  validation_size: 0
  sample: {{train: {args.train}}}
training: {{epochs: 1, batch_size: {args.batch_size}, learning_rate: 1.0e-4}}
"""
    )
    suite = load_suite(suite_file)
    bundle = load_data(suite)
    source = resolve_model(suite.model.id)
    times: dict[bool, list[float]] = {True: [], False: []}
    padded: dict[bool, int] = {}
    for rep in range(args.repeats):
        for grouped in (True, False):
            handle = load_model(suite.model, bundle.label_names, "cpu", source=source)
            spec = suite.training.model_copy(update={"group_by_length": grouped})
            start = time.perf_counter()
            out = fine_tune(
                handle, bundle, spec, seed=rep, retrain=True, cache_dir=work, progress=False
            )
            times[grouped].append(time.perf_counter() - start)
            padded[grouped] = out.summary.padded_tokens_per_epoch
            label = "grouped" if grouped else "random "
            print(f"rep {rep} {label}: {times[grouped][-1]:6.1f} s", flush=True)

    g, r = statistics.median(times[True]), statistics.median(times[False])
    print(
        f"\ntrain examples {len(bundle.train)}, batch {args.batch_size}, 1 epoch, CPU threads "
        f"{__import__('torch').get_num_threads()}, repeats {args.repeats}"
    )
    print(
        f"padded tokens/epoch: grouped {padded[True]:,}  random {padded[False]:,}  "
        f"ratio {padded[False] / padded[True]:.2f}x"
    )
    print(f"median s/epoch:      grouped {g:.1f}  random {r:.1f}  speed-up {r / g:.2f}x")


if __name__ == "__main__":
    main()
