"""Small helpers every engine's components share, and `Banks`, the banked RAM between a writer and a reader."""

from __future__ import annotations

from typing import Iterable

from amaranth import Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import Out
from amaranth.utils import ceil_log2


def bits(n: int) -> int:
    """Unsigned width that holds 0..n."""
    return max(1, int(n).bit_length())


def log2(n: int) -> int:
    """log2 of a power of two."""
    return n.bit_length() - 1


def pack(words: Iterable[int], width: int) -> int:
    """Pack signed integers into one unsigned word, element 0 in the LSBs (a ROM word of P lanes)."""
    out = 0
    for k, v in enumerate(words):
        out |= (int(v) & ((1 << width) - 1)) << (k * width)
    return out


def value_shape(width: int, is_signed: bool) -> Shape:
    return signed(width) if is_signed else unsigned(width)


def index_shape(n: int) -> Shape:
    """A register that selects one of `n` (at least one bit, like the stage and pass counters)."""
    return Shape.cast(range(max(n, 2)))


def addr_bits(depth: int) -> int:
    """Address width of a `depth`-word memory (as Amaranth's memory ports have it)."""
    return ceil_log2(depth)


def read_signature(shape: Shape, depth: int) -> ReadPort.Signature:
    """A synchronous read port of a `depth`-word memory (Amaranth's own port signature)."""
    return ReadPort.Signature(addr_width=addr_bits(depth), shape=shape)


def write_signature(shape: Shape, depth: int) -> WritePort.Signature:
    return WritePort.Signature(addr_width=addr_bits(depth), shape=shape)


def registered(m: Module, port, name: str) -> Signal:
    """A memory read port's data, registered as it leaves the RAM (a block RAM's output is slow)."""
    reg = Signal.like(port.data, name=name)
    m.d.sync += reg.eq(port.data)
    return reg


def odometer(m: Module, counters: list[tuple[Signal, int]], linear: Iterable[tuple[Signal, list[int]]] = ()) -> Value:
    """Advance nested counters (outermost first) by one; the expression is true on the last step.

    Each (register, coefficients) of `linear` follows sum(coefficient * counter) without a
    multiplier: it adds the stride of the digit that steps (its coefficient minus what the
    wrapping inner digits had added), so memory addresses come straight from registers. On the
    last step everything returns to 0, ready for the next pass."""
    carry = Const(1)
    steps = []  # (digit, it steps while every inner digit wraps)
    for k in reversed(range(len(counters))):
        sig, n = counters[k]
        at_end = sig == n - 1
        with m.If(carry):
            m.d.sync += sig.eq(Mux(at_end, 0, sig + 1))
        steps.append((k, carry & ~at_end))
        carry = carry & at_end
    for reg, coefs in linear:
        stride = 0
        for k, stepping in steps:
            rewind = sum(coefs[j] * (counters[j][1] - 1) for j in range(k + 1, len(counters)))
            stride = Mux(stepping, coefs[k] - rewind, stride)
        m.d.sync += reg.eq(Mux(carry, 0, reg + stride))
    return carry


class Banks(wiring.Component):
    """`count` RAMs of one shape and depth: an activation map whose banks one component writes and
    another reads (an aligned block per write, a window per read), so each bank has a port of each.

    Storage only: the engine owns it, so the writer and the reader stay independent components."""

    def __init__(self, shape: Shape, depth: int, count: int) -> None:
        self.shape, self.depth, self.count = shape, depth, count
        super().__init__({"read": Out(read_signature(shape, depth)).array(count), "write": Out(write_signature(shape, depth)).array(count)})

    def elaborate(self, platform) -> Module:
        m = Module()
        for k in range(self.count):
            mem = Memory(shape=self.shape, depth=self.depth, init=[])
            m.submodules[f"bank{k}"] = mem
            wiring.connect(m, wiring.flipped(self.read[k]), mem.read_port())
            wiring.connect(m, wiring.flipped(self.write[k]), mem.write_port())
        return m
