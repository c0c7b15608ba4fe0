"""Explanations: faithfulness per method, and one example's token attributions, by method."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import ui
from auditkit.dashboard.html import ATTRIBUTION_LEGEND, esc, labelled, token_highlight
from auditkit.dashboard.runs import metrics_frame

entry, results = ui.current_run()
ui.page_header("Explanations", entry, results)
result = ui.audit_or_notice(results, "explanations")
if result is None:
    st.stop()

metrics = metrics_frame(results, "explanations")
per_method = metrics[metrics["group"] != ""]
if len(per_method):
    st.subheader("Faithfulness per method")
    st.caption(
        "comprehensiveness: how much the prediction drops when the top tokens are removed "
        "(higher is more faithful); sufficiency: how much it drops when only they are kept "
        "(lower is better); *_vs_random: the gain over a random ranking."
    )
    st.dataframe(ui.metric_pivot(per_method, "method"), hide_index=True, width="stretch")
    chart = per_method[per_method["metric"].isin(["comprehensiveness", "sufficiency"])]
    if len(chart):
        st.altair_chart(
            ui.ci_chart(
                chart, value="value", low="ci_low", high="ci_high", row="group", color="metric"
            ),
            width="stretch",
        )

faith = result.tables.get("faithfulness")
if faith is not None:
    f = pd.DataFrame(faith.rows, columns=faith.columns)
    with st.expander("faithfulness by k"):
        st.dataframe(f, hide_index=True, width="stretch")
ui.table(result, "convergence", title="Integrated-gradients convergence", note=False)

st.subheader("Token attributions")
attr = ui.artifact(entry, results, "explanations", "attributions")
if attr is not None and len(attr):
    keys = ["idx", "kind", "pair_id"]
    for k in keys:
        if k not in attr.columns:
            attr[k] = None
    attr["_example"] = (
        attr["kind"].astype(str) + ":" + attr["idx"].astype(str) + ":" + attr["text"].astype(str)
    )
    kinds = sorted(attr["kind"].dropna().astype(str).unique())
    pick_kind = st.multiselect("Kind", kinds, key="exp_kind", placeholder="any")
    view = attr[attr["kind"].astype(str).isin(pick_kind)] if pick_kind else attr
    examples = view.drop_duplicates("_example").reset_index(drop=True)
    row = ui.pick_row(
        examples,
        "Example",
        lambda r: f"#{r['idx']} [{r['kind']}] {r['text']}",
        key="exp_example",
    )
    if row is not None:
        same = attr[attr["_example"] == row["_example"]]
        methods = list(dict.fromkeys(same["method"].astype(str)))
        method = st.radio("Method", methods, horizontal=True, key="exp_method")
        chosen = same[same["method"].astype(str) == (method or methods[0])].iloc[0]
        ui.html(
            labelled(
                f"attribution towards '{chosen.get('target')}' ({ATTRIBUTION_LEGEND})",
                token_highlight(list(chosen["words"]), list(chosen["scores"])),
            )
        )
        facts = [
            f"gold **{esc(chosen.get('label_name'))}**",
            f"predicted **{esc(chosen.get('pred_name'))}**",
            f"p(target) {float(chosen.get('probability') or 0):.3f}",
        ]
        if pd.notna(chosen.get("delta")):
            facts.append(f"convergence delta {float(chosen['delta']):.4f}")
        if pd.notna(chosen.get("steps")):
            facts.append(f"{int(chosen['steps'])} steps")
        st.markdown(" · ".join(facts))
        pair = row.get("pair_id")
        if pair is not None and pd.notna(pair):
            partner = attr[(attr["pair_id"] == pair) & (attr["_example"] != row["_example"])]
            partner = partner[partner["method"].astype(str) == (method or methods[0])]
            if len(partner):
                p = partner.iloc[0]
                ui.html(
                    labelled(
                        f"its adversarial pair ({p['kind']}), predicted '{p.get('pred_name')}'",
                        token_highlight(list(p["words"]), list(p["scores"])),
                    )
                )
        with st.expander("scores"):
            st.dataframe(
                pd.DataFrame({"word": list(chosen["words"]), "score": list(chosen["scores"])}),
                hide_index=True,
            )
elif attr is not None:
    st.caption("The attributions artifact is empty.")

top = result.tables.get("top_tokens")
if top is not None:
    st.subheader("Top tokens per class")
    t = pd.DataFrame(top.rows, columns=top.columns)
    classes = list(dict.fromkeys(t["class"].astype(str)))
    for col, cls in zip(st.columns(max(1, len(classes))), classes, strict=False):
        col.markdown(f"**{esc(cls)}**")
        col.dataframe(t[t["class"].astype(str) == cls].drop(columns=["class"]), hide_index=True)

ui.generic(results, "explanations")
