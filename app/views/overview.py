"""Overview: the run's scorecard, the gate's verdict, and the manifest."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import ui
from auditkit.api.registry import AUDITS
from auditkit.dashboard.runs import gate_passed
from auditkit.dashboard.scorecard import manifest_rows, scorecard

entry, results = ui.current_run()
ui.page_header("Overview", entry, results)

if results.status == "failed":
    err = results.error
    st.error(
        "This run failed"
        + (f" ({err.type}: {err.message})" if err else "")
        + ". What finished before the failure is shown below."
    )
elif results.status == "running":
    st.warning("This run is still running (or was interrupted): results may be incomplete.")
failed = [n for n, a in results.audits.items() if a.status == "failed"]
if failed:
    st.warning(f"Failed audits: {', '.join(failed)}. Their pages say why.")

if "performance" in results.audits and results.audits["performance"].status == "ok":
    ui.metric_cards(results, "performance", ["accuracy", "macro_f1", "ece", "n_examples"])

st.subheader("Scorecard")
st.dataframe(pd.DataFrame(scorecard(results)), hide_index=True, width="stretch")

st.subheader("Gate")
gate = entry.gate
passed = gate_passed(gate)
if gate is None:
    st.caption("— no gate.json for this run (`auditkit gate` writes one).")
elif passed is None:
    st.warning("gate.json is present but says neither `passed` nor a known `status`.")
else:
    baseline = gate.get("baseline")
    against = baseline.get("run_id") if isinstance(baseline, dict) else baseline
    (st.success if passed else st.error)(
        f"Gate: {entry.gate_label}" + (f" (against baseline {against})" if against else "")
    )
if gate is not None:
    checks = [c for c in gate.get("checks") or [] if isinstance(c, dict)]
    if checks:
        frame = pd.DataFrame(checks)
        first = ["metric", "verdict", "fails", "baseline", "current", "delta", "p_value"]
        first += ["threshold", "reason", "message"]
        cols = [c for c in first if c in frame.columns]
        cols += [c for c in frame.columns if c not in cols and c not in {"thresholds"}]
        st.dataframe(frame[cols].astype(str), hide_index=True, width="stretch")
    accepted = gate.get("accept_loosened") is True
    for item in gate.get("loosened") or []:
        if isinstance(item, dict):
            (st.info if accepted else st.error)(
                f"Gate spec loosened{' (accepted)' if accepted else ''}: {item.get('item')}: "
                f"{item.get('baseline')} → {item.get('proposed')} ({item.get('why')})"
            )
    for warning in gate.get("warnings") or []:
        st.caption(f"gate: {warning}")

st.subheader("Manifest")
left, right = st.columns([3, 2])
left.dataframe(
    pd.DataFrame(manifest_rows(results), columns=["field", "value"]),
    hide_index=True,
    width="stretch",
)
packages = pd.DataFrame(
    [(k, v or "not installed") for k, v in results.manifest.packages.items()],
    columns=["package", "version"],
)
right.dataframe(packages, hide_index=True, width="stretch")

if results.stages:
    st.subheader("Stages")
    stages = pd.DataFrame([s.model_dump() for s in results.stages]).dropna(axis=1, how="all")
    st.altair_chart(
        alt.Chart(stages)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", sort=None, title=None),
            x=alt.X("wall_time_s:Q", title="wall time (s)"),
            tooltip=list(stages.columns),
        ),
        width="stretch",
    )
    st.dataframe(stages, hide_index=True, width="stretch")

if results.data is not None:
    with st.expander("Data"):
        d = results.data
        st.write(f"source `{d.source}` from `{d.origin}`; labels: {', '.join(d.label_names)}")
        st.dataframe(pd.DataFrame(d.class_counts).fillna(0).astype(int), width="stretch")
        st.json(d.model_dump(exclude={"class_counts"}), expanded=False)
if results.training is not None:
    with st.expander("Fine-tuning"):
        t = results.training
        st.write(
            f"{t.epochs:g} epochs, {t.steps} steps, {t.train_time_s:.1f} s "
            f"({t.train_samples_per_s:.1f} samples/s) on {t.device}, {t.precision}; "
            f"cache {'hit' if t.cache_hit else 'miss'}"
        )
        curve = pd.DataFrame(t.loss_curve.rows, columns=t.loss_curve.columns)
        if len(curve) and {"step", "loss"} <= set(curve.columns):
            st.line_chart(curve, x="step", y="loss", height=200)

# Audits not installed here have no page of their own: shown in full on this one.
others = [name for name in results.audits if name not in AUDITS]
for name in others:
    st.subheader(f"Audit: {name}")
    if ui.audit_or_notice(results, name) is not None:
        ui.generic(results, name)

with st.expander(f"All runs under this root ({len(ui.runs())})"):
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "suite": e.suite,
                    "run id": e.run_id,
                    "model": e.model,
                    "started": e.started_at,
                    "status": (e.problem and "unreadable") or e.status,
                    "gate": e.gate_label,
                    "audits": ", ".join(f"{k} ({v})" for k, v in e.audits.items()),
                }
                for e in ui.runs()
            ]
        ),
        hide_index=True,
        width="stretch",
    )
