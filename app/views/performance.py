"""Performance: headline metrics, confusion matrix, per-class scores, calibration, mistakes."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import ui

entry, results = ui.current_run()
ui.page_header("Performance", entry, results)
result = ui.audit_or_notice(results, "performance")
if result is None:
    st.stop()

ui.metric_cards(results, "performance", ["accuracy", "macro_f1", "weighted_f1", "ece"])
ui.metric_cards(
    results, "performance", ["brier", "nll", "majority_baseline_accuracy", "n_examples"]
)

cm = result.tables.get("confusion_matrix")
left, right = st.columns(2)
if cm is not None:
    left.subheader("Confusion matrix")
    frame = pd.DataFrame(cm.rows, columns=cm.columns)
    long = frame.melt(id_vars=cm.columns[0], var_name="predicted", value_name="count")
    long = long.rename(columns={cm.columns[0]: "gold"})
    order = list(frame[cm.columns[0]])
    base = alt.Chart(long).encode(
        x=alt.X("predicted:N", sort=order, title="predicted"),
        y=alt.Y("gold:N", sort=order, title="gold"),
    )
    heat = base.mark_rect().encode(
        color=alt.Color("count:Q", scale=alt.Scale(scheme="blues")),
        tooltip=["gold", "predicted", "count"],
    )
    text = base.mark_text(fontSize=14).encode(text="count:Q")
    left.altair_chart((heat + text).properties(height=60 * len(order) + 40), width="stretch")
    left.dataframe(frame, hide_index=True, width="stretch")
with right:
    per_class = ui.table(result, "per_class", title="Per class")
    ui.table(result, "classwise_calibration", title="Per-class calibration", note=False)

st.subheader("Calibration")
ui.metric_cards(
    results,
    "performance",
    ["calibration.temperature", "ece", "calibration.ece", "classwise_ece"],
)
curves = []
for name, label in (("reliability", "the model"), ("calibration_reliability", "after T")):
    t = result.tables.get(name)
    if t is not None:
        frame = pd.DataFrame(t.rows, columns=t.columns).dropna(subset=["confidence"])
        curves.append(frame.assign(probabilities=label))
if curves:
    r = pd.concat(curves, ignore_index=True)
    points = (
        alt.Chart(r)
        .mark_line(point=True)
        .encode(
            x=alt.X("confidence:Q", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("probabilities:N", title=None),
            tooltip=["probabilities", "bin_low", "bin_high", "count", "confidence", "accuracy"],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0, 1], "y": [0, 1]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x="x:Q", y="y:Q")
    )
    st.altair_chart(points + diagonal, width="stretch")
    st.caption(
        "Accuracy per confidence bin, before and after temperature scaling; the dashed line is "
        "perfect calibration."
    )
ui.table(result, "calibration_changes", note=False)

conformal = result.tables.get("conformal")
if conformal is not None:
    st.subheader("Conformal prediction sets")
    st.caption(
        "Each set holds the gold label with probability at least 1 - alpha on average over "
        "examples (marginal coverage), not per class: compare the per-class coverage below."
    )
    c = pd.DataFrame(conformal.rows, columns=conformal.columns)
    shown = pd.DataFrame(
        {
            "score": c["score"],
            "target": c["target"],
            "coverage": [
                ui.format_metric(v, lo, hi)
                for v, lo, hi in zip(
                    c["coverage"], c["coverage_low"], c["coverage_high"], strict=True
                )
            ],
            "set size": [
                ui.format_metric(v, lo, hi)
                for v, lo, hi in zip(
                    c["set_size"], c["set_size_low"], c["set_size_high"], strict=True
                )
            ],
            "singletons": c["singleton_share"],
            "threshold": c["threshold"],
        }
    )
    st.dataframe(shown, hide_index=True, width="stretch")
    chart = (
        alt.Chart(c)
        .mark_point(filled=True, size=70)
        .encode(
            x=alt.X("set_size:Q", title="mean set size (classes)"),
            y=alt.Y("coverage:Q", title="coverage", scale=alt.Scale(zero=False)),
            color=alt.Color("score:N"),
            shape=alt.Shape("target:N"),
            tooltip=["score", "alpha", "target", "coverage", "set_size", "singleton_share"],
        )
    )
    st.altair_chart(chart, width="stretch")
    ui.table(result, "conformal_by_class", title="Coverage per class", note=False)

st.subheader("Misclassified examples")
preds = ui.artifact(entry, results, "performance", "predictions")
if preds is not None:
    wrong = preds[~preds["correct"].astype(bool)]
    st.caption(f"{len(wrong)} of {len(preds)} test examples are misclassified.")
    labels = list(dict.fromkeys(list(preds["label_name"]) + list(preds["pred_name"])))
    c1, c2 = st.columns(2)
    gold = c1.multiselect("Gold class", labels, default=[], key="perf_gold", placeholder="any")
    pred = c2.multiselect("Predicted class", labels, default=[], key="perf_pred", placeholder="any")
    if gold:
        wrong = wrong[wrong["label_name"].isin(gold)]
    if pred:
        wrong = wrong[wrong["pred_name"].isin(pred)]
    cols = ["idx", "text", "label_name", "pred_name", "confidence"]
    cols += [c for c in wrong.columns if c.startswith("p_")]
    shown = wrong[cols].rename(columns={"label_name": "gold", "pred_name": "predicted"})
    st.dataframe(
        shown.sort_values("confidence", ascending=False),
        hide_index=True,
        width="stretch",
        column_config={"text": st.column_config.TextColumn(width="large")},
    )
    st.caption(f"showing {len(shown)} example(s)")

ui.generic(results, "performance")
