"""Saving figures: the one place a plot becomes a file."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from mmm_param_recovery.benchmarking.store.atomic import atomic_write

DPI = 110


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(
        path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight"))
