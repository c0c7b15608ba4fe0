"""The run pipeline: data -> model -> fine-tune -> audits -> results.json.

The CLI is a thin layer over `run_suite`. Results are saved after every stage, so an audit that
fails (or a run that is interrupted) never loses what already finished.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from auditkit.api.registry import AUDITS, did_you_mean
from auditkit.api.results import (
    AuditResult,
    DataSummary,
    ErrorInfo,
    ModelInfo,
    RankInfo,
    RunResults,
    Stage,
    now_iso,
    save_results,
)
from auditkit.api.rundir import new_run_id, point_latest, run_path
from auditkit.errors import AuditkitError, SuiteError
from auditkit.manifest import new_results
from auditkit.progress import Progress
from auditkit.suite import Suite

log = logging.getLogger(__name__)


def select_audits(suite: Suite, only: list[str] | None) -> dict:
    configs = suite.audit_configs()
    if not only:
        return configs
    only = [name.strip() for item in only for name in item.split(",") if name.strip()]
    unknown = [name for name in only if name not in configs]
    if unknown:
        name = unknown[0]
        known = name in AUDITS
        raise SuiteError(
            f"--only {name!r}: "
            + (
                "this audit is not listed in the suite's `audits:`"
                if known
                else f"unknown audit.{did_you_mean(name, list(configs))}"
            ),
            hint=f"the suite lists: {', '.join(configs)}",
        )
    return {name: cfg for name, cfg in configs.items() if name in only}


def order_audits(configs: dict) -> dict:
    """The suite's audits in run order: the suite's order, except that an audit runs after
    the audits it declares it reads (`Audit.reads`) when those are in the run too."""
    reads = {name: [d for d in AUDITS.get(name).reads if d in configs] for name in configs}
    placed: list[str] = []
    pending = list(configs)
    while pending:
        ready = next((n for n in pending if all(d in placed for d in reads[n])), None)
        if ready is None:
            raise SuiteError(
                f"audits {pending} read each other's results in a cycle",
                hint="an audit's `reads` must not lead back to itself",
            )
        placed.append(ready)
        pending.remove(ready)
    if placed != list(configs):
        moved = [f"{n} after {', '.join(reads[n])}" for n in placed if reads[n]]
        log.info("audits: run order %s (%s)", ", ".join(placed), "; ".join(moved))
    return {name: configs[name] for name in placed}


def run_suite(
    suite: Suite,
    *,
    out_dir: Path | None = None,
    device: str | None = None,
    retrain: bool = False,
    only: list[str] | None = None,
    seed: int | None = None,
    progress: Progress | None = None,
    command: str | None = None,
    mlflow: bool = False,
    timeout_s: float | None = None,
) -> tuple[RunResults, Path]:
    """Run every stage and audit of the suite; returns the results and the run directory.

    With `mlflow` (or the suite's `tracking.mlflow`), the finished run, failed or not, is
    logged to MLflow (auditkit.tracking). Under torchrun every rank calls this; `timeout_s`
    (else the suite's `distributed.timeout_s`) bounds the wait for a stuck rank."""
    if seed is not None:
        suite = suite.model_copy(update={"seed": seed})
    if timeout_s is not None:
        spec = suite.distributed.model_copy(update={"timeout_s": timeout_s})
        suite = suite.model_copy(update={"distributed": spec})
    progress = progress or Progress()
    configs = order_audits(select_audits(suite, only))  # config errors fail before any work
    root = Path(out_dir) if out_dir else Path(suite.output_dir)  # relative to the cwd
    run_id = new_run_id()
    run_dir = run_path(root, suite.name, run_id)

    from auditkit.models import resolve_device

    dev = resolve_device(device or suite.device)
    results = new_results(suite, run_id, dev, command)
    log.info("run %s -> %s", run_id, run_dir)

    from auditkit.launch import is_main_process

    # under torchrun, rank 0 alone writes results
    rec = _Recorder(results, run_dir, dev, writer=is_main_process())
    track = mlflow or suite.tracking.mlflow is not None
    if track:
        from auditkit.tracking import require_mlflow

        require_mlflow()  # not installed: say so before any work, not after it
    try:
        audited = _run_stages(suite, configs, rec, retrain=retrain, progress=progress)
    except BaseException as exc:
        rec.fail(exc)
        if track and rec.writer and not isinstance(exc, KeyboardInterrupt):
            _track(suite, results, run_dir)
        raise
    if audited:
        rec.finish()
        if track:
            _track(suite, results, run_dir)
    return results, run_dir


def _track(suite: Suite, results: RunResults, run_dir: Path) -> None:
    """Log the run to MLflow; a tracking failure is recorded, and the run's results stand."""
    from auditkit.tracking import log_run

    spec = suite.tracking.mlflow
    try:
        log_run(
            results,
            run_dir,
            tracking_uri=spec.tracking_uri if spec else None,
            experiment=spec.experiment if spec else None,
        )
    except AuditkitError:
        raise
    except Exception as exc:  # the store's own errors: the run is done, say what failed
        log.error("mlflow: could not log run %s: %s: %s", results.run_id, type(exc).__name__, exc)
        raise AuditkitError(
            f"mlflow: could not log run {results.run_id}: {type(exc).__name__}: {exc}",
            hint=f"the run itself is complete in {run_dir}",
        ) from None


class _Recorder:
    """Writes results.json after every stage (rank 0 only), and once more when the run ends."""

    def __init__(self, results: RunResults, run_dir: Path, dev, *, writer: bool) -> None:
        from auditkit.energy import StageMeter

        self.results = results
        self.run_dir = run_dir
        self.device = dev
        self.writer = writer
        self._stage_meter = StageMeter

    def save(self, audit: str | None = None) -> None:
        """Write results.json; a result that cannot be written fails its audit, not the run."""
        if not self.writer:
            return
        try:
            save_results(self.results, self.run_dir)
        except Exception as exc:
            if audit is None or audit not in self.results.audits:
                raise
            _record_save_failure(self.results, audit, exc)
            # a second failure is not this audit's: it propagates
            save_results(self.results, self.run_dir)

    @contextlib.contextmanager
    def stage(self, name: str, audit: str | None = None) -> Iterator[None]:
        # measured (NVML/RAPL) or estimated; never raises
        meter = self._stage_meter(str(self.device))
        start = time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - start
            joules, method, detail = meter.stop()
            self.results.stages.append(
                Stage(
                    name=name,
                    wall_time_s=round(wall, 3),
                    energy_j=joules,
                    energy_method=method,
                    detail=detail,
                )
            )
            self.save(audit)

    def fail(self, exc: BaseException) -> None:
        """Record the exception being handled (call it from the `except` block)."""
        self.results.status = "failed"
        self.results.error = ErrorInfo(
            type=type(exc).__name__,
            message=str(exc) or type(exc).__name__,
            traceback=None if isinstance(exc, AuditkitError) else traceback.format_exc(),
        )
        self.results.manifest.finished_at = now_iso()
        self.save()
        if self.writer:
            point_latest(self.run_dir)
            if isinstance(exc, Exception):  # not on Ctrl-C
                _write_report(self.run_dir)

    def finish(self) -> None:
        failed = [n for n, r in self.results.audits.items() if r.status == "failed"]
        self.results.status = "failed" if failed else "ok"
        self.results.manifest.finished_at = now_iso()
        self.save()
        if self.writer:
            point_latest(self.run_dir)
            _write_report(self.run_dir)


def _run_stages(
    suite: Suite, configs: dict, rec: _Recorder, *, retrain: bool, progress: Progress
) -> bool:
    """data -> model -> fine-tune -> audits, on every rank of a launch."""
    results = rec.results
    with rec.stage("data"):
        bundle = _load_data(suite, results)

    with rec.stage("model"):
        handle = _load_model(suite, bundle, rec.device, results)

    if suite.training.enabled:
        with rec.stage("train"):
            handle = _fine_tune(suite, bundle, handle, results, retrain=retrain, progress=progress)
    else:
        log.info("training: disabled in the suite; auditing the model as loaded")

    from auditkit.distributed import join

    cluster = join(suite.distributed.timeout_s, rec.device)
    if cluster is None:
        _run_audits(suite, configs, bundle, handle, rec, progress, None)
        return True
    # Every rank audits rank 0's weights: a data-parallel fine-tune leaves the ranks' copies
    # apart (rank 0 alone reloads the best checkpoint it saved), and a block must not depend
    # on the rank it lands on.
    cluster.broadcast_module(handle.model)
    results.manifest.world_size = cluster.world_size
    results.manifest.ranks = [RankInfo(**info) for info in cluster.ranks]
    scratch = None
    if not rec.writer:  # this rank's artifacts go to a private folder, deleted at the end
        scratch = Path(tempfile.mkdtemp(prefix=f"auditkit-rank{cluster.rank}-"))
    try:
        _run_audits(suite, configs, bundle, handle, rec, progress, cluster, scratch)
    finally:
        cluster.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    return True


def _load_data(suite: Suite, results: RunResults):
    from auditkit.data import load_data

    bundle = load_data(suite)
    results.data = DataSummary(label_names=bundle.label_names, **asdict(bundle.report))
    results.manifest.dataset_fingerprint = bundle.fingerprint
    results.manifest.split_fingerprints = bundle.split_fingerprints
    return bundle


def _load_model(suite: Suite, bundle, dev, results: RunResults):
    import torch

    from auditkit.models import load_model, resolve_model_spec

    source = resolve_model_spec(suite.model, suite.base_dir)
    torch.manual_seed(suite.seed)  # the fresh head's init is part of the run's seed
    handle = load_model(
        suite.model, bundle.label_names, dev, source=source, allow_new_head=suite.training.enabled
    )
    results.manifest.model = ModelInfo(**handle.describe())
    return handle


def _fine_tune(suite: Suite, bundle, handle, results: RunResults, *, retrain: bool, progress):
    from auditkit.training import fine_tune

    outcome = fine_tune(
        handle,
        bundle,
        suite.training,
        seed=suite.seed,
        retrain=retrain,
        progress=progress.enabled,
        timeout_s=suite.distributed.timeout_s,
    )
    results.training = outcome.summary
    results.manifest.model.fine_tuned = True
    results.manifest.model.cache_key = outcome.summary.cache_key
    return outcome.handle


def _run_audits(
    suite: Suite,
    configs: dict,
    bundle,
    handle,
    rec: _Recorder,
    progress,
    cluster=None,
    scratch: Path | None = None,
) -> None:
    """Each audit in turn; under torchrun on every rank, in lockstep (auditkit.distributed)."""
    from auditkit.api.audit import AuditContext
    from auditkit.api.sharding import LocalShards
    from auditkit.training import suite_fine_tuner

    fine_tune = suite_fine_tuner(
        suite, bundle, seed=suite.seed, device=handle.device, progress=progress.enabled
    )
    if cluster is not None:
        fine_tune = cluster.everywhere(fine_tune)
        if not rec.writer:
            progress = type(progress)(False)  # one set of bars: rank 0's
    for name, cfg in configs.items():
        if cluster is not None and cluster.broken and not rec.writer:
            log.error(
                "rank %d: stops before audit %s; rank 0 finishes the run alone (%s)",
                cluster.rank, name, cluster.broken,
            )  # fmt: skip
            return
        ctx = AuditContext(
            model=handle,
            data=bundle,
            suite=suite,
            run_dir=scratch or rec.run_dir,
            seed=suite.seed,
            device=str(rec.device),
            progress=progress,
            results=rec.results,
            fine_tune=fine_tune,
            shards=cluster if cluster is not None else LocalShards(),
        )
        with rec.stage(f"audit:{name}", audit=name):
            if cluster is None:
                rec.results.audits[name] = _run_audit(name, cfg, ctx)
            else:
                rec.results.audits[name] = cluster.run_audit(
                    name,
                    lambda name=name, cfg=cfg, ctx=ctx: _run_audit(name, cfg, ctx),
                    config=cfg.model_dump(mode="json"),
                    single_process=AUDITS.get(name).single_process,
                )


def _write_report(run_dir: Path) -> None:
    from auditkit.report import try_render_report

    try_render_report(run_dir)  # logs, never raises: results.json is what counts


def _record_save_failure(results: RunResults, name: str, exc: Exception) -> None:
    """Replace an audit's result that cannot be serialized by a failed one that says why."""
    log.error("audit %s: its results could not be saved: %s: %s", name, type(exc).__name__, exc)
    bad = results.audits[name]
    results.audits[name] = AuditResult(
        name=name,
        status="failed",
        config=bad.config,
        wall_time_s=bad.wall_time_s,
        error=ErrorInfo(
            type=type(exc).__name__,
            message=f"the audit ran, but its results could not be saved to results.json: {exc}",
            traceback=traceback.format_exc(),
        ),
    )


def _run_audit(name: str, cfg, ctx) -> AuditResult:
    cls = AUDITS.get(name)
    log.info("audit %s: running", name)
    start = time.perf_counter()
    try:
        result = cls(cfg).run(ctx)
        result.name = name
        if not result.config:  # an audit that does not record its settings: the runner does
            result.config = cfg.model_dump(mode="json")
        _check_declared(name, cls.outputs, result)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one audit's failure must not lose the others
        log.error("audit %s failed: %s: %s", name, type(exc).__name__, exc)
        result = AuditResult(
            name=name,
            status="failed",
            config=cfg.model_dump(mode="json"),
            error=ErrorInfo(
                type=type(exc).__name__, message=str(exc), traceback=traceback.format_exc()
            ),
        )
    result.wall_time_s = round(time.perf_counter() - start, 3)
    return result


def _check_declared(name: str, declared, result: AuditResult) -> None:
    """Say (in the log, for the audit's author) where a result departs from its declared
    outputs: the report, dashboard and docs go by the declaration."""
    from auditkit.api.outputs import check

    problems = check(declared, result)
    if problems:
        log.warning(
            "audit %s: its results differ from its declared outputs: %s%s",
            name,
            "; ".join(problems[:5]),
            f" (+{len(problems) - 5} more)" if len(problems) > 5 else "",
        )
