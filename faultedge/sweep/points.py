"""The design-point grid of a sweep and the content hash that names each point's result.

A point is a design point (faultedge.hdl.design) plus a nextpnr placement seed. The grid is
checked on the driver before any Ray task starts: every width's IR must exist, every board must
load, and every (lanes, beat) must plan (lanes a power of two, beat dividing the inputs), so a
typo fails in a second instead of in the middle of an hour of place and route.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from faultedge import __version__
from faultedge.errors import FaultedgeError, RunDirError
from faultedge.families import family
from faultedge.fpga.board import load_fpga_board
from faultedge.fpga.build import TOOLS, check_board_memories
from faultedge.fpga.tools import tool_version
from faultedge.hdl.cycles import model
from faultedge.hdl.design import DesignPoint
from faultedge.hdl.frontend.plan import NO_FRONTEND, check_frontend
from faultedge.hdl.engines import engine
from faultedge.ir import IRModel
from faultedge.ir.files import Artifacts
from faultedge.runs import RunDir

MAX_AUTO_BEAT = 64
# The code whose behaviour a point's result depends on: a change to the generator or the flow is a new result.
CODE_DIRS = ("hdl", "fpga", "ir", "sim", "boards")


@dataclass(frozen=True)
class SweepPoint:
    design: DesignPoint
    seed: int  # nextpnr placement seed

    @property
    def label(self) -> str:
        """A short readable name, also the point's work directory."""
        d = self.design
        fe = f"-{d.frontend}" if d.sample_in else ""
        return f"{d.network}-{d.bits}bit-P{d.lanes}-beat{d.beat}{fe}-{d.board}-seed{self.seed}"

    def to_json(self) -> dict[str, Any]:
        return {**self.design.to_json(), "seed": self.seed}


def choose_beat(ir: IRModel, engine_name: str, lanes: int, max_beat: int = MAX_AUTO_BEAT) -> int:
    """The smallest power-of-two beat whose load cycles are <= 1/8 of the compute cycles (or `max_beat`),
    so that streaming the window in does not dominate the latency."""
    planner = engine(engine_name).planner
    n = planner(ir, lanes, 1).n_inputs
    beat = 1
    while beat < max_beat and n % (beat * 2) == 0:
        c = model(planner(ir, lanes, beat))
        if c.load * 8 <= c.compute:
            break
        beat *= 2
    return beat


def ir_path(run: RunDir, network: str, bits: int) -> Path:
    """The IR of one width; a missing one names the command that makes it."""
    art = Artifacts(network, bits)
    path = run / art.ir
    if not path.is_file():
        net = "" if network == "student" else f" --network {network}"
        raise RunDirError(f"{run.path} has no {art.ir} for --bits {bits}: run `faultedge quantize {run.path}{net} --bits {bits}` first")
    return path


def grid(run: RunDir, network: str, lanes: list[int], bits: list[int], beats: list[int] | None, boards: list[str],
         seeds: list[int], frontend: str = NO_FRONTEND) -> list[SweepPoint]:
    """Every combination, in the order given, each checked against its IR and board; `beats` None picks one per
    (bits, lanes) with `choose_beat`. A sample-in `frontend` takes one sample per beat."""
    fam = family(network)
    if "fpga" not in fam.steps:
        raise FaultedgeError(f"{fam.title} has no FPGA step: nothing to sweep")
    if frontend != NO_FRONTEND:
        if beats not in (None, [1]):
            raise FaultedgeError(f"--beat: a sample-in design (--frontend {frontend}) takes one sample per beat; leave --beat out")
        beats = [1]
    for name, values in (("--lanes", lanes), ("--bits", bits), ("--boards", boards), ("--seeds", seeds), ("--beat", beats)):
        if values is not None and len(set(values)) != len(values):
            raise FaultedgeError(f"{name}: a value is given twice: {' '.join(map(str, values))}")
    irs = {b: IRModel.load(ir_path(run, network, b)) for b in bits}
    for name in boards:
        board = load_fpga_board(name)  # BoardError: an unknown board, with the known ones
        if frontend != NO_FRONTEND:
            check_board_memories(frontend, board)
    if frontend != NO_FRONTEND:
        for b, ir in irs.items():
            check_frontend(ir.frontend, frontend, f"faultedge quantize {run.path} --bits {b}")
    points = []
    for b, p, board, seed in product(bits, lanes, boards, seeds):
        for beat in beats or [choose_beat(irs[b], fam.engine, p)]:
            engine(fam.engine).planner(irs[b], p, beat)  # IRError: lanes not a power of two, beat not dividing the inputs
            points.append(SweepPoint(DesignPoint(network, b, fam.engine, p, beat, board, frontend), seed))
    return points


def tool_versions(boards: list[str]) -> dict[str, dict[str, str]]:
    """Board -> the versions of the tools its flow runs (a new yosys or nextpnr is a new result). Asking each
    tool once here also compiles a YoWASP tool on its first use before parallel tasks could race on its cache."""
    families = {b: load_fpga_board(b).family for b in boards}
    known = {t: tool_version(t) for t in sorted({t for f in families.values() for t in TOOLS[f]})}
    return {b: {t: known[t] for t in TOOLS[f]} for b, f in families.items()}


def code_hash() -> str:
    """sha256 of faultedge's version and the sources that make a point's result."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(__version__.encode())
    for d in CODE_DIRS:
        for p in sorted((root / d).rglob("*")):
            if p.is_file() and p.suffix in (".py", ".toml", ".lpf", ".pcf", ".xdc", ".tcl"):
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


def point_key(ir_sha256: str, point: SweepPoint, tools: dict[str, str], options: dict[str, Any], code: str) -> str:
    """The content hash a point's result is cached under: IR bytes, design point, seed, tool versions, build options, code."""
    blob = json.dumps({"ir": ir_sha256, "point": point.to_json(), "tools": tools, "options": options, "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
