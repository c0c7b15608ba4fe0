"""The page of an audit that has no page of its own (e.g. one from another package): its
declared headline metrics as cards, then every metric, table and file it wrote."""

from __future__ import annotations

import streamlit as st

from app import ui
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
ui.generic(results, name, expanded=True)
