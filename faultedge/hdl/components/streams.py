"""The accelerator's ports and the signatures its components exchange.

The accelerator has two streams (`amaranth.lib.stream`, valid/ready):

    beats   in    one beat: `beat` two's-complement input values, value k in bits [k*bits, (k+1)*bits)
                  (a sample-in accelerator has `samples` instead: one raw sample per transfer)
    result  out   `cls`, the class, and `logits`, every logit (class 0 in the low bits)

`accelerator_signature` builds them from the figures in the plan (and in hdl/report.json), so the
engines, the board top's instance of the generated Verilog and the UART host cannot disagree;
`stream_ports` names their Verilog ports for the testbench.

Inside an engine the MAC, requantisation and pool stages are a fixed-latency register chain
that is drained between phases, so they exchange a tag and one value per lane with no handshake
(`pipeline_signature`); a sequencer starts a unit and waits for its last cycle (`control_signature`).
"""

from __future__ import annotations

from typing import Any

from amaranth import Shape, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.common import index_shape
from faultedge.hdl.stream_plan import StreamPlan, class_bits


def beats_signature(beat: int, input_bits: int) -> stream.Signature:
    """The input stream: one beat of `beat` values per transfer."""
    return stream.Signature(data.ArrayLayout(signed(input_bits), beat))


def features_signature(n_inputs: int, input_bits: int) -> stream.Signature:
    """Inputs written one at a time at their address (the front end's normalised bins, in any order); `last` on a window's final one."""
    return stream.Signature(data.StructLayout({"addr": range(n_inputs), "value": signed(input_bits), "last": 1}))


def result_layout(n_classes: int, logit_bits: int) -> data.StructLayout:
    """The result's payload: the class in the low bits, then the logits, class 0 first."""
    return data.StructLayout({"cls": class_bits(n_classes), "logits": data.ArrayLayout(signed(logit_bits), n_classes)})


def accelerator_signature(*, beat: int, input_bits: int, n_classes: int, logit_bits: int) -> wiring.Signature:
    """The ports of every accelerator (an engine, or its generated Verilog as a board top's instance)."""
    return wiring.Signature({"beats": In(beats_signature(beat, input_bits)),
                             "result": Out(stream.Signature(result_layout(n_classes, logit_bits)))})


def samples_signature(sample_bits: int) -> stream.Signature:
    """A sample-in accelerator's input: one two's-complement raw sample per transfer."""
    return stream.Signature(signed(sample_bits))


def sample_accelerator_signature(*, sample_bits: int, n_classes: int, logit_bits: int) -> wiring.Signature:
    """The ports of a sample-in accelerator (front end + engine): raw samples in, one result per hop out."""
    return wiring.Signature({"samples": In(samples_signature(sample_bits)),
                             "result": Out(stream.Signature(result_layout(n_classes, logit_bits)))})


def port_name(path: tuple) -> str:
    """The Verilog port of a flattened signature member: Amaranth joins its path with "__"."""
    return "__".join(map(str, path))


def signature_ports(signature: wiring.Signature) -> dict[str, dict[str, Any]]:
    """The Verilog ports of a component with this signature: name -> direction ("in"/"out") and width."""
    return {port_name(path): {"direction": "in" if member.flow == In else "out", "width": Shape.cast(member.shape).width}
            for path, member in signature.members.flatten() if member.is_port}


def stream_ports(signature: wiring.Signature) -> dict[str, dict[str, Any]]:
    """The Verilog ports of an accelerator's streams, read from its signature.

    {"input": {"valid", "ready", "payload"}, "output": {"valid", "ready", "payload", "fields"}}:
    port names, and for the output where each payload field lies ({name: [offset, width]})."""
    out: dict[str, dict[str, Any]] = {}
    for name, member in signature.members.items():
        if not (member.is_signature and isinstance(member.signature, stream.Signature)):
            continue
        ports: dict[str, Any] = {field: port_name((name, field)) for field in ("valid", "ready", "payload")}
        layout = member.signature.members["payload"].shape
        if isinstance(layout, data.StructLayout):
            ports["fields"] = {field: [f.offset, f.width] for field, f in layout}
        out["input" if member.flow == In else "output"] = ports
    return out


def pipeline_signature(tag: data.Layout, shape: Shape, lanes: int) -> wiring.Signature:
    """One step of a fixed-latency pipeline: the tag of the item and its value in every lane."""
    return wiring.Signature({"tag": Out(tag), "value": Out(shape).array(lanes)})


def select_signature(n: int) -> wiring.Signature:
    """Which of `n` stages (or passes) the datapath follows: constant while a stage issues and drains."""
    return wiring.Signature({"index": Out(index_shape(n))})


def control_signature() -> wiring.Signature:
    """A sequencer starts a unit with a one-cycle `start` and waits for `done`, high in the unit's last cycle."""
    return wiring.Signature({"start": Out(1), "done": In(1)})


def buffer_signature() -> wiring.Signature:
    """An input buffer (the loader's side): `filled` while a whole input waits; `release` (one cycle) hands it back."""
    return wiring.Signature({"filled": Out(1), "release": In(1)})


class StreamAccelerator(wiring.Component):
    """What every engine shares: its plan, the stream ports built from the plan's figures, and the
    figures themselves (the board top, the UART host and the host protocol read them)."""

    def __init__(self, plan: StreamPlan, signature: wiring.Signature | None = None) -> None:
        """`signature`: other ports than the engine's own (a sample-in accelerator's)."""
        self.plan = plan
        super().__init__(signature or accelerator_signature(beat=plan.beat, input_bits=plan.input_bits, n_classes=plan.n_classes,
                                                             logit_bits=plan.logit_bits))

    input_bits = property(lambda self: self.plan.input_bits)
    logit_bits = property(lambda self: self.plan.logit_bits)
    n_inputs = property(lambda self: self.plan.n_inputs)
    n_classes = property(lambda self: self.plan.n_classes)
    lanes = property(lambda self: self.plan.lanes)
    beat = property(lambda self: self.plan.beat)
