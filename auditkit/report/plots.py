"""Matplotlib figures as inline SVG strings: no files, no fonts or URLs the page would fetch.

Every plot is drawn with the Agg backend under one rc context, saved as SVG with text kept as
text (so it stays selectable and prints sharply) and then cleaned for inlining: the XML prolog,
DOCTYPE, namespace URLs and metadata go, unreferenced element ids go, and the ids that remain
are prefixed per figure so several SVGs can share one HTML page. Text from the data reaches the
SVG through matplotlib's own escaping (math parsing is off, so `$` in a label stays literal).
"""

from __future__ import annotations

import io
import math
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt

# Colour-blind-safe palette (Okabe-Ito); the report's CSS uses the same hues.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

_RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "figure.dpi": 100,
}
# No Creator/Format/Type: matplotlib's defaults are URLs; no Date: the output stays stable.
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}


@dataclass
class Series:
    """One bar (or line) series: values with optional lower/upper CI bounds."""

    name: str
    values: Sequence[float | None]
    low: Sequence[float | None] | None = None
    high: Sequence[float | None] | None = None
    x: Sequence[float] | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_records(
        cls,
        records: Sequence[Mapping[str, Any]],
        column: str,
        name: str | None = None,
        *,
        bounds: tuple[str, str] | None = None,
    ) -> Series:
        """Bars with CI whiskers from table records: `column`'s values, bounded by the columns
        `bounds` names (default `{column}_ci_low` and `{column}_ci_high`; missing cells: None)."""
        low, high = bounds or (f"{column}_ci_low", f"{column}_ci_high")
        return cls(
            name or column,
            [r.get(column) for r in records],
            [r.get(low) for r in records],
            [r.get(high) for r in records],
        )


def _num(v: object) -> float:
    """A float or NaN (matplotlib skips NaN), for None and non-numeric cells."""
    if v is None or isinstance(v, bool):
        return math.nan
    try:
        out = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-").lower() or "fig"


def to_svg(fig: plt.Figure, key: str, title: str | None = None) -> str:
    """Serialize and close `fig`; return SVG markup ready to inline in HTML."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=_METADATA, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return clean_svg(buf.getvalue(), _slug(key), title)


def clean_svg(text: str, prefix: str, title: str | None = None) -> str:
    """Strip what an inline SVG must not carry (URLs, prolog) and make its ids page-unique."""
    text = text[text.index("<svg") :]
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = text.replace("xlink:href=", "href=")
    referenced = set(re.findall(r'url\(#([^)"\s]+)\)', text))
    referenced |= set(re.findall(r'href="#([^"]+)"', text))

    def rename_id(m: re.Match[str]) -> str:
        ident = m.group(1)
        return f' id="{prefix}-{ident}"' if ident in referenced else ""

    text = re.sub(r'\s+id="([^"]*)"', rename_id, text)
    text = re.sub(r"url\(#([^)\"\s]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", text)
    text = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', text)
    # Size from the viewBox, scaled by CSS.
    head_end = text.index(">")
    width = re.search(r'\swidth="([\d.]+)pt"', text[:head_end])
    head = re.sub(r'\s+(width|height)="[^"]*"', "", text[:head_end])
    if width:  # never scale a plot above its drawn size, so font sizes match across plots
        head += f' style="max-width: {float(width.group(1)):.0f}pt"'
    label = ""
    if title:
        from html import escape

        label = f' role="img" aria-label="{escape(title, quote=True)}"'
    return f'{head} class="plot"{label}{text[head_end:]}'.strip()


def _errors(
    values: Sequence[float],
    low: Sequence[float | None] | None,
    high: Sequence[float | None] | None,
) -> list[list[float]] | None:
    """Asymmetric error-bar lengths from CI bounds (0 where a bound is missing)."""
    if low is None or high is None:
        return None

    def length(a: float, b: float) -> float:
        d = a - b
        return 0.0 if math.isnan(d) else max(d, 0.0)

    below = [length(v, _num(lo)) for v, lo in zip(values, low, strict=True)]
    above = [length(_num(hi), v) for v, hi in zip(values, high, strict=True)]
    return [below, above]


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    key: str,
    ylabel: str = "",
    title: str | None = None,
    ylim: tuple[float, float] | None = None,
    value_labels: bool = True,
) -> str:
    """Grouped vertical bars with CI whiskers where a series has bounds."""
    n_cat, n_ser = len(categories), max(len(series), 1)
    width = min(9.5, max(4.2, 0.55 * n_cat * n_ser + 1.8))
    with plt.rc_context({**_RC, "svg.hashsalt": key}):
        fig, ax = plt.subplots(figsize=(width, 2.9))
        bar_w = 0.8 / n_ser
        for j, s in enumerate(series):
            xs = [i - 0.4 + bar_w * (j + 0.5) for i in range(n_cat)]
            vals = [_num(v) for v in s.values]
            yerr = _errors(vals, s.low, s.high)
            color = PALETTE[j % len(PALETTE)]
            ax.bar(
                xs,
                [0.0 if math.isnan(v) else v for v in vals],
                bar_w * 0.92,
                label=s.name,
                color=color,
                yerr=yerr,
                capsize=3 if yerr else 0,
                error_kw={"elinewidth": 0.9, "ecolor": "#333333"},
            )
            if value_labels and n_cat * n_ser <= 24:
                tops = yerr[1] if yerr else [0.0] * len(vals)
                for x, v, up in zip(xs, vals, tops, strict=True):
                    text = "n/a" if math.isnan(v) else f"{v:.3g}"
                    ax.annotate(  # above the whisker, so the two never overlap
                        text,
                        (x, 0 if math.isnan(v) else v + up),
                        xytext=(0, 2),
                        textcoords="offset points",
                        ha="center",
                        va="bottom",
                        fontsize=7,
                        color="#444444",
                    )
        ax.set_xticks(range(n_cat))
        ax.set_xticklabels(
            [textwrap.fill(str(c), 18) for c in categories],
            rotation=20 if n_cat > 5 else 0,
            ha="right" if n_cat > 5 else "center",
        )
        ax.set_ylabel(ylabel)
        if ylim is not None:
            ax.set_ylim(*ylim)
        if len(series) > 1:
            ax.legend(
                fontsize=8,
                ncols=min(len(series), 4),
                loc="upper center",
                bbox_to_anchor=(0.5, 1.16),
            )
        if title:
            ax.set_title(title, fontsize=9, loc="left", pad=18 if len(series) > 1 else 6)
        return to_svg(fig, key, title or ylabel)


def heatmap(
    matrix: Sequence[Sequence[float]],
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    key: str,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
) -> str:
    """A count heatmap with each cell's number written in it (confusion matrices)."""
    import numpy as np

    data = np.array([[_num(v) for v in row] for row in matrix], dtype=float)
    size = max(3.0, 0.7 * max(len(rows), len(cols)) + 1.6)
    with plt.rc_context({**_RC, "svg.hashsalt": key, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(size, size))
        # pcolormesh, not imshow: vector cells, where imshow would embed a PNG data URI.
        ax.pcolormesh(
            np.arange(data.shape[1] + 1) - 0.5,  # cell centres on integers, like imshow
            np.arange(data.shape[0] + 1) - 0.5,
            np.ma.masked_invalid(data),
            cmap="Blues",
            edgecolors="white",
            linewidth=0.5,
        )
        ax.invert_yaxis()
        ax.set_aspect("equal")
        top = np.nanmax(data) if data.size and not np.isnan(data).all() else 0.0
        for i in range(data.shape[0]):
            for j in range(data.shape[1]):
                v = data[i, j]
                text = "" if np.isnan(v) else f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if top and v > top * 0.6 else "#222222",
                )
        ax.set_xticks(range(len(cols)), [str(c) for c in cols], rotation=30 if len(cols) > 4 else 0)
        ax.set_yticks(range(len(rows)), [str(r) for r in rows])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
        if title:
            ax.set_title(title, fontsize=9, loc="left")
        return to_svg(fig, key, title or "heatmap")


def reliability_diagram(records: Sequence[dict], *, key: str, title: str | None = None) -> str:
    """Accuracy against mean confidence per bin, with the diagonal and bin counts beneath."""
    with plt.rc_context({**_RC, "svg.hashsalt": key, "axes.grid.axis": "both"}):
        fig, (ax, ax_n) = plt.subplots(
            2, 1, figsize=(4.6, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
        )
        _reliability_panel(ax, ax_n, records, legend=True)
        if title:
            ax.set_title(title, fontsize=9, loc="left")
        return to_svg(fig, key, title or "reliability diagram")


def reliability_diagrams(
    panels: Sequence[tuple[str, Sequence[dict]]],
    *,
    key: str,
    xlabel: str = "confidence",
    ylabel: str = "accuracy",
    title: str | None = None,
    legend: bool = True,
) -> str:
    """Reliability diagrams side by side (before/after a fix, or one per class), each with its
    bin counts beneath; records have bin_low, bin_high, count, confidence and accuracy."""
    n = len(panels)
    with plt.rc_context({**_RC, "svg.hashsalt": key, "axes.grid.axis": "both"}):
        fig, axes = plt.subplots(
            2,
            n,
            figsize=(min(3.3 * n, 10.5), 3.9),
            sharex=True,
            sharey="row",
            squeeze=False,
            gridspec_kw={"height_ratios": [3, 1]},
        )
        for j, (name, records) in enumerate(panels):
            ax, ax_n = axes[0][j], axes[1][j]
            _reliability_panel(
                ax, ax_n, records, legend=legend and j == 0, xlabel=xlabel, ylabel=ylabel
            )
            ax.set_title(name, fontsize=9, loc="left")
            if j:
                ax.set_ylabel("")
                ax_n.set_ylabel("")
        if title:
            fig.suptitle(title, fontsize=9, x=0.01, ha="left")
        fig.tight_layout()
        return to_svg(fig, key, title or "reliability diagrams")


def _reliability_panel(
    ax: Any,
    ax_n: Any,
    records: Sequence[dict],
    *,
    legend: bool,
    xlabel: str = "confidence",
    ylabel: str = "accuracy",
) -> None:
    lows = [_num(r.get("bin_low")) for r in records]
    highs = [_num(r.get("bin_high")) for r in records]
    conf = [_num(r.get("confidence")) for r in records]
    acc = [_num(r.get("accuracy")) for r in records]
    counts = [_num(r.get("count")) for r in records]
    widths = [h - lo for lo, h in zip(lows, highs, strict=True)]
    ax.plot([0, 1], [0, 1], ls="--", color="#888888", lw=0.9, label="perfect calibration")
    ax.bar(
        lows,
        [0 if math.isnan(a) else a for a in acc],
        widths,
        align="edge",
        color=PALETTE[0],
        alpha=0.75,
        edgecolor="white",
        label=f"{ylabel} in bin",
    )
    ax.plot(conf, acc, "o", color=PALETTE[5], ms=3.5, label=f"mean {xlabel}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(fontsize=7, loc="upper left")
    ax_n.bar(
        lows,
        [0 if math.isnan(c) else c for c in counts],
        widths,
        align="edge",
        color="#999999",
        edgecolor="white",
    )
    ax_n.set_ylabel("count")
    ax_n.set_xlabel(xlabel)


def coverage_chart(rows: Sequence[dict], *, key: str, title: str | None = None) -> str:
    """Conformal sets: coverage (with CI) against its target, and the mean set size it costs,
    one colour per score. Rows have score, target, coverage, coverage_low/high, set_size."""
    scores = list(dict.fromkeys(str(r.get("score")) for r in rows))
    with plt.rc_context({**_RC, "svg.hashsalt": key, "axes.grid.axis": "both"}):
        fig, (ax, ax_s) = plt.subplots(1, 2, figsize=(7.2, 3.0))
        targets = sorted({_num(r.get("target")) for r in rows} - {math.nan})
        if targets:
            lo, hi = min(targets) - 0.03, max(targets) + 0.03
            ax.plot([lo, hi], [lo, hi], ls="--", color="#888888", lw=0.9, label="target")
        width = 0.8 / max(len(scores), 1)
        for j, score in enumerate(scores):
            mine = [r for r in rows if str(r.get("score")) == score]
            color = PALETTE[j % len(PALETTE)]
            xs = [_num(r.get("target")) + (j - (len(scores) - 1) / 2) * 0.004 for r in mine]
            ys = [_num(r.get("coverage")) for r in mine]
            err = _errors(
                ys, [r.get("coverage_low") for r in mine], [r.get("coverage_high") for r in mine]
            )
            ax.errorbar(xs, ys, yerr=err, fmt="o", color=color, ms=4, capsize=2, label=score)
            positions = [i + (j - (len(scores) - 1) / 2) * width for i in range(len(mine))]
            ax_s.bar(positions, [_num(r.get("set_size")) for r in mine], width, color=color,
                     label=score)  # fmt: skip
        first = [r for r in rows if str(r.get("score")) == scores[0]] if scores else []
        ax_s.set_xticks(range(len(first)), [f"{_num(r.get('target')):g}" for r in first])
        ax.set_xlabel("target coverage (1 - alpha)")
        ax.set_ylabel("coverage on the test split")
        ax.legend(fontsize=7, loc="upper left")
        ax_s.set_xlabel("target coverage (1 - alpha)")
        ax_s.set_ylabel("mean set size (classes)")
        ax_s.axhline(1, color="#888888", lw=0.8, ls=":")
        if title:
            ax.set_title(title, fontsize=9, loc="left")
        fig.tight_layout()
        return to_svg(fig, key, title or "conformal coverage and set size")


def line_chart(
    series: Sequence[Series],
    *,
    key: str,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logx: bool = False,
    logy: bool = False,
) -> str:
    """Lines with markers (one per series), with a shaded band where bounds are given."""
    with plt.rc_context({**_RC, "svg.hashsalt": key, "axes.grid.axis": "both"}):
        fig, ax = plt.subplots(figsize=(5.6, 3.0))
        for j, s in enumerate(series):
            xs = [_num(x) for x in (s.x or range(len(s.values)))]
            ys = [_num(v) for v in s.values]
            color = PALETTE[j % len(PALETTE)]
            ax.plot(xs, ys, "o-", color=color, lw=1.4, ms=4, label=s.name)
            if s.low is not None and s.high is not None:
                ax.fill_between(
                    xs,
                    [_num(v) for v in s.low],
                    [_num(v) for v in s.high],
                    color=color,
                    alpha=0.15,
                    lw=0,
                )
        if logx:
            ax.set_xscale("log", base=2)
            xs_all = sorted({_num(x) for s in series for x in (s.x or [])} - {math.nan})
            xs_all = [x for x in xs_all if x > 0 and not math.isnan(x)]
            if xs_all:
                ax.set_xticks(xs_all, [f"{x:g}" for x in xs_all])
                ax.minorticks_off()
        if logy:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            # Plain numbers: the default log labels are mathtext, which is off here.
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(series) > 1:
            ax.legend(fontsize=8)
        if title:
            ax.set_title(title, fontsize=9, loc="left")
        return to_svg(fig, key, title or ylabel)


def hbar_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    key: str,
    xlabel: str = "",
    title: str | None = None,
    signed: bool = False,
) -> str:
    """Horizontal bars, largest at the top (stage times, top tokens)."""
    vals = [_num(v) for v in values]
    height = max(1.6, 0.26 * len(labels) + 0.8)
    with plt.rc_context({**_RC, "svg.hashsalt": key, "axes.grid.axis": "x"}):
        fig, ax = plt.subplots(figsize=(5.2, height))
        ys = list(range(len(labels)))[::-1]
        colors = [
            (PALETTE[5] if v >= 0 else PALETTE[0]) if signed else PALETTE[0]
            for v in (0 if math.isnan(v) else v for v in vals)
        ]
        ax.barh(ys, [0 if math.isnan(v) else v for v in vals], color=colors, height=0.7)
        ax.set_yticks(ys, [str(lab) for lab in labels])
        ax.set_xlabel(xlabel)
        if title:
            ax.set_title(title, fontsize=9, loc="left")
        return to_svg(fig, key, title or xlabel)
