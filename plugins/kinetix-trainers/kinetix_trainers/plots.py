"""Figures like the paper's: predictions against data per species, and the training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend, imported on first use (it costs 0.3 s at
    start-up, which every process that loads the plugins would pay)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def log_spaced(t: np.ndarray) -> bool:
    """True for positive times spanning three decades or more (plotted on a log axis)."""
    return bool(t[0] > 0 and t[-1] / t[0] >= 1e3)


def plot_trajectories(path: Path, t: np.ndarray, data: np.ndarray, pred: np.ndarray, species, title: str = "") -> None:
    """``data`` and ``pred`` ``(N, T, n)``: one panel per species, up to 4 trajectories each."""
    plt = _pyplot()
    n = len(species)
    columns = min(n, 4)
    rows = -(-n // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    for i, name in enumerate(species):
        axis = axes[i // columns][i % columns]
        for j in range(min(len(data), 4)):
            color = f"C{j}"
            axis.plot(t, data[j, :, i], "o", color=color, markersize=3, label="data" if j == 0 else None)
            axis.plot(t, pred[j, :, i], "-", color=color, linewidth=1.5, label="surrogate" if j == 0 else None)
        if log_spaced(t):
            axis.set_xscale("log")
        axis.set_title(name, fontsize=10)
        axis.tick_params(labelsize=8)
    for k in range(n, rows * columns):
        axes[k // columns][k % columns].axis("off")
    axes[0][0].legend(fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_history(path: Path, history: list[dict]) -> None:
    """Training loss (and validation loss) and gradient norm per epoch, log scale."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.semilogy(epochs, [row["loss"] for row in history], label="training loss")
    validation = [(row["epoch"], row["val_loss"]) for row in history if row.get("val_loss") not in (None, "")]
    if validation:
        left.semilogy(*zip(*validation), "o-", markersize=3, label="validation loss")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend(fontsize=8)
    right.semilogy(epochs, [max(row["grad_norm"], 1e-300) for row in history], color="C2")
    right.set_xlabel("epoch")
    right.set_ylabel("gradient norm")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
