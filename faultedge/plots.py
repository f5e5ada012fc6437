"""Figures a person would rather look at than read. Matplotlib without a display."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from faultedge.runs import atomic_path  # noqa: E402


def save_figure(fig: "plt.Figure", path: Path | str) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def plot_confusion(cm: np.ndarray, labels: Sequence[str], title: str, path: Path | str) -> None:
    """Row-normalised confusion matrix with the raw counts written in each cell."""
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    save_figure(fig, path)


def plot_image_grid(images: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str, path: Path | str, per_class: int = 10) -> None:
    """Up to `per_class` images (N, C, H, W) per class, one row per class, channels side by side."""
    c = images.shape[1]
    shown = max(1, per_class // c)
    fig, axes = plt.subplots(len(class_names), shown, figsize=(1.1 * shown * c, 1.1 * len(class_names)), squeeze=False)
    for row, name in enumerate(class_names):
        idx = np.flatnonzero(labels == row)[:shown]
        for col in range(shown):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(idx):
                ax.imshow(np.concatenate(list(images[idx[col]]), axis=1), cmap="viridis")
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    save_figure(fig, path)


def plot_curve(values: Sequence[float], xlabel: str, ylabel: str, title: str, path: Path | str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.arange(len(values)), values, lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    save_figure(fig, path)
