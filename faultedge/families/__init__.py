"""The network families by name (the `--network` values): what the flow steps and commands ask
instead of branching on a network's name. See faultedge.families.base for what a family says."""

from __future__ import annotations

from faultedge.errors import FaultedgeError
from faultedge.families.axial_mlp import AXIAL_MLP
from faultedge.families.base import Family, QuantData
from faultedge.families.cnn1d import STUDENT, TEACHER
from faultedge.families.dcnn import DCNN_FAMILY
from faultedge.families.mkw import MKW_NET

FAMILIES: dict[str, Family] = {f.name: f for f in (STUDENT, TEACHER, MKW_NET, DCNN_FAMILY, AXIAL_MLP)}
STUDENT_NAME, MKW_NAME = STUDENT.name, MKW_NET.name
EXPORTED = tuple(name for name, f in FAMILIES.items() if "export" in f.steps)  # the networks with ONNX models: the --network
# choices of export, predict and monitor


def family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise FaultedgeError(f"unknown network {name!r}; the families are {', '.join(FAMILIES)}") from None


__all__ = ["AXIAL_MLP", "EXPORTED", "FAMILIES", "MKW_NAME", "MKW_NET", "STUDENT", "STUDENT_NAME", "TEACHER", "Family", "QuantData", "family"]
