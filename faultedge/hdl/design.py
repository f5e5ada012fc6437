"""The design point: which quantised network becomes which accelerator, for which board.

`faultedge hdl` writes it as hdl/design.json beside the Verilog it generated; `faultedge sim`
and `faultedge fpga build` read both, so every later stage works on exactly what was generated.
The defaults here are the defaults of every command.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from faultedge.errors import RunDirError
from faultedge.hdl.engines import DEFAULT_ENGINE
from faultedge.hdl.frontend.plan import FRONTENDS, NO_FRONTEND
from faultedge.ir.files import DESIGN, Artifacts
from faultedge.runs import RunDir, read_json, write_json

DEFAULT_BOARD = "ulx3s-85f"


@dataclass(frozen=True)
class DesignPoint:
    network: str = "student"  # the quantised network of the run (its family names the engine)
    bits: int = 8
    engine: str = DEFAULT_ENGINE  # faultedge.hdl.engines
    lanes: int = 16  # parallel MAC lanes P
    beat: int = 1  # input values per input beat
    board: str = DEFAULT_BOARD  # the FPGA board `faultedge fpga build` targets by default
    frontend: str = NO_FRONTEND  # "none": features in; "pipelined" / "iterative": raw samples in through that FFT

    @property
    def sample_in(self) -> bool:
        return self.frontend != NO_FRONTEND

    @property
    def artifacts(self) -> Artifacts:
        return Artifacts(self.network, self.bits)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Any, source: str = DESIGN) -> "DesignPoint":
        if not isinstance(obj, dict):
            raise RunDirError(f"{source}: expected a JSON object")
        values = {}
        for name, kind in _FIELD_TYPES.items():
            if name not in obj:
                raise RunDirError(f"{source}: {name}: missing field")
            v = obj[name]
            if not isinstance(v, kind) or isinstance(v, bool):
                raise RunDirError(f"{source}: {name}: expected {'an integer' if kind is int else 'a string'}, got {v!r}")
            values[name] = v
        if values["frontend"] not in FRONTENDS:
            raise RunDirError(f"{source}: frontend: {values['frontend']!r} is not one of {', '.join(FRONTENDS)}")
        return cls(**values)


_FIELD_TYPES: dict[str, type] = {f.name: {"int": int, "str": str}[f.type] for f in fields(DesignPoint)}


def write_design(run: RunDir, design: DesignPoint) -> None:
    write_json(run / DESIGN, design.to_json())


def read_design(run: RunDir) -> DesignPoint:
    """The design point `faultedge hdl` generated for this run."""
    path = run.require(DESIGN)
    return DesignPoint.from_json(read_json(path), str(path))
