"""The end of every engine: the sequential argmax and the hand-off of the result stream."""

from __future__ import annotations

from amaranth import Array, Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.streams import control_signature, result_layout
from faultedge.hdl.stream_plan import class_bits


def logits_signature(n_classes: int, logit_bits: int) -> wiring.Signature:
    """The logit registers an engine's last pass writes, held from the argmax's start to its hand-off."""
    return wiring.Signature({"value": Out(signed(logit_bits)).array(n_classes)})


class Argmax(wiring.Component):
    """Picks the class with one comparator, a class per cycle (ties to the lowest index), then hands
    the class and all logits to the result stream, whose registers hold them until `ready`.

    `control.done` is high in the cycle of the hand-off: the engine may start the next inference
    (and a single-buffered engine take the next input) from the next cycle on. The hand-off waits
    while the previous result is still held."""

    def __init__(self, n_classes: int, logit_bits: int) -> None:
        self.n_classes, self.logit_bits = n_classes, logit_bits
        super().__init__({"control": In(control_signature()), "logits": In(logits_signature(n_classes, logit_bits)),
                          "result": Out(stream.Signature(result_layout(n_classes, logit_bits)))})

    def elaborate(self, platform) -> Module:
        m = Module()
        n, res = self.n_classes, self.result
        logits = list(self.logits.value)
        best = Signal(signed(self.logit_bits))
        best_i = Signal(class_bits(n))
        k = Signal(range(n + 1))  # the class compared next
        with m.If(res.valid & res.ready):
            m.d.sync += res.valid.eq(0)
        with m.FSM(name="argmax"):
            with m.State("IDLE"):
                with m.If(self.control.start):
                    m.d.sync += k.eq(0)
                    m.next = "ARGMAX"
            with m.State("ARGMAX"):
                cur = Array(logits)[k]
                m.d.sync += k.eq(k + 1)
                with m.If((k == 0) | (cur > best)):
                    m.d.sync += [best.eq(cur), best_i.eq(k)]
                with m.If(k == n - 1):
                    m.next = "HANDOFF"
            with m.State("HANDOFF"):
                with m.If(~res.valid | res.ready):
                    m.d.sync += [res.valid.eq(1), res.payload.cls.eq(best_i), res.payload.logits.eq(Cat(*logits))]
                    m.d.comb += self.control.done.eq(1)
                    m.next = "IDLE"
        return m
