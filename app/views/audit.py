"""The page of an audit that has no page of its own (e.g. one from another package): its
declared headline metrics as cards, the artifacts it declares a display for (examples by
group, or a filter of the test predictions), then every metric, table and file it wrote."""

from __future__ import annotations

import streamlit as st

from app import ui
from auditkit.api.outputs import Examples, RowSets
from auditkit.api.registry import outputs

name = st.session_state.get(ui.PAGE_AUDIT_KEY)
if not name:
    st.error("No audit chosen for this page; open it from the navigation.")
    st.stop()
declared = outputs(name)
entry, results = ui.current_run()
ui.page_header(declared.title_for(name), entry, results)
if declared.summary:
    st.caption(declared.summary)
result = ui.audit_or_notice(results, name)
if result is None:
    st.stop()

headline = [key for key, _ in declared.headline_metrics(result.metrics, ranked=True)]
ui.metric_cards(results, name, headline[:4])

for spec in declared.artifacts:
    if spec.shows is None or spec.name not in result.artifacts:
        continue
    frame = ui.artifact(entry, results, name, spec.name)
    if frame is None or not len(frame):
        continue
    shows = spec.shows
    if isinstance(shows, RowSets):
        st.subheader("Test predictions by " + spec.name)
        labels = {str(r[shows.label]): list(r[shows.rows]) for _, r in frame.iterrows()}
        picked = st.selectbox(spec.description, list(labels), key=f"{name}_{spec.name}_pick")
        preds = ui.artifact(entry, results, "performance", "predictions")
        if preds is not None and picked is not None:
            shown = preds[preds["idx"].isin(labels[picked])]
            st.caption(f"{len(shown)} test example(s) in “{picked}”.")
            st.dataframe(
                shown,
                hide_index=True,
                width="stretch",
                column_config={"text": st.column_config.TextColumn(width="large")},
            )
    elif isinstance(shows, Examples):
        st.subheader(shows.heading or "Examples: " + spec.name)
        titles = dict(
            zip(frame[shows.group].astype(str), frame[shows.title].astype(str), strict=True)
        )
        picked = st.selectbox(
            spec.description,
            list(titles),
            format_func=titles.__getitem__,
            key=f"{name}_{spec.name}_pick",
        )
        rows = frame[frame[shows.group].astype(str) == picked]
        before = [shows.before] if shows.before and shows.before in rows else []
        st.dataframe(
            rows[[*before, shows.text, *shows.fields]],
            hide_index=True,
            width="stretch",
            column_config={shows.text: st.column_config.TextColumn(width="large")},
        )

ui.generic(results, name, expanded=True)
