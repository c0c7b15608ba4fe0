"""Fairness: per-group metrics with CIs, parity, counterfactual flip rates and a flip browser."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import ui
from auditkit.dashboard.html import esc, labelled, word_diff
from auditkit.dashboard.runs import metrics_frame

entry, results = ui.current_run()
ui.page_header("Fairness", entry, results)
result = ui.audit_or_notice(results, "fairness")
if result is None:
    st.stop()

metrics = metrics_frame(results, "fairness")
per_attr = metrics[(metrics["group"] != "") & ~metrics["group"].str.startswith("mitigation")]
if len(per_attr):
    st.subheader("Per attribute")
    st.dataframe(ui.metric_pivot(per_attr, "attribute"), hide_index=True, width="stretch")


gm = result.tables.get("group_metrics")
if gm is not None:
    st.subheader("Per group, with confidence intervals")
    groups = pd.DataFrame(gm.rows, columns=gm.columns)
    which = st.radio("Metric", ["accuracy", "macro_f1"], horizontal=True, key="fair_metric")
    if {f"{which}_ci_low", f"{which}_ci_high"} <= set(groups.columns):
        for attribute, part in groups.groupby("attribute", sort=False):
            st.markdown(f"**{esc(attribute)}**")
            st.altair_chart(
                ui.ci_chart(
                    part, value=which, low=f"{which}_ci_low", high=f"{which}_ci_high", row="group"
                ),
                width="stretch",
            )
    st.dataframe(groups, hide_index=True, width="stretch")

flip_rates = result.tables.get("flip_rates")
if flip_rates is not None:
    st.subheader("Counterfactual flip rates")
    fr = pd.DataFrame(flip_rates.rows, columns=flip_rates.columns)
    fr["pair"] = (
        fr["attribute"].astype(str)
        + ": "
        + fr["group_a"].astype(str)
        + " ↔ "
        + fr["group_b"].astype(str)
    )
    if {"ci_low", "ci_high"} <= set(fr.columns):
        st.altair_chart(
            ui.ci_chart(fr, value="flip_rate", low="ci_low", high="ci_high", row="pair"),
            width="stretch",
        )
    st.dataframe(fr.drop(columns=["pair"]), hide_index=True, width="stretch")

ui.table(result, "parity", title="Parity per class", note=False)
ui.table(result, "probes", title="Probes", note=False)
ui.table(result, "mitigation", title="Mitigation (held-out probes)", note=False)

st.subheader("Counterfactual flips")
flips = ui.artifact(entry, results, "fairness", "flips")
if flips is not None and len(flips):
    attrs = sorted(flips["attribute"].dropna().unique()) if "attribute" in flips else []
    pick = st.multiselect("Attribute", attrs, key="fair_attr", placeholder="any")
    only_flips = st.checkbox("Only pairs whose prediction changed", value=True, key="fair_only")
    view = flips
    if pick:
        view = view[view["attribute"].isin(pick)]
    if only_flips and {"pred_a", "pred_b"} <= set(view.columns):
        view = view[view["pred_a"] != view["pred_b"]]
    view = view.sort_values("delta_p", ascending=False) if "delta_p" in view else view
    st.caption(f"{len(view)} of {len(flips)} probe pairs")
    cols = [
        c
        for c in [
            "attribute",
            "group_a",
            "group_b",
            "pred_a",
            "pred_b",
            "delta_p",
            "text_a",
            "text_b",
        ]
        if c in view.columns
    ]
    st.dataframe(view[cols], hide_index=True, width="stretch")
    row = ui.pick_row(
        view.reset_index(drop=True),
        "Pair",
        lambda r: (
            f"[{r.get('attribute')}: {r.get('group_a')}→{r.get('group_b')}] {r.get('text_a')}"
        ),
        key="fair_pair",
    )
    if row is not None:
        ui.html(
            labelled(
                f"{row.get('group_a')} → {row.get('group_b')}",
                word_diff(row.get("text_a", ""), row.get("text_b", "")),
            )
        )
        st.markdown(
            f"prediction **{esc(row.get('pred_a'))}** → **{esc(row.get('pred_b'))}**, "
            f"max |Δp| = {float(row.get('delta_p') or 0):.3f}"
        )
elif flips is not None:
    st.caption("No counterfactual pairs were written.")

ui.generic(results, "fairness")
