"""The robustness audit sharded over torchrun ranks, against one process and against TextAttack.

Each run is a fresh process (or a fresh two-rank torchrun job) that attacks the same sentences
with one recipe (DeepWordBug by default), against the default suite's fine-tuned MiniLM:

- `textattack`: TextAttack's own `Attacker` with a wrapper that pads each batch only to its
  longest text (the fair peer of bench/robustness_vs_textattack.py), one process, 2 threads;
- `auditkit-1x2`: auditkit's robustness audit in one process with 2 threads;
- `auditkit-1x1`: the same with 1 thread (the base of the parallel efficiency);
- `auditkit-2x1`: the same audit under `torchrun --nproc_per_node 2`, 1 thread per rank, its
  attacks sharded by `ctx.map` over gloo.

The auditkit modes run the real `RobustnessAudit` (attacks, similarity of each adversarial
example, bootstrap CIs; invariance, behaviour and adversarial training off) on a test split
made of the chosen sentences; the time quoted is the audit's own attack time (the `seconds`
of its attacks table, which for the sharded run ends when rank 0 has every rank's results),
and the whole command's wall time and the peak RSS (rank 0's) are printed beside it. A second
table says where the time goes: each mode's forward passes (seconds, calls, padded tokens, core
microseconds per token), and how far any schedule of TextAttack's own queries could beat it on
this machine. Runs are interleaved (each repeat runs every mode once) and the median of
--repeats is kept. The sharded run's attacks artifact must equal the one-process run's byte for
byte, and the script says whether it does.

    python bench/distributed_audit.py --examples 100 --repeats 3
    python bench/distributed_audit.py --split test --modes auditkit-1x1,auditkit-2x1 --repeats 3
    python bench/distributed_audit.py --split test --repeat-to 4000 --modes auditkit-1x2 --repeats 1

`--split test` attacks the Financial PhraseBank's test split (the 968 sentences of
suites/financial_phrasebank.yaml's seeded 80/20 split); otherwise --examples sentences are
sampled from the PhraseBank ($AUDITKIT_FPB_DIR, or ../shared/data/financial_phrasebank).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
MODES = ("textattack", "auditkit-1x2", "auditkit-1x1", "auditkit-2x1")
THREADS = {"textattack": 2, "auditkit-1x2": 2, "auditkit-1x1": 1, "auditkit-2x1": 1}


def fpb_dir() -> Path:
    return Path(
        os.environ.get("AUDITKIT_FPB_DIR", ROOT.parent / "shared/data/financial_phrasebank")
    )


def choose(args) -> tuple[list[str], list[int], str]:
    """The sentences and gold labels every mode attacks (labels as the default suite's)."""
    from robustness_vs_textattack import load_fine_tuned, load_sentences

    _, bundle = load_fine_tuned(args.suite)  # trains and caches the model once
    if args.split == "test":
        from auditkit.data import load_data
        from auditkit.suite import load_suite

        os.environ.setdefault("AUDITKIT_FPB_DIR", str(fpb_dir()))
        fpb = load_data(load_suite(ROOT / "suites" / "financial_phrasebank.yaml"))
        names = bundle.label_names
        labels = [names.index(fpb.label_names[y]) for y in fpb.test["label"]]
        return list(fpb.test["text"]), labels, "the PhraseBank's test split"
    texts, labels, origin = load_sentences(bundle, args.examples, args.seed)
    return texts, labels, origin


def repeated(texts: list[str], labels: list[int], n: int) -> tuple[list[str], list[int]]:
    """`n` sentences: the chosen ones over and over (for the memory of long audits)."""
    reps = -(-n // len(texts))
    return (texts * reps)[:n], (labels * reps)[:n]


# ------------------------------------------------------------------------------ the workers
def worker_textattack(spec: dict) -> dict:
    from robustness_vs_textattack import DynamicPaddingWrapper, load_fine_tuned, textattack_run

    from auditkit.audits.robustness.offline import prepare_textattack
    from auditkit.audits.robustness.recipes import RECIPES

    prepare_textattack()
    handle, _ = load_fine_tuned(Path(spec["suite"]))
    wrapper = DynamicPaddingWrapper(handle.model, handle.tokenizer, handle.max_length)
    seconds, status = textattack_run(
        RECIPES[spec["recipe"]], wrapper, spec["texts"], spec["labels"], spec["seed"]
    )
    return {"seconds": seconds, "status": status, "peak_rss_mb": peak_rss_mb(),
            "ranks": [forward_counts(wrapper)]}  # fmt: skip


def forward_counts(model) -> dict:
    """How many forward calls the model ran, their padded tokens, and how long they took."""
    return {k: getattr(model, k) for k in ("forward_calls", "padded_tokens", "forward_seconds")}


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker_auditkit(spec: dict) -> dict:
    """The robustness audit, its test split being the chosen sentences; every rank runs this."""
    import dataclasses

    from datasets import Dataset
    from robustness_vs_textattack import load_fine_tuned

    from auditkit.api.audit import AuditContext
    from auditkit.api.sharding import LocalShards
    from auditkit.audits.robustness import RobustnessAudit
    from auditkit.audits.robustness.validity import similarity
    from auditkit.distributed import join
    from auditkit.launch import alone
    from auditkit.progress import Progress
    from auditkit.suite import load_suite

    suite = load_suite(Path(spec["suite"]))
    with alone():  # the single-process fine-tune's cache entry, on every rank
        handle, bundle = load_fine_tuned(Path(spec["suite"]))
    test = Dataset.from_dict({"text": spec["texts"], "label": spec["labels"]})
    bundle = dataclasses.replace(bundle, test=test)
    audit = RobustnessAudit(
        RobustnessAudit.Config(
            recipes=[spec["recipe"]],
            sample_size=len(spec["texts"]),
            bootstrap=200,
            invariance={"enabled": False},
            behaviour={"enabled": False},
            adversarial_training={"enabled": False},
            concurrency=spec["concurrency"],
        )
    )
    similarity(["warm up"], ["warm-up"], model_id=audit.config.similarity_model)  # load once
    cluster = join(600, handle.device)
    run_dir = Path(spec["run_dir"]) / f"rank{cluster.rank if cluster else 0}"
    ctx = AuditContext(
        model=handle, data=bundle, suite=suite, run_dir=run_dir, seed=spec["seed"],
        device=str(handle.device), progress=Progress(False),
        shards=cluster if cluster is not None else LocalShards(),
    )  # fmt: skip
    if cluster is not None:
        cluster.start_audit("robustness")
        cluster.end_audit("robustness", None)  # a barrier: every rank is ready
    handle.reset_counters()
    result = audit.run(ctx)
    if cluster is not None:
        cluster.close()
        if cluster.rank != 0:  # rank 0 answers; the others leave their forward counts beside it
            return {"rank": cluster.rank, **forward_counts(handle)}
    if result.status != "ok" or result.error:
        raise RuntimeError(f"the audit failed: {result.error}")
    table = result.tables["attacks"]
    row = dict(zip(table.columns, table.rows[0], strict=True))
    artifact = (run_dir / "robustness_attacks.jsonl").read_bytes()
    status = [json.loads(line)["outcome"] for line in artifact.decode().splitlines()]
    return {
        "seconds": row["seconds"],
        "status": status,
        "artifact_sha256": hashlib.sha256(artifact).hexdigest(),
        "success_rate": result.metrics[f"{spec['recipe']}.attack_success_rate"].value,
        "peak_rss_mb": peak_rss_mb(),
        "ranks": [forward_counts(handle)],
    }


# ------------------------------------------------------------------------------ the driver
def launch(mode: str, spec_path: Path, out: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS[mode]), "AUDITKIT_NO_PROGRESS": "1"}
    env["HF_HUB_OFFLINE"] = "1"
    me = [str(Path(__file__).resolve()), "_worker", mode, str(spec_path), str(out)]
    if mode == "auditkit-2x1":
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        cmd = [torchrun, "--standalone", "--nproc_per_node", "2", *me]
    else:
        cmd = [sys.executable, *me]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{mode} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")
    return wall


def rate(status: list[str]) -> float:
    attacked = [s for s in status if s in ("succeeded", "failed")]
    return sum(s == "succeeded" for s in attacked) / max(1, len(attacked))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=ROOT / "suites/finance_sentiment.yaml")
    parser.add_argument("--recipe", default="deepwordbug")
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--split", choices=["sample", "test"], default="sample")
    parser.add_argument("--modes", default=",".join(m for m in MODES if m != "auditkit-1x1"))
    parser.add_argument("--repeat-to", type=int, default=0, help="repeat the sentences to N")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=32, help="robustness.concurrency")
    parser.add_argument("--keep", action="store_true", help="keep the runs' folders (artifacts)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    texts, labels, origin = choose(args)
    if args.repeat_to:
        texts, labels = repeated(texts, labels, args.repeat_to)
        origin += f", repeated to {len(texts)}"
    work = Path(tempfile.mkdtemp(prefix="auditkit-bench-dist-"))
    spec = {"suite": str(args.suite.resolve()), "recipe": args.recipe, "seed": args.seed,
            "texts": texts, "labels": labels, "concurrency": args.concurrency}  # fmt: skip
    print(f"{args.recipe} on {len(texts)} sentences from {origin}; {args.repeats} repeat(s), "
          f"interleaved; {os.cpu_count()} cores")  # fmt: skip
    runs: dict[str, list[dict]] = {m: [] for m in modes}
    try:
        for repeat in range(args.repeats):
            for mode in modes:
                spec_path = work / f"{mode}-{repeat}.json"
                out = work / f"{mode}-{repeat}.out.json"
                spec_path.write_text(
                    json.dumps({**spec, "run_dir": str(work / f"{mode}-{repeat}")})
                )
                wall = launch(mode, spec_path, out)
                got = json.loads(out.read_text())
                for other in sorted(work.glob(f"{out.name}.rank*")):  # a sharded run's others
                    got["ranks"].append(json.loads(other.read_text()))
                got["wall"] = wall
                runs[mode].append(got)
                print(f"  repeat {repeat + 1}: {mode:<14} attacks {got['seconds']:7.1f} s, "
                      f"command {wall:6.1f} s", flush=True)  # fmt: skip
    finally:
        if args.keep:
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    n = len(texts)
    med = {m: statistics.median(r["seconds"] for r in runs[m]) for m in modes}
    wall = {m: statistics.median(r["wall"] for r in runs[m]) for m in modes}
    print(f"\n{'mode':<16}{'threads':>8}{'attack s':>10}{'s/example':>11}{'command s':>11}"
          f"{'success':>9}{'peak RSS MiB':>14}")  # fmt: skip
    for m in modes:
        ranks = 2 if m == "auditkit-2x1" else 1
        label = f"{ranks}x{THREADS[m]}"
        print(f"{m:<16}{label:>8}{med[m]:>10.1f}{med[m] / n:>11.3f}{wall[m]:>11.1f}"
              f"{rate(runs[m][0]['status']):>9.1%}"
              f"{max(r['peak_rss_mb'] for r in runs[m]):>14.0f}")  # fmt: skip

    # Where the time goes: the model's forward passes (token ids to probabilities) against the
    # rest (the search, constraints, tokenizing). Core us per token counts every core a mode
    # uses (its forward seconds x threads, summed over ranks), so equal figures mean equally
    # efficient forward passes. The bound: TextAttack's own tokens run at the best cost per
    # token measured here, on every core, with nothing else taking any time.
    print(f"\n{'mode':<16}{'forward s':>10}{'of attacks':>11}{'calls':>7}{'tokens':>9}"
          f"{'core us/token':>15}")  # fmt: skip
    fwd: dict[str, float] = {}
    tokens: dict[str, float] = {}
    cost: dict[str, float] = {}
    for m in modes:
        ranks = [run["ranks"] for run in runs[m]]
        fwd[m] = statistics.median(
            statistics.fmean(r["forward_seconds"] for r in rs) for rs in ranks
        )
        tokens[m] = statistics.median(sum(r["padded_tokens"] for r in rs) for rs in ranks)
        calls = statistics.median(sum(r["forward_calls"] for r in rs) for rs in ranks)
        cost[m] = statistics.median(
            sum(r["forward_seconds"] for r in rs) * THREADS[m] / sum(r["padded_tokens"] for r in rs)
            for rs in ranks
        )
        print(f"{m:<16}{fwd[m]:>10.1f}{fwd[m] / med[m]:>11.0%}{calls:>7.0f}{tokens[m]:>9.0f}"
              f"{cost[m] * 1e6:>15.0f}")  # fmt: skip
    if "textattack" in fwd:
        best = min(cost, key=cost.get)
        floor = tokens["textattack"] * cost[best] / (os.cpu_count() or 1)
        share = fwd["textattack"] / med["textattack"]
        print(f"TextAttack spends {share:.0%} of its attack time in forward passes. Its "
              f"{tokens['textattack']:.0f} tokens at the best cost per token "
              f"here ({best}'s), on all {os.cpu_count()} cores with nothing else running, take "
              f"{floor:.1f} s: no schedule of these queries beats it by more than "
              f"{med['textattack'] / floor:.2f}x on this machine")  # fmt: skip

    def ratio(a: str, b: str, what: str) -> None:
        if a in med and b in med:
            print(f"{what:<52}{med[a] / med[b]:6.2f}x  (commands {wall[a] / wall[b]:.2f}x)")

    print()
    ratio("textattack", "auditkit-2x1", "TextAttack (dynamic padding) / auditkit 2 ranks:")
    ratio("textattack", "auditkit-1x2", "TextAttack (dynamic padding) / auditkit 1 process:")
    ratio("auditkit-1x2", "auditkit-2x1", "auditkit 1 process x 2 threads / 2 ranks x 1:")
    if "auditkit-1x1" in med and "auditkit-2x1" in med:
        eff = med["auditkit-1x1"] / (2 * med["auditkit-2x1"])
        print(f"{'parallel efficiency, 2 ranks against 1 (1 thread each):':<52}{eff:6.1%}")
    # Equal threads per process give equal bits; 2 threads sum some reductions in another
    # order than 1, so the 1-process, 2-thread run may differ in last bits from the others.
    shas = {m: {r["artifact_sha256"] for r in runs[m]} for m in modes if m.startswith("auditkit")}
    one_thread = [m for m in shas if THREADS[m] == 1]
    if len(one_thread) > 1:
        same = len(set().union(*(shas[m] for m in one_thread))) == 1
        print(f"attacks artifact, 1 thread per process ({', '.join(one_thread)}): "
              f"{'byte-identical' if same else 'DIFFERENT'}")  # fmt: skip
    if "auditkit-1x2" in shas and one_thread:
        same = shas["auditkit-1x2"] == shas[one_thread[0]]
        print(f"attacks artifact, 2 threads against 1: {'byte-identical' if same else 'differs'}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        mode, spec_file, out_file = sys.argv[2:5]
        data = json.loads(Path(spec_file).read_text())
        got = worker_textattack(data) if mode == "textattack" else worker_auditkit(data)
        rank = got.pop("rank", 0)
        Path(out_file + (f".rank{rank}" if rank else "")).write_text(json.dumps(got))
    else:
        main()
