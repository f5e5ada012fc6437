"""F1 against SNR, one panel per load and one line per model (error bars over seeds when given)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from faultedge.eval.robustness import snr_label
from faultedge.plots import plt, save_figure


def plot_f1_vs_snr(records: Sequence[dict[str, Any]], path: Path | str, title: str, key: str = "f1_macro", std_key: str | None = None) -> None:
    """`records` hold model, load_hp, trained_on_load, snr_db (None = clean) and `key` (+ `std_key`).

    The noise-free point sits one step right of the highest SNR, labelled "clean".
    """
    loads = sorted({r["load_hp"] for r in records})
    snrs = sorted({r["snr_db"] for r in records if r["snr_db"] is not None})
    has_clean = any(r["snr_db"] is None for r in records)
    ticks = snrs + ([None] if has_clean else [])
    xpos = {s: i for i, s in enumerate(ticks)}
    models = list(dict.fromkeys(r["model"] for r in records))
    fig, axes = plt.subplots(1, len(loads), figsize=(5.2 * len(loads), 3.8), squeeze=False, sharey=True)
    for ax, load in zip(axes[0], loads):
        rows = [r for r in records if r["load_hp"] == load]
        for model in models:
            pts = sorted((xpos[r["snr_db"]], r[key], r.get(std_key, 0.0) if std_key else 0.0) for r in rows if r["model"] == model)
            if pts:
                x, y, e = map(np.asarray, zip(*pts))
                ax.errorbar(x, y, yerr=e if std_key else None, marker="o", ms=4, capsize=3, label=model)
        seen = rows[0]["trained_on_load"] if rows else False
        ax.set_title(f"load {load} hp ({'trained on' if seen else 'never seen'})")
        ax.set_xticks(range(len(ticks)), [snr_label(s) for s in ticks], rotation=30)
        ax.set_xlabel("test SNR")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("macro F1 %" if key == "f1_macro" else key)
    axes[0][-1].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)
