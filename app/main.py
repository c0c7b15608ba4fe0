"""auditkit dashboard: `streamlit run app/main.py` (results root: sidebar or $AUDITKIT_REPORTS_DIR).

The sidebar (results root and run picker) is drawn here, on every rerun, so every page sees the
same choice; each page lives in its own file under app/views/ (not `pages/`: a folder of that name
also switches on Streamlit's older automatic multipage mode, under which AppTest runs a page
without this script).

There is one page per registered audit, in the registry's order, titled from the audit's
declared outputs: `views/<audit>.py` where the audit has one, else `views/audit.py`, the
generic page (every metric, table and file), which is how an audit from another package shows.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout, the app uses that checkout's auditkit (not another installed copy).
_REPO = Path(__file__).resolve().parents[1]
if (_REPO / "auditkit" / "__init__.py").is_file() and str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import streamlit as st  # noqa: E402

from app import ui  # noqa: E402
from auditkit.api.registry import audit_order, outputs  # noqa: E402

st.set_page_config(page_title="auditkit", layout="wide")

VIEWS = Path(__file__).resolve().parent / "views"


def _audit_page(name: str) -> st.Page:
    declared = outputs(name)
    own = VIEWS / f"{name}.py"
    script = f"views/{name}.py" if own.is_file() and name != "audit" else "views/audit.py"
    return st.Page(script, title=declared.title_for(name), icon=declared.icon, url_path=name)


AUDIT_PAGES = {name: _audit_page(name) for name in audit_order()}
PAGES = [
    st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    *AUDIT_PAGES.values(),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
]

page = st.navigation(PAGES)
# The generic page reads which audit it shows from here (one file serves every such audit).
st.session_state[ui.PAGE_AUDIT_KEY] = next(
    (name for name, p in AUDIT_PAGES.items() if p.url_path == page.url_path), None
)
ui.sidebar()
page.run()
