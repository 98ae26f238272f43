"""``--plot FILE.png``: a horizontal bar chart of pyloop's two ratios per benchmark.

matplotlib is optional (``pip install 'pyloop[plot]'``); without it the caller
gets a reason string instead of a chart.
"""

from __future__ import annotations

from pathlib import Path

from .loops import BASELINE, RIVALS, SUBJECT
from .report import pyloop_ratios
from .runner import Results


def write_plot(path: Path, results: Results) -> str | None:
    """Draw the chart into ``path``; returns why not if it cannot."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'pyloop[plot]')"
    ratios = pyloop_ratios(results)
    if not ratios:
        return f"no {SUBJECT} figures to plot"
    names = list(ratios)
    ys = range(len(names))
    fig, ax = plt.subplots(figsize=(9, 0.55 * len(names) + 1.5))
    nan = float("nan")  # a missing ratio draws no bar
    vs_baseline = [ratios[n].vs_baseline or nan for n in names]
    vs_best = [ratios[n].vs_best or nan for n in names]
    # Bars grow from 1.0, so "pyloop worse" points left and "better" points right.
    for offset, values, label in (
        (-0.2, vs_baseline, f"{SUBJECT} / {BASELINE}"),
        (0.2, vs_best, f"{SUBJECT} / best of {', '.join(RIVALS)}"),
    ):
        bars = ax.barh(
            [y + offset for y in ys], [v - 1.0 for v in values], left=1.0, height=0.4, label=label
        )
        ax.bar_label(bars, labels=[f"{v:.2f}x" for v in values], fontsize=8, padding=2)
    ax.set_xscale("log")  # 2x better and 2x worse are the same distance from 1
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_yticks(list(ys), names)
    ax.invert_yaxis()  # first benchmark on top, as in the table
    ax.set_xlabel(f"ratio (> 1: {SUBJECT} better; memory inverted)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return None
