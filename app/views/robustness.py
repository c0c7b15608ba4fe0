"""Robustness: per-recipe attack metrics, invariance, adversarial training, example browser."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app import ui
from auditkit.dashboard.html import esc, labelled, word_diff
from auditkit.dashboard.runs import metrics_frame

entry, results = ui.current_run()
ui.page_header("Robustness", entry, results)
result = ui.audit_or_notice(results, "robustness")
if result is None:
    st.stop()

metrics = metrics_frame(results, "robustness")
recipes = metrics[
    ~metrics["group"].str.startswith(("invariance", "adversarial_training", "behaviour"))
]
recipes = recipes[
    (recipes["group"] != "") & ~recipes["group"].str.contains(".validity.", regex=False)
]
if len(recipes):
    st.subheader("Per recipe")
    pivot = ui.metric_pivot(recipes, "recipe")
    order = ["recipe", "clean_accuracy", "accuracy_under_attack", "attack_success_rate"]
    order += ["perturbed_word_share", "avg_queries", "valid_attack_share"]
    order += ["accuracy_under_valid_attack", "n_examples"]
    cols = [c for c in order if c in pivot.columns] + [c for c in pivot.columns if c not in order]
    st.dataframe(pivot[cols], hide_index=True, width="stretch")
    headline = ["clean_accuracy", "accuracy_under_attack", "attack_success_rate"]
    chart = recipes[recipes["metric"].isin(headline)]
    if len(chart):
        st.altair_chart(
            ui.ci_chart(
                chart, value="value", low="ci_low", high="ci_high", row="group", color="metric"
            ),
            width="stretch",
        )

ui.table(result, "attacks", title="Attacks", note=False)
ui.table(result, "per_class_success", title="Attack success per class", note=False)
ui.table(
    result,
    "validity_ladder",
    title="Attack validity at stricter similarity thresholds (human raters support ~0.98)",
    note=False,
)
inv = ui.table(
    result,
    "invariance",
    title="Invariance (label flips under meaning-preserving edits)",
    note=False,
)
ui.table(result, "adversarial_training", title="Adversarial training: before and after", note=False)

st.subheader("Adversarial examples")
attacks = ui.artifact(entry, results, "robustness", "attacks")
if attacks is not None and len(attacks):
    c1, c2, c3 = st.columns(3)
    recipe_opts = sorted(attacks["recipe"].dropna().unique()) if "recipe" in attacks else []
    outcome_opts = sorted(attacks["outcome"].dropna().unique()) if "outcome" in attacks else []
    phase_opts = sorted(attacks["phase"].dropna().unique()) if "phase" in attacks else []
    pick_recipe = c1.multiselect("Recipe", recipe_opts, key="rob_recipe", placeholder="any")
    default_outcome = ["succeeded"] if "succeeded" in outcome_opts else []
    pick_outcome = c2.multiselect(
        "Outcome", outcome_opts, default=default_outcome, key="rob_outcome", placeholder="any"
    )
    pick_phase = c3.multiselect("Phase", phase_opts, key="rob_phase", placeholder="any")
    view = attacks
    if pick_recipe:
        view = view[view["recipe"].isin(pick_recipe)]
    if pick_outcome:
        view = view[view["outcome"].isin(pick_outcome)]
    if pick_phase:
        view = view[view["phase"].isin(pick_phase)]
    st.caption(f"{len(view)} of {len(attacks)} attacked examples match")
    cols = [
        c
        for c in [
            "recipe",
            "phase",
            "idx",
            "outcome",
            "label_name",
            "pred_before",
            "pred_after",
            "queries",
            "perturbed_word_share",
            "original",
            "perturbed",
        ]
        if c in view.columns
    ]
    st.dataframe(view[cols], hide_index=True, width="stretch")
    row = ui.pick_row(
        view.reset_index(drop=True),
        "Example",
        lambda r: f"#{r.get('idx')} [{r.get('recipe')}, {r.get('outcome')}] {r.get('original')}",
        key="rob_example",
    )
    if row is not None:
        ui.html(
            labelled(
                "original → perturbed (removed words struck out, new words marked)",
                word_diff(row.get("original", ""), row.get("perturbed", "")),
            )
        )
        st.markdown(
            f"gold **{esc(row.get('label_name'))}** · prediction "
            f"**{esc(row.get('pred_before'))} → {esc(row.get('pred_after'))}** · "
            f"outcome **{esc(row.get('outcome'))}** · {esc(row.get('queries'))} queries"
        )
        changed = row.get("changed_words")
        if isinstance(changed, list) and changed:
            st.dataframe(
                pd.DataFrame(changed, columns=["original word", "new word"]), hide_index=True
            )
elif attacks is not None:
    st.caption("The attacks artifact is empty.")

if "invariance_flips" in result.artifacts:
    st.subheader("Invariance flips")
    flips = ui.artifact(entry, results, "robustness", "invariance_flips")
    if flips is not None and len(flips):
        row = ui.pick_row(
            flips.reset_index(drop=True),
            "Flip",
            lambda r: f"[{r.get('perturbation')}] {r.get('original')}",
            key="rob_flip",
        )
        if row is not None:
            ui.html(word_diff(row.get("original", ""), row.get("perturbed", "")))
            st.markdown(
                f"{esc(row.get('pred_before'))} → **{esc(row.get('pred_after'))}** "
                f"(gold {esc(row.get('label_name'))})"
            )

if "behaviour" in result.tables:
    ui.table(
        result,
        "behaviour",
        title="Behavioural tests (CheckList MFT capabilities and DIR edits)",
        note=False,
    )
    fails = ui.artifact(entry, results, "robustness", "behaviour_failures")
    if fails is not None and len(fails):
        st.subheader("Behavioural test failures")
        row = ui.pick_row(
            fails.reset_index(drop=True),
            "Failure",
            lambda r: f"[{r.get('what')}] {r.get('text')}",
            key="rob_behaviour",
        )
        if row is not None:
            edited = row.get("edited")
            if isinstance(edited, str) and edited:
                ui.html(labelled("before → after the edit", word_diff(row.get("text", ""), edited)))
                st.markdown(
                    f"{esc(row.get('pred_before'))} → **{esc(row.get('pred_after'))}** · "
                    f"p({esc(row.get('label'))}) {esc(row.get('p_before'))} → "
                    f"{esc(row.get('p_after'))}"
                )
            else:
                st.markdown(
                    f"{esc(row.get('text'))}: predicted **{esc(row.get('pred_after'))}**, "
                    f"expected {esc(row.get('label'))} (p = {esc(row.get('p_after'))})"
                )

ui.generic(results, "robustness")
