"""Requantisation: an arithmetic shift rounded half to even like `golden.round_shift` (a negative
shift is an exact left shift), and saturation; the per-lane `Requantiser` both engines use."""

from __future__ import annotations

from amaranth import Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.streams import pipeline_signature, select_signature


def clamp(value, lo, hi) -> Value:
    """min(max(value, lo), hi) for signals or constant bounds."""
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


def round_shift(m: Module, value, shift: int, width: int, name: str) -> Signal:
    """value / 2**shift rounded half to even, for a constant shift (a negative one shifts left exactly)."""
    out = Signal(signed(width), name=name)
    if shift <= 0:
        m.d.comb += out.eq(value << -shift)
        return out
    q = value >> shift
    rem = value.as_unsigned()[:shift]
    half = 1 << (shift - 1)
    m.d.comb += out.eq(q + ((rem > half) | ((rem == half) & q[0])))
    return out


class ShiftRound:
    """A shift chosen at run time (per stage or pass), rounded like `round_shift`, and an optional
    clamp: the settings (`select`, inside the caller's Case) and the arithmetic (`shift`, `clamp`)."""

    def __init__(self, max_right: int, max_left: int, clamp_width: int = 0) -> None:
        self.right = Signal(range(max_right + 1))
        self.left = Signal(range(max_left + 1))
        self.mask = Signal(max(max_right, 1))
        self.half = Signal(max(max_right, 1) + 1)
        self.lo, self.hi = Signal(signed(max(clamp_width, 1))), Signal(signed(max(clamp_width, 1)))
        self.max_left = max_left

    def select(self, m: Module, shift: int, bounds: tuple[int, int] | None = None) -> None:
        if bounds is not None:
            m.d.comb += [self.lo.eq(bounds[0]), self.hi.eq(bounds[1])]
        if shift > 0:
            m.d.comb += [self.right.eq(shift), self.mask.eq((1 << shift) - 1), self.half.eq(1 << (shift - 1))]
        else:  # exact (left) shift: no rounding (remainder 0 is never above 1)
            m.d.comb += [self.left.eq(-shift), self.half.eq(1)]

    def shift(self, value) -> tuple[Value, Value]:
        """(value shifted, the round-up bit): their sum is the rounded quotient."""
        shifted = value >> self.right
        rem = value.as_unsigned() & self.mask
        return (shifted << self.left if self.max_left else shifted), (rem > self.half) | ((rem == self.half) & shifted[0])

    def clamp(self, value) -> Value:
        return clamp(value, self.lo, self.hi)


class Requantiser(wiring.Component):
    """Per lane: shift with round-half-to-even, then clamp (ReLU is a lower bound of 0), with the
    settings of the stage or pass that `select` names.

    Three register stages (shift and round decision, + round bit, clamp) so that no carry chain
    follows another; the tag travels alongside. A setting of None passes values through (the
    logits), clamped to the input width. Output width `width`: the input's, plus the largest left
    shift, plus one for the round-up carry."""

    def __init__(self, tag: data.Layout, width_in: int, lanes: int, settings: list[tuple[int, tuple[int, int]] | None]) -> None:
        self.tag, self.width_in, self.lanes, self.settings = tag, width_in, lanes, settings
        shifts = [s[0] for s in settings if s is not None]
        self.max_left = max([max(-s, 0) for s in shifts] + [0])
        self.max_right = max([max(s, 0) for s in shifts] + [0])
        self.width = width_in + self.max_left + 1
        super().__init__({"select": In(select_signature(len(settings))), "inp": In(pipeline_signature(tag, signed(width_in), lanes)),
                          "out": Out(pipeline_signature(tag, signed(self.width), lanes))})

    def elaborate(self, platform) -> Module:
        m = Module()
        w = self.width - 1  # after a left shift
        rq = ShiftRound(self.max_right, self.max_left, w + 1)
        full = (-(1 << (self.width_in - 1)), (1 << (self.width_in - 1)) - 1)
        with m.Switch(self.select.index):
            for i, setting in enumerate(self.settings):
                with m.Case(i):
                    rq.select(m, *(setting or (0, full)))
        tags = [Signal(self.tag, name=f"tag{k}") for k in (1, 2)]
        m.d.sync += [tags[0].eq(self.inp.tag), tags[1].eq(tags[0]), self.out.tag.eq(tags[1])]
        for k in range(self.lanes):
            q1, up, q2 = Signal(signed(w), name=f"q{k}"), Signal(name=f"up{k}"), Signal(signed(w + 1), name=f"r{k}")
            shifted, round_up = rq.shift(self.inp.value[k])
            m.d.sync += [q1.eq(shifted), up.eq(round_up), q2.eq(q1 + up), self.out.value[k].eq(rq.clamp(q2))]
        return m
