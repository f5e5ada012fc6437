"""The accelerator that `faultedge hdl` wrote, as a black box inside the board top.

The board flow builds on the run's hdl/faultedge_accel.v and its report rather than generating the
engine again: this component has the accelerator's ports (read from hdl/report.json, which
`faultedge hdl` took from the component's signature) and instantiates the Verilog module.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.errors import RunDirError
from faultedge.ir.files import TOPLEVEL

FIGURES = ("lanes", "beat", "n_inputs", "input_bits", "n_classes", "logit_bits")


class VerilogAccelerator(wiring.Component):
    """Ports and figures of the generated accelerator; elaborates to an instance of its Verilog module."""

    def __init__(self, hdl_report: dict[str, Any]) -> None:
        try:
            ports = hdl_report["ports"]
            for key in FIGURES:
                setattr(self, key, int(hdl_report[key]))
            members = {name: (In if p["direction"] == "in" else Out)(int(p["width"])) for name, p in ports.items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise RunDirError(f"hdl/report.json: missing or malformed field ({exc}); run `faultedge hdl` again") from None
        self.ports = ports
        super().__init__(members)

    def elaborate(self, platform) -> Module:
        """The instance's reset is a register that is high while this component is reset (by the
        board reset, or by a ResetInserter around it: the UART host's abort) and for one cycle
        after, so resetting this component resets the Verilog module, one cycle later."""
        m = Module()
        reset = Signal(init=1)
        m.d.sync += reset.eq(0)
        connections = {f"{'i' if p['direction'] == 'in' else 'o'}_{name}": getattr(self, name) for name, p in self.ports.items()}
        m.submodules.accel = Instance(TOPLEVEL, i_clk=ClockSignal("sync"), i_rst=reset, **connections)
        return m
