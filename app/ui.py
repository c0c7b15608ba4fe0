"""Streamlit helpers the dashboard's pages share: the sidebar, cached loading, audit sections.

They live beside the pages (imported as `app.ui`; app/main.py puts the checkout on sys.path), so
auditkit/dashboard/ holds logic only and imports no Streamlit.

Loaded runs and artifacts are cached with `st.cache_data`, keyed by the file's path *and* its
modification time, so a run that is rewritten (results.json is rewritten after every stage)
is read again, while flipping between pages costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import streamlit as st

from auditkit.api.results import AuditResult, RunResults
from auditkit.dashboard.runs import (
    ArtifactError,
    RunEntry,
    artifact_path,
    default_root,
    discover_runs,
    format_ci,
    format_metric,
    load_artifact,
    metrics_frame,
    read_run,
)

RUNS_KEY = "ak_runs"
RUN_KEY = "ak_run"
ROOT_KEY = "ak_root"
PAGE_AUDIT_KEY = "ak_page_audit"  # the audit the generic page (app/views/audit.py) shows


@st.cache_data(show_spinner=False, max_entries=256)
def _read_run_cached(path: str, mtime: float) -> tuple[RunResults | None, str | None]:
    del mtime  # part of the cache key only
    return read_run(Path(path))


@st.cache_data(show_spinner=False, max_entries=64)
def _artifact_cached(path: str, mtime: float):
    del mtime
    return load_artifact(Path(path))


def cached_read(run_dir: Path, mtime: float) -> tuple[RunResults | None, str | None]:
    return _read_run_cached(str(run_dir), mtime)


def sidebar() -> list[RunEntry]:
    """The results root and the run picker; stores the runs and the choice in session state."""
    if ROOT_KEY not in st.session_state:
        st.session_state[ROOT_KEY] = str(default_root())
    root = Path(
        st.sidebar.text_input("Results root", key=ROOT_KEY, help="or $AUDITKIT_REPORTS_DIR")
    )
    runs = discover_runs(root, loader=cached_read)
    st.session_state[RUNS_KEY] = runs
    if not runs:
        st.sidebar.warning("No runs here.")
        return runs
    keys = [e.key for e in runs]
    if st.session_state.get(RUN_KEY) not in keys:
        st.session_state[RUN_KEY] = keys[0]
    labels = {e.key: e.label() for e in runs}
    st.sidebar.selectbox("Run", keys, key=RUN_KEY, format_func=labels.__getitem__)
    st.sidebar.caption(f"{len(runs)} run(s) under `{root}`")
    return runs


def no_runs_message() -> None:
    root = st.session_state.get(ROOT_KEY, str(default_root()))
    st.info(
        f"No runs found under `{root}`. Run an audit suite first, e.g. "
        "`auditkit run suites/finance_sentiment.yaml`, or point the sidebar's *Results root* "
        "(or `$AUDITKIT_REPORTS_DIR`) at a folder holding `<suite>/<run-id>/results.json`."
    )


def runs() -> list[RunEntry]:
    return st.session_state.get(RUNS_KEY) or []


def entry_by_key(key: str | None) -> RunEntry | None:
    return next((e for e in runs() if e.key == key), None)


def load_entry(entry: RunEntry) -> RunResults | None:
    """The run's results, or None after showing why it cannot be read."""
    results, problem = cached_read(entry.path, entry.mtime)
    if results is None:
        st.error(f"Cannot open run `{entry.run_id}`: {problem}")
    return results


def current_run() -> tuple[RunEntry, RunResults]:
    """The run picked in the sidebar; stops the page with a message when there is none."""
    entry = entry_by_key(st.session_state.get(RUN_KEY))
    if entry is None:
        no_runs_message()
        st.stop()
    results = load_entry(entry)
    if results is None:
        st.stop()
    return entry, results


def page_header(title: str, entry: RunEntry, results: RunResults) -> None:
    st.title(title)
    st.caption(f"{results.suite_name} · run {results.run_id} · {results.manifest.model.id}")


def audit_or_notice(results: RunResults, name: str) -> AuditResult | None:
    """The audit's result; or None after saying it was not run or why it failed."""
    result = results.audits.get(name)
    if result is None:
        st.info(f"The **{name}** audit was not run in this run (add it to the suite's `audits:`).")
        return None
    if result.status == "failed":
        err = result.error
        st.error(f"The **{name}** audit failed: {err.type}: {err.message}" if err else "failed")
        if err and err.traceback:
            with st.expander("traceback"):
                st.code(err.traceback, language="text")
        return None
    for warning in result.warnings:
        st.warning(warning)
    return result


def artifact(entry: RunEntry, results: RunResults, audit: str, name: str):
    """A named artifact as a DataFrame; None (with a message) when absent or unreadable."""
    try:
        path = artifact_path(entry.path, results, audit, name)
        if path is None:
            st.info(f"This run has no `{name}` artifact from the {audit} audit.")
            return None
        if not path.is_file():
            raise ArtifactError(f"`{path.name}` is named in results.json but missing on disk")
        return _artifact_cached(str(path), path.stat().st_mtime)
    except ArtifactError as exc:
        st.warning(f"{audit} artifact `{name}`: {exc}")
        return None


def table(result: AuditResult, name: str, *, title: str | None = None, note: bool = True):
    """An audit table as a DataFrame, shown under a subheader; None if the audit lacks it."""
    import pandas as pd

    t = result.tables.get(name)
    if t is None:
        if note:
            st.caption(f"No `{name}` table in this run.")
        return None
    frame = pd.DataFrame(t.rows, columns=t.columns)
    if title:
        st.subheader(title)
    if t.description:
        st.caption(t.description)
    st.dataframe(frame, hide_index=True, width="stretch")
    return frame


def metric_cards(results: RunResults, audit: str, names: list[str]) -> None:
    """A row of st.metric cards, each with its CI (at the audit's confidence) underneath."""
    result = results.audits[audit]
    shown = [n for n in names if n in result.metrics]
    if not shown:
        return
    confidence = result.config.get("confidence", 0.95)
    for col, name in zip(st.columns(len(shown)), shown, strict=True):
        m = result.metrics[name]
        col.metric(name, format_metric(m.value), help=m.description)
        if m.ci_low is not None and m.ci_high is not None:
            col.caption(f"{confidence:.0%} CI {format_ci(m.ci_low, m.ci_high)}")


def generic(
    results: RunResults,
    audit: str,
    *,
    skip_tables: tuple[str, ...] = (),
    expanded: bool = False,
) -> None:
    """Every metric (with CIs) and every table of an audit, so new additions always show."""
    import pandas as pd

    result = results.audits[audit]
    with st.expander(f"All {audit} metrics and tables", expanded=expanded):
        frame = metrics_frame(results, audit)
        if len(frame):
            frame.insert(
                1,
                "shown",
                [
                    format_metric(*r)
                    for r in frame[["value", "ci_low", "ci_high"]].itertuples(index=False)
                ],
            )
            st.dataframe(frame.drop(columns=["group", "metric"]), hide_index=True, width="stretch")
        for name, t in result.tables.items():
            if name in skip_tables:
                continue
            st.markdown(f"**{name}**")
            st.dataframe(pd.DataFrame(t.rows, columns=t.columns), hide_index=True, width="stretch")
        if result.artifacts:
            st.caption("artifacts: " + ", ".join(f"{k} → {v}" for k, v in result.artifacts.items()))
        if result.wall_time_s is not None:
            st.caption(f"wall time {result.wall_time_s:.1f} s")


def ci_chart(frame, *, value: str, low: str, high: str, row: str, color: str | None = None):
    """Points with CI whiskers, one row per `row` value (and one colour per `color`, offset)."""
    import altair as alt

    data = frame.dropna(subset=[value])
    enc = {"y": alt.Y(f"{row}:N", title=None, sort=None)}
    if color:
        enc |= {"color": alt.Color(f"{color}:N", title=None), "yOffset": f"{color}:N"}
    base = alt.Chart(data).encode(**enc)
    tips = [c for c in (row, color, value, low, high) if c]
    point = base.mark_point(filled=True, size=90).encode(
        x=alt.X(f"{value}:Q", title=None, scale=alt.Scale(zero=False)), tooltip=tips
    )
    rule = base.mark_rule(strokeWidth=2).encode(x=f"{low}:Q", x2=f"{high}:Q")
    # A discrete y axis sized per band (vega-lite's `step`), so rows never squeeze together.
    return (rule + point).properties(height=alt.Step(20 if color else 34))


def metric_pivot(frame, index_name: str):
    """metrics_frame rows -> one row per group, one `value [CI]` column per metric leaf."""
    shown = frame.assign(
        cell=[
            format_metric(v, lo, hi)
            for v, lo, hi in frame[["value", "ci_low", "ci_high"]].itertuples(index=False)
        ]
    )
    pivot = shown.pivot(index="group", columns="metric", values="cell")
    pivot = pivot.reindex(list(dict.fromkeys(frame["group"])))  # groups in the audit's order
    pivot.columns.name = None
    return pivot.fillna("—").reset_index().rename(columns={"group": index_name})


@st.cache_data(show_spinner="Comparing the runs…", max_entries=32)
def _compare(base: str, base_mtime: float, cur: str, cur_mtime: float, alpha: float):
    from auditkit.dashboard.compare import (
        changes_frame,
        compare_runs,
        pair_predictions,
        prediction_changes,
    )

    runs = [read_run(Path(base))[0], read_run(Path(cur))[0]]
    preds = []
    for results, folder in zip(runs, (base, cur), strict=True):
        try:
            path = artifact_path(Path(folder), results, "performance", "predictions")
            preds.append(load_artifact(path) if path is not None else None)
        except ArtifactError:
            preds.append(None)
    pairing = pair_predictions(runs[0], runs[1], *preds)
    changes = changes_frame(compare_runs(runs[0], runs[1], pairing, alpha=alpha))
    n = len(pairing.frame) if pairing.paired else None
    summary = SimpleNamespace(paired=pairing.paired, reason=pairing.reason, n=n)
    return summary, changes, prediction_changes(pairing)


def compare_cached(baseline: RunEntry, current: RunEntry, alpha: float):
    """(pairing summary, metric changes, prediction changes), cached per pair of run files.

    The paired bootstrap is the one slow step; caching it keeps the page's filters instant.
    """
    return _compare(baseline.key, baseline.mtime, current.key, current.mtime, alpha)


def html(markup: str) -> None:
    """Render HTML built by auditkit.dashboard.html (which escapes everything from the data).

    `st.html`, not `st.markdown(unsafe_allow_html=True)`: markdown would still read `*`, `_`
    or `$...$` (LaTeX) inside the data's text and reformat it.
    """
    st.html(markup)


def pick_row(frame, label: str, describe, key: str):
    """A selectbox over the rows of `frame`; returns the chosen row (a Series) or None."""
    if frame is None or len(frame) == 0:
        return None
    positions = list(range(len(frame)))
    choice = st.selectbox(
        label, positions, key=key, format_func=lambda i: describe(frame.iloc[i])[:160]
    )
    return frame.iloc[choice if choice is not None else 0]
