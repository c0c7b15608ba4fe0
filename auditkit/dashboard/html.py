"""The small pieces of HTML the dashboard renders itself: token highlights and word diffs.

Everything inside comes from the data or the model (texts, adversarial perturbations, tokens),
so every piece of text goes through `html.escape` before it meets a tag. Streamlit's own
widgets (tables, metrics) escape on their own; these helpers are the only raw HTML the app
writes, and the tests feed them a `<script>` payload.
"""

from __future__ import annotations

import difflib
import html
import math
from collections.abc import Sequence

# The report's convention (auditkit.report.views.attribution_tokens), so a word has the same
# colour in both: red pushes toward the explained class, blue against it (a pair that red-green
# colour-blind readers can tell apart).
_POSITIVE = "214, 39, 40"  # red: pushes toward the explained class
_NEGATIVE = "31, 119, 180"  # blue: pushes against it
ATTRIBUTION_LEGEND = "red pushes toward it, blue against it"


def esc(text: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape("" if text is None else str(text), quote=True)


def token_highlight(words: Sequence[object], scores: Sequence[float | None]) -> str:
    """Words on a background whose strength is |score| / max |score|, red + and blue -.

    The score is in each word's tooltip. Lengths must match (attributions.jsonl promises it).
    """
    if len(words) != len(scores):
        raise ValueError(f"{len(words)} words but {len(scores)} scores")
    finite = [abs(float(s)) for s in scores if s is not None and math.isfinite(float(s))]
    top = max(finite, default=0.0) or 1.0
    spans = []
    for word, score in zip(words, scores, strict=True):
        s = float(score) if score is not None and math.isfinite(float(score)) else 0.0
        alpha = round(min(1.0, abs(s) / top) * 0.85, 3)
        rgb = _POSITIVE if s >= 0 else _NEGATIVE
        spans.append(
            f'<span class="ak-tok" title="{esc(f"{s:+.4f}")}" style="background: rgba({rgb}, '
            f"{alpha}); padding: 1px 3px; margin: 1px; border-radius: 3px; "
            f'display: inline-block">{esc(word)}</span>'
        )
    return f'<div class="ak-tokens" style="line-height: 2">{" ".join(spans)}</div>'


def word_diff(original: str, perturbed: str) -> str:
    """The perturbed text with removed words struck through (red) and new words marked (green).

    A word-level diff (difflib over whitespace tokens), so a one-character typo shows as the
    whole word swapped, which is how a reader scans an adversarial example.
    """
    a, b = str(original or "").split(), str(perturbed or "").split()
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(esc(" ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(
                '<del style="background: rgba(220, 38, 38, 0.25); text-decoration: line-through">'
                f"{esc(' '.join(a[i1:i2]))}</del>"
            )
        if j2 > j1:
            out.append(
                '<ins style="background: rgba(22, 163, 74, 0.3); text-decoration: none">'
                f"{esc(' '.join(b[j1:j2]))}</ins>"
            )
    return f'<div class="ak-diff" style="line-height: 1.8">{" ".join(out)}</div>'


def labelled(label: str, body_html: str) -> str:
    """A small caption over an already-escaped HTML body."""
    return f'<div style="font-size: 0.8em; color: #666">{esc(label)}</div>{body_html}'
