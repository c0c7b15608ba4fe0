"""Do two runs give the same numbers? Every metric, CI, table and status, apart from timings.

A refactor must not change behaviour: run the default suite before and after it, then

    python bench/compare_results.py reports/<suite>/<before-run> reports/<suite>/<after-run>

It prints each difference and exits 1 if there is any. Numbers that measure the machine rather
than the model (latencies, throughput, energy, memory, wall times; see `VOLATILE`) are left out,
and so are run ids, dates, hosts, paths and the cache state. Floats are compared to a relative
1e-9, so only real changes count; `--exact` compares them bit for bit (a sharded run against one
process, say).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

# Metric names and table columns whose value is a property of the machine or the moment.
# The roofline's seq_len is the mean padded length of the batches the timer ran, and how many
# it runs depends on the time budget (5 iterations on a busy machine, 20 on an idle one).
VOLATILE = re.compile(
    r"(latency|_ms$|throughput|tokens_per_s|energy|co2e|gflops|peak_share|wall_time|seconds|"
    r"_time_s$|samples_per_s|rss|peak_memory|peak_cuda|^iterations$|^iqr|^share$|^joules$|"
    r"j_per_1k|^source$|^method$|threads|^seq_len$)"
)
# Tables that only describe where the time went, or where files lie on this machine.
VOLATILE_TABLES = {"stage_profile", "latency", "energy", "setup"}
VOLATILE_ROW_FIELDS = {"location"}


def _same(a: Any, b: Any, exact: bool = False) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        if math.isnan(a) and math.isnan(b):
            return True
        if exact:
            return a == b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _metrics(path: str, a: dict, b: dict, out: list[str], exact: bool = False) -> None:
    for name in sorted(set(a) | set(b)):
        if VOLATILE.search(name.rsplit(".", 1)[-1]):
            continue
        if name not in a or name not in b:
            out.append(f"{path}.{name}: only in {'after' if name in b else 'before'}")
            continue
        for field in ("value", "ci_low", "ci_high", "higher_is_better", "unit"):
            x, y = a[name].get(field), b[name].get(field)
            if not _same(x, y, exact):
                out.append(f"{path}.{name}.{field}: {x!r} -> {y!r}")


def _tables(path: str, a: dict, b: dict, out: list[str], exact: bool = False) -> None:
    for name in sorted(set(a) | set(b)):
        if name in VOLATILE_TABLES:
            continue
        if name not in a or name not in b:
            out.append(f"{path}.tables.{name}: only in {'after' if name in b else 'before'}")
            continue
        ta, tb = a[name], b[name]
        if ta["columns"] != tb["columns"]:
            out.append(f"{path}.tables.{name}: columns {ta['columns']} -> {tb['columns']}")
            continue
        if len(ta["rows"]) != len(tb["rows"]):
            out.append(f"{path}.tables.{name}: {len(ta['rows'])} -> {len(tb['rows'])} rows")
            continue
        keep = [
            i
            for i, c in enumerate(ta["columns"])
            if not VOLATILE.search(c) and c not in VOLATILE_ROW_FIELDS
        ]
        for r, (ra, rb) in enumerate(zip(ta["rows"], tb["rows"], strict=True)):
            for i in keep:
                if not _same(ra[i], rb[i], exact):
                    col = ta["columns"][i]
                    out.append(f"{path}.tables.{name}[{r}].{col}: {ra[i]!r} -> {rb[i]!r}")


def compare(before: dict, after: dict, *, exact: bool = False) -> list[str]:
    """The differences between two results.json documents that are not timings or ids."""
    out: list[str] = []
    for key in ("schema_version", "status", "suite_name", "suite_hash"):
        if before.get(key) != after.get(key):
            out.append(f"{key}: {before.get(key)!r} -> {after.get(key)!r}")
    db, da = before.get("data") or {}, after.get("data") or {}
    for key in sorted((set(db) | set(da)) - {"origin"}):  # origin: the file's path here
        if db.get(key) != da.get(key):
            out.append(f"data.{key}: {db.get(key)!r} -> {da.get(key)!r}")
    mb, ma = before["manifest"], after["manifest"]
    for key in ("seed", "dataset_fingerprint", "split_fingerprints", "device"):
        if mb.get(key) != ma.get(key):
            out.append(f"manifest.{key}: {mb.get(key)!r} -> {ma.get(key)!r}")
    if mb["model"].get("fingerprint") != ma["model"].get("fingerprint"):
        out.append("manifest.model.fingerprint: differs")
    res = lambda m: [(r["name"], r["sha256"], r["used_by"]) for r in m.get("resources", [])]  # noqa: E731
    if res(mb) != res(ma):
        out.append(f"manifest.resources: {res(mb)} -> {res(ma)}")
    tb, ta = before.get("training") or {}, after.get("training") or {}
    for key in ("cache_key", "steps", "best_epoch", "best_value", "world_size", "config"):
        if not _same(tb.get(key), ta.get(key), exact):
            out.append(f"training.{key}: {tb.get(key)!r} -> {ta.get(key)!r}")
    for curve in ("loss_curve", "eval_curve"):
        if tb.get(curve) and ta.get(curve):
            _tables("training", {curve: tb[curve]}, {curve: ta[curve]}, out, exact)
    audits_b, audits_a = before["audits"], after["audits"]
    if list(audits_b) != list(audits_a):
        out.append(f"audits: {list(audits_b)} -> {list(audits_a)}")
    for name in audits_b.keys() & audits_a.keys():
        a, b = audits_b[name], audits_a[name]
        for key in ("status", "artifacts", "warnings", "error"):
            if a.get(key) != b.get(key):
                out.append(f"audits.{name}.{key}: differs")
        _metrics(f"audits.{name}", a["metrics"], b["metrics"], out, exact)
        _tables(f"audits.{name}", a["tables"], b["tables"], out, exact)
    return out


def _load(path: str) -> dict:
    import json

    p = Path(path)
    return json.loads((p / "results.json" if p.is_dir() else p).read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="a run directory or its results.json")
    parser.add_argument("after", help="a run directory or its results.json")
    parser.add_argument("--exact", action="store_true", help="floats equal bit for bit")
    args = parser.parse_args(argv)
    before, after = _load(args.before), _load(args.after)
    diffs = compare(before, after, exact=args.exact)
    n = sum(len(a["metrics"]) for a in after["audits"].values())
    for line in diffs:
        print(line)
    print(
        f"{len(diffs)} difference(s) between run {before['run_id']} and run {after['run_id']} "
        f"({n} metrics; timings, ids, hosts and paths left out)"
    )
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
