"""The `auditkit` command: a thin layer that parses arguments and calls the API.

Exit codes: 0 success; 1 a run finished but an audit failed, or the gate found a regression;
2 bad input (suite, data, model, baseline, usage), with a message that says what and where and
no traceback.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from auditkit.errors import AuditkitError

app = typer.Typer(
    name="auditkit",
    help="Fine-tune and audit transformer text classifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

log = logging.getLogger("auditkit")


def _setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("auditkit")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@app.command()
def run(
    suite: Annotated[Path, typer.Argument(help="suite YAML, e.g. suites/finance_sentiment.yaml")],
    out: Annotated[
        Path | None, typer.Option("--out", help="results root (default: reports/)")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, cuda or mps (default: the suite's, auto)")
    ] = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="ignore the fine-tune cache")] = False,
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="run only this audit: repeat it, or give a comma list (a,b)"),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="override the suite's seed")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no progress bars")] = False,
    mlflow: Annotated[
        bool,
        typer.Option(
            "--mlflow",
            help="log the run to MLflow (the suite's tracking.mlflow, else MLFLOW_TRACKING_URI "
            "or ./mlruns); needs auditkit[mlflow]",
        ),
    ] = False,
    timeout_s: Annotated[
        float | None,
        typer.Option(
            "--timeout-s",
            min=1,
            help="under torchrun: seconds a rank waits for the others before it calls one "
            "stuck (default: the suite's distributed.timeout_s, 1800)",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Fine-tune (or reuse the cached fine-tune) and run the suite's audits."""
    _setup_logging(verbose)
    if device not in (None, "cpu", "cuda", "mps", "auto"):
        raise AuditkitError(f"--device {device!r}: expected cpu, cuda, mps or auto")
    from auditkit.launch import is_main_process
    from auditkit.progress import Progress
    from auditkit.runner import run_suite
    from auditkit.suite import load_suite

    loaded = load_suite(suite)
    writer = is_main_process()
    results, run_dir = run_suite(
        loaded,
        out_dir=out,
        device=device,
        retrain=retrain,
        only=only,
        seed=seed,
        progress=Progress(False if no_progress else None),
        command=shlex.join(["auditkit", *sys.argv[1:]]),
        mlflow=mlflow,
        timeout_s=timeout_s,
    )
    # Under torchrun rank 0 writes, prints and sets the job's exit code: a non-zero rank that
    # exited 1 first would make torchrun stop rank 0 before it wrote what it has.
    if writer:
        _print_summary(results, run_dir)
        if results.status != "ok":
            raise typer.Exit(1)


@app.command()
def validate(
    suite: Annotated[Path, typer.Argument(help="suite YAML to check")],
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Check a suite without running it: keys, types, files, audits, labels against the data."""
    _setup_logging(verbose)
    from auditkit.data import load_data
    from auditkit.models import resolve_model_spec
    from auditkit.suite import load_suite

    loaded = load_suite(suite)
    configs = loaded.audit_configs()
    bundle = load_data(loaded)
    source = resolve_model_spec(loaded.model, loaded.base_dir)
    sizes = ", ".join(f"{k} {v}" for k, v in bundle.report.split_sizes.items())
    typer.echo(f"{suite}: OK")
    typer.echo(f"  data:   {bundle.report.source} {bundle.report.origin}: {sizes}")
    typer.echo(f"          labels {bundle.label_names}; dropped {bundle.report.dropped or 'none'}")
    for warning in bundle.report.warnings:
        typer.echo(f"          warning: {warning}")
    typer.echo(f"  model:  {loaded.model.id} ({source.kind}: {source.location})")
    typer.echo(f"  audits: {', '.join(configs)}")
    if loaded.gate is not None and loaded.gate.checks:
        from auditkit.gate.spec import power_warnings, resolve_spec

        spec = resolve_spec(loaded.gate)  # refuses what the gate could not test, here too
        typer.echo(f"  gate:   {len(spec.checks)} checks, {spec.policy}, alpha {spec.alpha:g}")
        for warning in power_warnings(spec, bundle.report.split_sizes.get("test", 0)):
            typer.echo(f"          warning: {warning}")


@app.command()
def report(
    run_dir: Annotated[
        Path,
        typer.Argument(help="a run directory (e.g. reports/<suite>/latest) or its results.json"),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="write here instead of RUN_DIR/report.html")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """(Re)write a run's self-contained HTML report from its results.json and artifacts."""
    _setup_logging(verbose)
    from auditkit.report import render_report

    typer.echo(f"report: {render_report(run_dir, out)}")


baseline_app = typer.Typer(
    help="Save and inspect gate baselines.", no_args_is_help=True, add_completion=False
)
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("save")
def baseline_save(
    run_dir: Annotated[Path, typer.Argument(help="run directory, e.g. reports/<suite>/latest")],
    to: Annotated[
        Path, typer.Option("--to", help="baseline file to write, e.g. baselines/main.json")
    ],
    suite: Annotated[
        Path | None,
        typer.Option("--suite", help="store this suite's `gate:` section (default: the run's)"),
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option("--check", help="add or override a stored check (as `auditkit gate`)"),
    ] = None,
) -> None:
    """Store a run's metrics, fingerprints and per-example predictions as a gate baseline,
    with the gate spec it holds the bar at."""
    from auditkit.api.rundir import resolve_run_dir
    from auditkit.gate import load_run, resolve_spec, save_baseline, spec_from_run

    if suite is not None:
        from auditkit.suite import load_suite

        proposal = load_suite(suite).gate
    else:
        proposal = spec_from_run(load_run(resolve_run_dir(run_dir)))
    spec = resolve_spec(proposal, overrides=check) if (proposal or check) else None
    snap = save_baseline(run_dir, to, spec)
    metrics = sum(len(a.metrics) for a in snap.audits.values())
    examples = f"{snap.examples.n} test examples" if snap.examples else "no per-example data"
    bar = (
        f"gate spec of {len(spec.checks)} checks ({spec.policy}, alpha {spec.alpha:g})"
        if spec
        else "no gate spec (the suite has no `gate:` section)"
    )
    typer.echo(
        f"baseline: {to} (run {snap.run_id}, {metrics} metrics, {examples}, {bar}, "
        f"{to.stat().st_size / 1024:.0f} KiB)"
    )


@baseline_app.command("show")
def baseline_show(
    file: Annotated[Path, typer.Argument(help="baseline file")],
) -> None:
    """Check a baseline file and print what it holds."""
    from auditkit.gate import load_baseline

    snap = load_baseline(file)
    typer.echo(
        f"{file}: baseline of run {snap.run_id} (suite {snap.suite_name}), {snap.created_at}"
    )
    typer.echo(f"  model: {snap.model.id} (weights {(snap.model.fingerprint or '?')[:12]})")
    typer.echo(
        f"  test set: {(snap.test_fingerprint or '?')[:12]}, "
        + (f"{snap.examples.n} examples with predictions" if snap.examples else "no predictions")
    )
    if snap.gate is not None:
        from auditkit.gate.spec import check_words

        checks = "; ".join(f"{m} ({check_words(c)})" for m, c in snap.gate.checks.items())
        typer.echo(f"  gate spec ({snap.gate.policy}, alpha {snap.gate.alpha:g}): {checks}")
    else:
        typer.echo("  gate spec: none stored (the gate takes the run's own gate section)")
    for name, audit in snap.audits.items():
        shown = ", ".join(
            f"{k} {m.value:.4g}"
            for k, m in audit.metrics.items()
            if m.value is not None and m.higher_is_better is not None
        )
        typer.echo(f"  {name} [{audit.status}]: {shown[:200]}")


@app.command()
def gate(
    run_dir: Annotated[Path, typer.Argument(help="run directory, e.g. reports/<suite>/latest")],
    baseline: Annotated[Path, typer.Option("--baseline", help="baseline file to compare with")],
    suite: Annotated[
        Path | None,
        typer.Option(
            "--suite",
            help="propose this suite's `gate:` section (default: the run's); it may tighten "
            "the baseline's stored spec, not loosen it",
        ),
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="add or override a check: METRIC:KEY=VALUE[,KEY=VALUE] with keys min, max, "
            "max_drop, max_relative_drop, higher_is_better (repeatable)",
        ),
    ] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="significance level")] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="regression (fail on evidence of harm) or non_inferiority (pass on evidence "
            "of none)",
        ),
    ] = None,
    fail_on_inconclusive: Annotated[
        bool | None,
        typer.Option(
            "--fail-on-inconclusive/--no-fail-on-inconclusive",
            help="whether a bound crossed without significance fails the gate",
        ),
    ] = None,
    on_missing: Annotated[
        str | None, typer.Option("--on-missing", help="fail or warn when a metric is absent")
    ] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="write Markdown here")] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="write JUnit XML here")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write gate JSON here")] = None,
    allow_failed_audits: Annotated[
        bool,
        typer.Option(
            "--allow-failed-audits",
            help="do not fail the gate for an audit that failed (checks on it still fail)",
        ),
    ] = False,
    accept_loosened: Annotated[
        bool,
        typer.Option(
            "--accept-loosened",
            help="use a proposed spec that loosens the baseline's (the outputs still list each "
            "loosening for the reviewer)",
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Compare a run with a baseline; exit 1 on a significant regression, a failed audit or a
    loosened gate spec."""
    _setup_logging(verbose)
    from auditkit.api.rundir import resolve_run_dir
    from auditkit.gate import load_baseline, load_run, run_gate, settle, write_json
    from auditkit.gate import output as gate_output

    if on_missing not in (None, "fail", "warn"):
        raise AuditkitError(f"--on-missing {on_missing!r}: expected fail or warn")
    if policy not in (None, "regression", "non_inferiority"):
        raise AuditkitError(f"--policy {policy!r}: expected regression or non_inferiority")
    stored = load_baseline(baseline).gate
    proposal, source = None, "the command line"
    if suite is not None:
        from auditkit.suite import load_suite

        proposal, source = load_suite(suite).gate, f"--suite {suite}"
    elif stored is None:  # an old baseline: the run's own gate section, as before
        from auditkit.gate import spec_from_run

        proposal = spec_from_run(load_run(resolve_run_dir(run_dir)))
        source = "the run's suite"
    agreed = settle(
        stored,
        proposal,
        source,
        overrides=check,
        alpha=alpha,
        fail_on_inconclusive=fail_on_inconclusive,
        on_missing=on_missing,
        policy=policy,
        accept_loosened=accept_loosened,
    )
    report = run_gate(run_dir, baseline, agreed, allow_failed_audits=allow_failed_audits)
    typer.echo(gate_output.render_text(report), nl=False)
    if markdown:
        gate_output.write_text(markdown, gate_output.render_markdown(report))
    if junit:
        gate_output.write_text(junit, gate_output.render_junit(report))
    if json_out:
        write_json(report, json_out)
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def card(
    run_dir: Annotated[Path, typer.Argument(help="run directory, e.g. reports/<suite>/latest")],
    out: Annotated[
        Path | None, typer.Option("--out", help="write here instead of RUN_DIR/README.md")
    ] = None,
) -> None:
    """Write a Hugging Face model card (README.md with model-index metadata) from a run."""
    from auditkit.card import write_card

    typer.echo(f"model card: {write_card(run_dir, out)}")


@app.command("ls")
def list_audits() -> None:
    """List the registered audits."""
    from auditkit.api.registry import AUDITS

    for name in AUDITS:
        cls = AUDITS.get(name)
        tags = f" [{', '.join(cls.tags)}]" if cls.tags else ""
        typer.echo(f"{name:<14}{cls.description}{tags}")


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("--out", help="write to a file")] = None,
) -> None:
    """Print the JSON Schema of results.json."""
    from auditkit.api.results import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if out:
        from auditkit.files import write_atomic

        write_atomic(out, text)
    else:
        typer.echo(text, nl=False)


def _fmt(metric) -> str:
    if metric.value is None:
        return "n/a"
    if metric.ci_low is None and float(metric.value).is_integer():
        return f"{int(metric.value):,}"  # a count (candidates, examples): no decimals
    text = f"{metric.value:.4f}"
    if metric.ci_low is not None and metric.ci_high is not None:
        text += f" [{metric.ci_low:.3f}, {metric.ci_high:.3f}]"
    return text


SUMMARY_METRICS = 4


def summary_metrics(name: str, audit) -> list:
    """At most four of the audit's declared headline metrics (`Outputs.headlines`), in the order
    the audit wrote them; an audit that declares none shows its first metrics with a direction."""
    from auditkit.api.registry import outputs

    return outputs(name).headline_metrics(audit.metrics)[:SUMMARY_METRICS]


def _print_summary(results, run_dir: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    if results.training is not None:
        t = results.training
        how = "cached" if t.cache_hit else f"{t.train_time_s:.0f} s"
        console.print(
            f"fine-tune: {how}, {t.epochs:g} epochs, {t.train_samples_per_s:.1f} samples/s, "
            f"best {t.best_metric} {'-' if t.best_value is None else f'{t.best_value:.4f}'}"
            f" at epoch {t.best_epoch}"
        )
    table = Table(title=f"{results.suite_name} · {results.run_id}")
    table.add_column("audit")
    table.add_column("status")
    table.add_column("metric", overflow="fold", min_width=24)  # wrapped, never cut
    table.add_column("value [95% CI]", justify="right", no_wrap=True)
    for name, audit in results.audits.items():
        if audit.status != "ok":
            message = audit.error.message if audit.error else ""
            table.add_row(
                name, "[red]failed[/red]", audit.error.type if audit.error else "", message[:60]
            )
            continue
        shown = summary_metrics(name, audit)
        for i, (key, metric) in enumerate(shown):
            table.add_row(name if i == 0 else "", "ok" if i == 0 else "", key, _fmt(metric))
        more = len(audit.metrics) - len(shown)
        if more > 0:
            table.add_row("", "", f"[dim]+{more} more in the report[/dim]", "")
        for warning in audit.warnings:
            table.add_row("", "", "[yellow]warning[/yellow]", warning[:80])
    console.print(table)
    console.print(f"results: {run_dir / 'results.json'}")
    if (run_dir / "report.html").is_file():
        console.print(f"report:  {run_dir / 'report.html'}")


def main() -> None:
    """Console entry point: user errors print cleanly and exit 2."""
    try:
        code = app(standalone_mode=False)
        # click returns (rather than raises) the code of a typer.Exit outside standalone mode
        sys.exit(code if isinstance(code, int) else 0)
    except AuditkitError as exc:
        typer.secho(f"error: {exc.message}", fg="red", err=True)
        if exc.hint:
            typer.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted; finished stages are in results.json", err=True)
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_errors()):  # usage errors: "Missing option '--baseline'"
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, typer.Abort):
            sys.exit(130)
        raise


def _click_errors() -> tuple[type[Exception], ...]:
    """Usage-error classes: click's, and those of the copy of click that typer >= 0.26 vendors."""
    import click

    found: list[type[Exception]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # older typer uses click itself
        pass
    else:
        found.append(ClickException)
    return tuple(found)


if __name__ == "__main__":
    main()
