"""auditkit from Python: `run(suite)` runs what `auditkit run` runs and returns a `Run`.

A `Run` is the run directory the CLI writes, with views for a notebook: the metrics as a
DataFrame (audit, metric, value, CI, direction, unit), the tables, the HTML report and a
scorecard for a cell's output. `save` copies the run directory elsewhere (the dashboard and the
gate read it there too), and `gate` compares it with a baseline exactly as `auditkit gate`
does. Nothing here imports torch until a run starts.
"""

from __future__ import annotations

import html
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditkit.api.results import RunResults, load_results
from auditkit.api.rundir import RESULTS_FILE, point_latest, resolve_run_dir
from auditkit.errors import AuditkitError

if TYPE_CHECKING:
    import pandas as pd

    from auditkit.gate.output import GateReport
    from auditkit.suite import Suite

_RUN_KEYS = ("out_dir", "device", "retrain", "only", "seed", "progress", "mlflow")


class Run:
    """One auditkit run: its results (`results`) and the directory that holds them."""

    def __init__(self, results: RunResults, run_dir: str | os.PathLike[str]) -> None:
        self.results = results
        self.run_dir = Path(run_dir)

    @classmethod
    def load(cls, run_dir: str | os.PathLike[str]) -> Run:
        """A finished run from its directory (or `reports/<suite>/latest`)."""
        folder = resolve_run_dir(run_dir)
        return cls(load_results(folder), folder)

    def __repr__(self) -> str:
        audits = ", ".join(f"{n} [{a.status}]" for n, a in self.results.audits.items())
        return f"Run({self.results.run_id!r}, status={self.status!r}, audits: {audits or 'none'})"

    @property
    def run_id(self) -> str:
        return self.results.run_id

    @property
    def status(self) -> str:
        return self.results.status

    @property
    def metrics(self) -> pd.DataFrame:
        """Every metric: audit, metric, value, ci_low, ci_high, direction, unit, description."""
        import pandas as pd

        rows = []
        for audit, result in self.results.audits.items():
            for name, m in result.metrics.items():
                direction = None if m.higher_is_better is None else (
                    "higher" if m.higher_is_better else "lower"
                )  # fmt: skip
                rows.append(
                    {
                        "audit": audit,
                        "metric": name,
                        "value": m.value,
                        "ci_low": m.ci_low,
                        "ci_high": m.ci_high,
                        "direction": direction,
                        "unit": m.unit,
                        "description": m.description,
                    }
                )
        columns = ["audit", "metric", "value", "ci_low", "ci_high", "direction", "unit"]
        return pd.DataFrame(rows, columns=[*columns, "description"])

    def metric(self, path: str) -> float | None:
        """One metric's value by dotted path, e.g. `performance.accuracy`."""
        return self.results.metric(path).value

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table as a DataFrame, keyed `audit.table` (e.g. `performance.per_class`)."""
        import pandas as pd

        return {
            f"{audit}.{name}": pd.DataFrame(table.rows, columns=table.columns)
            for audit, result in self.results.audits.items()
            for name, table in result.tables.items()
        }

    def report_html(self) -> str:
        """The self-contained HTML report (written to the run directory if it is not there)."""
        path = self.run_dir / "report.html"
        if not path.is_file():
            from auditkit.report import render_report

            render_report(self.run_dir)
        return path.read_text(encoding="utf-8")

    def _repr_html_(self) -> str:
        """A notebook cell's view: the status and each audit's declared headline metrics."""
        from auditkit.api.registry import outputs

        def cell(m) -> str:
            if m.value is None:
                return "n/a"
            ci = f" [{m.ci_low:.3f}, {m.ci_high:.3f}]" if m.ci_low is not None else ""
            value = f"{m.value:.4g}" if isinstance(m.value, float) else str(m.value)
            return html.escape(value + ci)

        rows = []
        for audit, result in self.results.audits.items():
            if result.status != "ok":
                error = result.error.message if result.error else "failed"
                rows.append(f"<tr><td>{html.escape(audit)}</td><td colspan=2>failed: "
                            f"{html.escape(error)}</td></tr>")  # fmt: skip
                continue
            for key, m in outputs(audit).headline_metrics(result.metrics, ranked=True)[:4]:
                rows.append(f"<tr><td>{html.escape(audit)}</td><td>{html.escape(key)}</td>"
                            f"<td>{cell(m)}</td></tr>")  # fmt: skip
        head = (
            f"<p><b>auditkit run {html.escape(self.run_id)}</b> · suite "
            f"{html.escape(self.results.suite_name)} · status {html.escape(self.status)} · "
            f"<code>{html.escape(str(self.run_dir))}</code></p>"
        )
        table = "<table><tr><th>audit</th><th>metric</th><th>value [95% CI]</th></tr>"
        return head + table + "".join(rows) + "</table>"

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Copy the run directory to `directory/<suite>/<run id>` (and point `latest` at it),
        the layout `auditkit run --out directory` writes; returns the new run directory."""
        target = Path(directory) / self.results.suite_name / self.run_id
        if target.resolve() == self.run_dir.resolve():
            return target
        if target.exists():
            raise AuditkitError(f"{target}: already exists", hint="save to another directory")
        shutil.copytree(self.run_dir, target)
        point_latest(target)
        return target

    def gate(
        self,
        baseline: str | os.PathLike[str],
        *,
        checks: Iterable[str] = (),
        suite: str | os.PathLike[str] | None = None,
        accept_loosened: bool = False,
        allow_failed_audits: bool = False,
        **settings: Any,
    ) -> GateReport:
        """`auditkit gate` on this run: the baseline's stored spec, tightened by `suite`'s gate
        section and `checks` ("performance.accuracy:max_drop=0.01"), and `settings` (alpha,
        policy, on_missing, fail_on_inconclusive). Writes gate.json into the run directory."""
        from auditkit.gate import load_baseline, run_gate, settle, spec_from_run

        stored = load_baseline(baseline).gate
        proposal, source = None, "the Python call"
        if suite is not None:
            from auditkit.suite import load_suite

            proposal, source = load_suite(Path(suite)).gate, f"suite {suite}"
        elif stored is None:
            proposal, source = spec_from_run(self.results), "the run's suite"
        agreed = settle(
            stored,
            proposal,
            source,
            overrides=list(checks),
            accept_loosened=accept_loosened,
            **settings,
        )
        return run_gate(self.run_dir, baseline, agreed, allow_failed_audits=allow_failed_audits)

    def baseline(self, to: str | os.PathLike[str]):
        """Save this run as a gate baseline (with its suite's gate spec), like
        `auditkit baseline save`."""
        from auditkit.gate import resolve_spec, save_baseline, spec_from_run

        spec = spec_from_run(self.results)
        return save_baseline(self.run_dir, to, resolve_spec(spec) if spec else None)


def run(suite: str | os.PathLike[str] | Suite, **overrides: Any) -> Run:
    """Run a suite (a YAML path or a `Suite`) as `auditkit run` does; returns the `Run`.

    `overrides`: out_dir (results root, default the suite's `output_dir`, `reports`), device,
    retrain, only (audit names), seed, progress (False: no progress bars), mlflow (True: log
    the run to MLflow, as `--mlflow`)."""
    from auditkit.suite import Suite, load_suite

    unknown = sorted(set(overrides) - set(_RUN_KEYS))
    if unknown:
        raise AuditkitError(
            f"auditkit.run: unknown option(s) {unknown}", hint=f"options: {', '.join(_RUN_KEYS)}"
        )
    loaded = suite if isinstance(suite, Suite) else load_suite(Path(suite))
    progress = overrides.pop("progress", None)  # None: as AUDITKIT_NO_PROGRESS says
    from auditkit.progress import Progress
    from auditkit.runner import run_suite

    if isinstance(overrides.get("only"), str):
        overrides["only"] = [overrides["only"]]
    results, run_dir = run_suite(
        loaded,
        progress=Progress(None if progress is None else bool(progress)),
        command="auditkit.run(...)",
        **overrides,
    )
    if not (Path(run_dir) / RESULTS_FILE).is_file():
        raise AuditkitError(f"{run_dir}: the run wrote no {RESULTS_FILE}")
    return Run(results, run_dir)


def audit(
    model: Any,
    tokenizer: Any,
    data: Any,
    *,
    labels: Iterable[str],
    audits: Iterable[str] | dict[str, dict | None] | None = None,
    train: Any = None,
    training: dict[str, Any] | None = None,
    name: str = "notebook",
    max_length: int = 128,
    seed: int = 0,
    **overrides: Any,
) -> Run:
    """Audit an in-memory `transformers` classifier: no YAML, and no fine-tune unless `train`.

    `data` (the test set) and `train` are a `datasets.Dataset`, a pandas DataFrame (columns
    `text` and `label`) or a list of (text, label) pairs; a label is a name from `labels` or
    its index. Without `train` the model must already have a head of `len(labels)` outputs,
    in the order of `labels`. `audits` names the audits (default: performance) or maps them to
    their settings; `training` holds `training:` settings for the fine-tune on `train`.
    `overrides` are `run`'s (out_dir, device, retrain, only, progress).

    The model and tokenizer are saved once to auditkit's cache, keyed by a hash of the weights,
    and the data to parquet beside them, so the run directory records where they came from,
    and the gate pairs runs of the same model and test set as it does for any suite."""
    from auditkit.suite import DataSpec, ModelSpec, Suite, TrainingSpec

    names = list(labels)
    _check_head(model, names, trained=train is not None)
    folder = _save_model(model, tokenizer)
    test_file = _save_frame(_frame(data, names, "data"), "test")
    train_file = None if train is None else _save_frame(_frame(train, names, "train"), "train")
    if isinstance(audits, dict):
        chosen = dict(audits)
    else:
        chosen = dict.fromkeys(list(audits) if audits is not None else ["performance"])
    try:
        suite = Suite(
            name=name,
            seed=seed,
            model=ModelSpec(id=str(folder), max_length=max_length),
            data=DataSpec(
                source="parquet",
                path=None if train_file is None else str(train_file),
                test_path=str(test_file),
                labels=names,
                validation_size=0.1 if train_file is not None else 0,
            ),
            training=TrainingSpec(**(training or {}))
            if train_file is not None
            else TrainingSpec(enabled=False),
            audits=chosen,
        )
    except ValueError as exc:
        raise AuditkitError(f"auditkit.audit: {exc}") from None
    return run(suite.with_base_dir(Path.cwd()), **overrides)


def _check_head(model: Any, labels: list[str], *, trained: bool) -> None:
    """The model's outputs must be `labels`, in that order, unless a fine-tune gives it a head."""
    config = getattr(model, "config", None)
    if config is None or not hasattr(model, "save_pretrained"):
        raise AuditkitError(
            f"auditkit.audit: {type(model).__name__} is not a transformers model",
            hint="pass a PreTrainedModel, e.g. from AutoModelForSequenceClassification",
        )
    if trained:
        return
    n = getattr(config, "num_labels", None)
    if n != len(labels):
        raise AuditkitError(
            f"auditkit.audit: the model has {n} outputs but {len(labels)} labels were given "
            f"({labels})",
            hint="pass the labels in the order of the model's outputs, or `train` to fine-tune "
            "a new head",
        )
    named = [str(config.id2label.get(i, "")) for i in range(n)] if config.id2label else []
    if named and not all(x.upper().startswith("LABEL_") for x in named) and named != labels:
        raise AuditkitError(
            f"auditkit.audit: the model's id2label is {named}, not {labels}",
            hint="give `labels` in the order of the model's outputs, so metrics read the "
            "right class",
        )


def _save_model(model: Any, tokenizer: Any) -> Path:
    """Save the model and tokenizer under the cache, in a folder named by their weights."""
    import hashlib

    from auditkit.training import cache_root

    digest = hashlib.sha256(model.config.to_json_string().encode())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    folder = cache_root() / "memory" / digest.hexdigest()[:24]
    if not (folder / "config.json").is_file():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if folder.exists():  # saved meanwhile by another process
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    return folder


def _frame(data: Any, labels: list[str], what: str) -> pd.DataFrame:
    """`text` and `label` (as names) from a Dataset, a DataFrame or (text, label) pairs."""
    import pandas as pd

    if hasattr(data, "to_pandas") and hasattr(data, "features"):  # datasets.Dataset
        frame = data.to_pandas()
    elif isinstance(data, pd.DataFrame):
        frame = data.copy()
    else:
        try:
            frame = pd.DataFrame(list(data), columns=["text", "label"])
        except (TypeError, ValueError) as exc:
            raise AuditkitError(
                f"auditkit.audit: `{what}` is not a Dataset, a DataFrame or (text, label) "
                f"pairs ({exc})"
            ) from None
    missing = [c for c in ("text", "label") if c not in frame.columns]
    if missing:
        raise AuditkitError(
            f"auditkit.audit: `{what}` has no column(s) {missing} (columns: {list(frame.columns)})",
            hint="name the columns `text` and `label`",
        )

    def name(value: Any) -> str:
        if isinstance(value, str):
            return value
        if (
            isinstance(value, (int, float))
            and float(value).is_integer()
            and 0 <= value < len(labels)
        ):
            return labels[int(value)]
        return str(value)

    frame = frame[["text", "label"]].assign(label=frame["label"].map(name))
    unknown = sorted(set(frame["label"]) - set(labels))
    if unknown:
        raise AuditkitError(
            f"auditkit.audit: `{what}` has labels {unknown[:5]} that are not in {labels}",
            hint="labels are names from `labels`, or their index",
        )
    return frame


def _save_frame(frame: pd.DataFrame, split: str) -> Path:
    """The frame as parquet under the cache, named by its content."""
    import hashlib

    from auditkit.training import cache_root

    blob = frame.to_json(orient="split", index=False).encode()
    path = cache_root() / "memory-data" / f"{split}-{hashlib.sha256(blob).hexdigest()[:24]}.parquet"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    return path
