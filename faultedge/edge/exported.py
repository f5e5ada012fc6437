"""The run's ONNX models, exported first when they are missing or stale (torch is loaded only then)."""

from __future__ import annotations

from typing import Any

from faultedge.edge.artifacts import fresh_report
from faultedge.runs import RunDir


def ensure_exported(run: RunDir) -> dict[str, Any]:
    """The run's export report, exporting first when the models are missing or older than their sources."""
    report = fresh_report(run)
    if report is None:
        from faultedge.edge.onnx_export import export

        report = export(run)
    return report
