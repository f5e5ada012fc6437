"""The accelerator that `faultedge hdl` wrote, as a black box inside the board top.

The board flow builds on the run's hdl/faultedge_accel.v and its report rather than generating the
engine again: this component takes the accelerator's figures from hdl/report.json, builds its
signature with the function that built the engine's (faultedge.hdl.components.streams), checks it
against the ports the report recorded from the engine, and instantiates the Verilog module.
"""

from __future__ import annotations

from typing import Any

from amaranth.hdl import ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring

from faultedge.errors import RunDirError
from faultedge.hdl.components.streams import accelerator_signature, port_name, sample_accelerator_signature, signature_ports
from faultedge.ir.files import TOPLEVEL

FIGURES = ("lanes", "beat", "n_inputs", "input_bits", "n_classes", "logit_bits")
SAMPLE_FIGURES = ("sample_bits", "window", "hop")  # a sample-in accelerator's, from the report's `frontend`


class VerilogAccelerator(wiring.Component):
    """The generated accelerator's figures and signature (the engine's, exactly); elaborates to an
    instance of its Verilog module."""

    lanes: int
    beat: int
    n_inputs: int
    input_bits: int
    n_classes: int
    logit_bits: int
    window: int = 0  # a sample-in accelerator's window, hop and sample width (faultedge.hdl.frontend)
    hop: int = 0
    sample_bits: int = 0

    def __init__(self, hdl_report: dict[str, Any]) -> None:
        try:
            for key in FIGURES:
                setattr(self, key, int(hdl_report[key]))
            for key in SAMPLE_FIGURES if "frontend" in hdl_report else ():
                setattr(self, key, int(hdl_report["frontend"][key]))
            recorded = hdl_report["ports"]
        except (KeyError, TypeError, ValueError) as exc:
            raise RunDirError(f"hdl/report.json: missing or malformed field ({exc}); run `faultedge hdl` again") from None
        if self.window:
            signature = sample_accelerator_signature(sample_bits=self.sample_bits, n_classes=self.n_classes, logit_bits=self.logit_bits)
        else:
            signature = accelerator_signature(beat=self.beat, input_bits=self.input_bits, n_classes=self.n_classes, logit_bits=self.logit_bits)
        if signature_ports(signature) != recorded:
            raise RunDirError(f"hdl/report.json: the recorded ports ({', '.join(recorded)}) are not the accelerator's "
                              f"({', '.join(signature_ports(signature))}): the Verilog is from another faultedge version; run `faultedge hdl` again")
        super().__init__(signature)

    def elaborate(self, platform) -> Module:
        """The instance's reset is a register that is high while this component is reset (by the
        board reset, or by a ResetInserter around it: the UART host's abort) and for one cycle
        after, so resetting this component resets the Verilog module, one cycle later."""
        m = Module()
        reset = Signal(init=1)
        m.d.sync += reset.eq(0)
        connections = {f"{'i' if member.flow == wiring.In else 'o'}_{port_name(path)}": value
                       for path, member, value in self.signature.flatten(self)}
        m.submodules.accel = Instance(TOPLEVEL, i_clk=ClockSignal("sync"), i_rst=reset, **connections)
        return m
