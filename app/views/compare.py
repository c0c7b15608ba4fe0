"""Compare: two runs, every shared metric with its delta and significance; prediction changes.

The pairing, the tests and the verdicts are auditkit.gate.pairing's (through
auditkit.dashboard.compare): what `auditkit gate` would say about the same two runs.
"""

from __future__ import annotations

import streamlit as st

from app import ui

st.title("Compare two runs")
runs = [e for e in ui.runs() if e.problem is None]
if len(runs) < 2:
    if not ui.runs():
        ui.no_runs_message()
    else:
        st.info("Comparing needs at least two readable runs under this results root.")
    st.stop()

keys = [e.key for e in runs]
labels = {e.key: e.label() for e in runs}
current_key = st.session_state.get(ui.RUN_KEY)
current_key = current_key if current_key in keys else keys[0]
# Default baseline: the newest older run of the same suite, preferring one on the same test set
# (so the comparison can be paired), else any other run.
cur_entry = ui.entry_by_key(current_key)
older = [e for e in runs if e.suite == cur_entry.suite and e.key != current_key]
same_test = [
    e for e in older if e.test_fingerprint and e.test_fingerprint == cur_entry.test_fingerprint
]
pool = same_test or older
baseline_default = pool[0].key if pool else next(k for k in keys if k != current_key)
c1, c2 = st.columns(2)
base_key = c1.selectbox(
    "Baseline", keys, index=keys.index(baseline_default), format_func=labels.get, key="cmp_base"
)
cur_key = c2.selectbox(
    "Current", keys, index=keys.index(current_key), format_func=labels.get, key="cmp_cur"
)
if base_key == cur_key:
    st.warning("Pick two different runs.")
    st.stop()

base_entry, cur_entry = ui.entry_by_key(base_key), ui.entry_by_key(cur_key)
if ui.load_entry(base_entry) is None or ui.load_entry(cur_entry) is None:
    st.stop()
alpha = 0.05
pairing, frame, pc = ui.compare_cached(base_entry, cur_entry, alpha)
if pairing.paired:
    st.success(
        f"Paired comparison: {pairing.reason}. Accuracy uses the exact McNemar test on "
        "per-example correctness; macro/weighted F1, ECE, Brier and NLL a paired bootstrap "
        "(the tests `auditkit gate` runs)."
    )
else:
    st.info(
        f"Not paired: {pairing.reason}. Changes are judged as `auditkit gate` judges them: "
        "a normal approximation from the two runs' confidence intervals."
    )

if frame.empty:
    st.warning("The two runs share no metric (no audit ran in both).")
    st.stop()
counts = frame["verdict"].value_counts()
cols = st.columns(4)
for col, verdict in zip(cols, ["better", "worse", "not significant", "not tested"], strict=True):
    col.metric(verdict, int(counts.get(verdict, 0)))
only_sig = st.checkbox("Only significant changes", key="cmp_sig")
shown = frame[frame["verdict"].isin(["better", "worse", "changed"])] if only_sig else frame


def colour(row):
    tint = {
        "better": "background-color: rgba(22,163,74,0.18)",
        "worse": "background-color: rgba(220,38,38,0.18)",
    }
    return [tint.get(row["verdict"], "")] * len(row)


st.subheader("Shared metrics")
st.caption(
    f"delta = current − baseline; significant at p < {alpha} (paired test or CI comparison, "
    "as in `auditkit gate`); a metric with no CI on either side is not tested. `detectable` "
    "is the smallest change these runs can detect at that alpha with 80% power, as the gate "
    "reports it: a change smaller than that can pass unseen."
)
st.dataframe(
    shown.style.apply(colour, axis=1).format(precision=4, na_rep="—"),
    hide_index=True,
    width="stretch",
)

only_a = sorted(set(base_entry.audits) - set(cur_entry.audits))
only_b = sorted(set(cur_entry.audits) - set(base_entry.audits))
if only_a or only_b:
    st.caption(
        "Not compared: "
        + "; ".join(
            part
            for part in (
                only_a and f"only in baseline: {', '.join(only_a)}",
                only_b and f"only in current: {', '.join(only_b)}",
            )
            if part
        )
    )

st.subheader("Per-example prediction changes")
if not pairing.paired:
    st.caption("Shown only when both runs scored the same test set.")
else:
    kinds = sorted(pc["change"].unique())
    pick = st.multiselect("Change", kinds, key="cmp_change", placeholder="any")
    view = pc[pc["change"].isin(pick)] if pick else pc
    n_fixed = int((pc["change"] == "fixed").sum())
    n_broken = int((pc["change"] == "broken").sum())
    st.caption(
        f"{len(pc)} of {pairing.n} predictions changed: {n_fixed} fixed, "
        f"{n_broken} broken, {len(pc) - n_fixed - n_broken} changed but still wrong."
    )
    st.dataframe(view, hide_index=True, width="stretch")
