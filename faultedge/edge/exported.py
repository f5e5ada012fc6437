"""The run's ONNX models, exported first when they are missing or stale (torch is loaded only then)."""

from __future__ import annotations

from typing import Any

from faultedge.edge.artifacts import fresh_report
from faultedge.families import STUDENT, Family
from faultedge.runs import RunDir


def ensure_exported(run: RunDir, family: Family = STUDENT) -> dict[str, Any]:
    """The family's export report, exporting first when its models are missing or older than their sources."""
    report = fresh_report(run, family.name)
    if report is None:
        from faultedge.edge.onnx_export import export

        report = export(run, family)
    return report
