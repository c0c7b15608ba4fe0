"""Slices audit: the slices of the test split where the model fails, with the false
discoveries controlled (Benjamini-Hochberg over every candidate tested).

- `config`: `SlicesConfig`;
- `audit`: the registered `SlicesAudit`: gathers candidates, tests them, writes the results;
- `candidates`: the candidate slices (metadata, text features, term lists, pairs);
- `clusters`: embedding clusters and the words that describe them;
- `tree`: the error tree, fitted on one half of the test split and tested on the other;
- `stats`: Fisher exact tests, q-values, bootstrap CIs.
"""

from auditkit.audits.slices.audit import SlicesAudit
from auditkit.audits.slices.config import SlicesConfig

__all__ = ["SlicesAudit", "SlicesConfig"]
