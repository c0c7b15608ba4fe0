"""auditkit dashboard: `streamlit run app/main.py` (results root: sidebar or $AUDITKIT_REPORTS_DIR).

The sidebar (results root and run picker) is drawn here, on every rerun, so every page sees the
same choice; each page lives in its own file under app/views/ (not `pages/`: a folder of that name
also switches on Streamlit's older automatic multipage mode, under which AppTest runs a page
without this script).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout, the app uses that checkout's auditkit (not another installed copy).
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "auditkit" / "__init__.py").is_file() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import streamlit as st  # noqa: E402

from auditkit.dashboard import ui  # noqa: E402

st.set_page_config(page_title="auditkit", layout="wide")

PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    st.Page("views/performance.py", title="Performance", icon=":material/target:"),
    st.Page("views/robustness.py", title="Robustness", icon=":material/shield:"),
    st.Page("views/fairness.py", title="Fairness", icon=":material/balance:"),
    st.Page("views/explanations.py", title="Explanations", icon=":material/lightbulb:"),
    st.Page("views/efficiency.py", title="Efficiency", icon=":material/speed:"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
]

page = st.navigation(PAGES)
ui.sidebar()
page.run()
