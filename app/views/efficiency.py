"""Efficiency: latency per batch size and variant, throughput, the trade-off table, energy."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from app import ui

entry, results = ui.current_run()
ui.page_header("Efficiency", entry, results)
result = ui.audit_or_notice(results, "efficiency")
if result is None:
    st.stop()

ui.metric_cards(
    results, "efficiency", ["peak_memory_mb", "parameters", "size_on_disk_mb", "energy_j_per_1k"]
)

lat = result.tables.get("latency")
if lat is not None:
    frame = pd.DataFrame(lat.rows, columns=lat.columns)
    st.subheader("Latency per batch size")
    long = frame.melt(
        id_vars=["variant", "batch_size"],
        value_vars=[c for c in ["p50_ms", "p90_ms", "p99_ms"] if c in frame.columns],
        var_name="percentile",
        value_name="ms",
    ).dropna(subset=["ms"])
    chart = (
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("batch_size:Q", scale=alt.Scale(type="log", base=2), title="batch size"),
            y=alt.Y("ms:Q", scale=alt.Scale(type="log", nice=False), title="latency (ms, log)"),
            color="variant:N",
            strokeDash="percentile:N",
            tooltip=["variant", "batch_size", "percentile", "ms"],
        )
    )
    left, right = st.columns(2)
    left.altair_chart(chart, width="stretch")
    if "throughput_per_s" in frame.columns:
        through = (
            alt.Chart(frame.dropna(subset=["throughput_per_s"]))
            .mark_bar()
            .encode(
                x=alt.X("batch_size:O", title="batch size"),
                xOffset="variant:N",
                y=alt.Y("throughput_per_s:Q", title="examples / s"),
                color="variant:N",
                tooltip=["variant", "batch_size", "throughput_per_s"],
            )
        )
        right.altair_chart(through, width="stretch")
    st.dataframe(frame, hide_index=True, width="stretch")

ui.table(result, "tradeoffs", title="Trade-offs (speed against accuracy, per batch size)")
ui.table(result, "energy", title="Energy", note=False)
ui.table(result, "roofline", title="Roofline", note=False)
ui.table(result, "stage_profile", title="Where the run's time went", note=False)

ui.generic(results, "efficiency", skip_tables=("latency",))
