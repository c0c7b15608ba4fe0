"""The dashboard's logic, kept apart from Streamlit so it can be unit-tested.

`runs` finds and loads run directories (only through `auditkit.api.results.load_results` and the
artifacts that results.json names), `compare` pairs two runs metric by metric with a
significance test, and `html` builds the little HTML the app renders itself, escaped.
Nothing here imports Streamlit: the pages live in `app/views/`, and `app/ui.py` holds the
Streamlit helpers they share.
"""

from auditkit.dashboard.runs import (
    ENV_VAR,
    ArtifactError,
    RunEntry,
    default_root,
    discover_runs,
    load_artifact,
    metrics_frame,
    read_gate,
)

__all__ = [
    "ENV_VAR",
    "ArtifactError",
    "RunEntry",
    "default_root",
    "discover_runs",
    "load_artifact",
    "metrics_frame",
    "read_gate",
]
