"""Classification metrics as the references report them (macro averages over classes)."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Accuracy and macro precision/recall/F1 over the classes present in `y_true` (in %)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    present = cm.sum(1) > 0
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(0).astype(np.float64)
    actual = cm.sum(1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    return {
        "n": int(cm.sum()),
        "accuracy": 100.0 * tp.sum() / max(cm.sum(), 1),
        "precision_macro": 100.0 * precision[present].mean(),
        "recall_macro": 100.0 * recall[present].mean(),
        "f1_macro": 100.0 * f1[present].mean(),
        "confusion": cm.tolist(),
    }


def per_class_recall(confusion: list[list[int]]) -> list[float | None]:
    """Recall of each class in % (rows of the confusion matrix: truth); None for a class with no samples.
    A dead minority class shows here when accuracy and even macro scores hide it."""
    cm = np.asarray(confusion)
    return [100.0 * cm[c, c] / cm[c].sum() if cm[c].sum() else None for c in range(cm.shape[0])]
