"""The names of the files in a run directory that the integer stages read and write.

One home for them, free of torch, so quantisation, hardware generation, simulation and FPGA
builds agree on where things are without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

TOPLEVEL = "faultedge_accel"  # the accelerator's Verilog module
VERILOG = f"hdl/{TOPLEVEL}.v"
HDL_REPORT = "hdl/report.json"
DESIGN = "hdl/design.json"  # the design point `faultedge hdl` generated; sim and fpga build read it
SIM_REPORT = "sim/report.json"
FPGA_DIR = "fpga"  # fpga/BOARD/report.json and the bitstream


@dataclass(frozen=True)
class Artifacts:
    """File names of one quantised network in a run directory (the student at 8 bits has no suffix)."""

    network: str
    bits: int

    @property
    def suffix(self) -> str:
        return ("" if self.network == "student" else f"_{self.network}") + ("" if self.bits == 8 else f"_{self.bits}bit")

    @property
    def qat(self) -> str:
        return f"qat{self.suffix}.pt"

    @property
    def ir(self) -> str:
        return f"model{self.suffix}.ir.json"

    @property
    def vectors(self) -> str:
        return f"golden_vectors{self.suffix}.npz"

    @property
    def metrics_key(self) -> str:
        return f"quant_{self.network}_{self.bits}bit"
