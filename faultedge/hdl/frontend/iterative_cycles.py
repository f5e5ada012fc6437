"""The schedule of the iterative FFT (faultedge.hdl.frontend.iterative) and its cycle formula, without Amaranth.

All arithmetic runs on one multiply-accumulate unit: every value the front end computes is a sum of
products x * y floored by a power of two, where x is a stored value and y a twiddle component or the
unit 2**(twiddle_bits-2) (so a plain sum a + b is a*unit + b*unit). A butterfly and a spectrum bin are
each a fixed micro-program of such products (`BUTTERFLY`, `SPLIT`); `compile_program` turns one into
what every cycle of the job does, with the datapath's latency (stage offsets from the cycle that issues a product):

    + 0  the memory word of the product's x and the twiddle ROM word of its y are addressed
    + 1  the memory and the ROM see the (registered) addresses
    + 2  x and y into the multiplier's input registers
    + 3  product register
    + 4  accumulate (the first product of a sum replaces the accumulator)
    + 5  the sum, shifted and wrapped, goes to its destination: a register, the output slot or the memory
         (whose registered port writes it in the next cycle, like every access)

Jobs do not overlap, so a job lasts len(program) + RESULT cycles and the memory's single port never
sees a read and a write in the same cycle (checked here).
"""

from __future__ import annotations

from dataclasses import dataclass

CAPTURE, ACCUMULATE, RESULT = 2, 4, 5  # cycles from issuing a product to its operands, its accumulation, its sum
MEMORY_WORDS = ("a.re", "a.im", "b.re", "b.im")  # the real and imaginary words of the job's two values
REGISTERS = ("d.re", "d.im")  # the butterfly's difference, the multiplicand of its twiddle product


@dataclass(frozen=True)
class Mac:
    """acc (+|-)= x * y; a product with a `result` ends its sum, which goes there shifted right by
    twiddle_bits - 2 + `shift` ("stage": the stage's shift) and wrapped to the stage's or the spectrum's width."""

    x: str  # one of MEMORY_WORDS or REGISTERS
    y: str  # "unit" (2**(twiddle_bits-2)), "tw.re" or "tw.im" (the job's twiddle)
    negate: bool = False
    result: str | None = None  # one of MEMORY_WORDS, REGISTERS, or "out.re" / "out.im" (the bin in the output slot)
    shift: int | str = 0


def _sum(terms: list[tuple[str, str, bool]], result: str, shift: int | str) -> tuple[Mac, ...]:
    """A sum of products (x, y, negate); the last one carries where the sum goes."""
    *head, last = terms
    return (*(Mac(x, y, neg) for x, y, neg in head), Mac(*last, result=result, shift=shift))


# Radix-2 DIF butterfly on a (a.re, a.im) and b: d = (a - b) >> shift, a' = (a + b) >> shift, b' = d * twiddle
BUTTERFLY = (
    *_sum([("a.re", "unit", False), ("b.re", "unit", True)], "d.re", "stage"),
    *_sum([("a.im", "unit", False), ("b.im", "unit", True)], "d.im", "stage"),
    *_sum([("a.re", "unit", False), ("b.re", "unit", False)], "a.re", "stage"),
    *_sum([("a.im", "unit", False), ("b.im", "unit", False)], "a.im", "stage"),
    *_sum([("d.re", "tw.re", False), ("d.im", "tw.im", True)], "b.re", 0),
    *_sum([("d.im", "tw.re", False), ("d.re", "tw.im", False)], "b.im", 0),
)
# Bin k of the split from a = Z[k] = p + iq, b = Z[M-k] = u + iv and the twiddle V_k:
# X = (A + B * V) >> 1 with A = Z[k] + conj(Z[M-k]), B = Z[k] - conj(Z[M-k]), as one sum per part
# (the floor of B * V by twiddle_bits - 2 folds into the final shift because A is an integer).
SPLIT = (
    *_sum([("a.re", "unit", False), ("b.re", "unit", False), ("a.re", "tw.re", False), ("b.re", "tw.re", True),
           ("a.im", "tw.im", True), ("b.im", "tw.im", True)], "out.re", 1),
    *_sum([("a.im", "unit", False), ("b.im", "unit", True), ("a.im", "tw.re", False), ("b.im", "tw.re", False),
           ("a.re", "tw.im", False), ("b.re", "tw.im", True)], "out.im", 1),
)


@dataclass(frozen=True)
class Cycle:
    """What one cycle of a job does, each pipeline stage driven by the product that occupies it."""

    read: str | None  # memory word read for the product issued now
    rom: str | None  # y of the product issued now (the twiddle ROM's address)
    operand: str | None  # x source of the product entering the multiplier: "mem" or one of REGISTERS
    operand_y: str | None  # its y (a twiddle component may be zero)
    accumulate: Mac | None  # the product entering the accumulator
    first: bool  # ... replaces the accumulator (it starts a sum)
    result: Mac | None  # the product whose sum leaves the accumulator now


def compile_program(program: tuple[Mac, ...]) -> list[Cycle]:
    """The job's cycles; refuses a program whose memory read meets a write or that reads a register early."""

    def at(c: int) -> Mac | None:
        return program[c] if 0 <= c < len(program) else None

    cycles = []
    for c in range(len(program) + RESULT):
        issue, operand, acc, done = at(c), at(c - CAPTURE), at(c - ACCUMULATE), at(c - RESULT)
        cycles.append(Cycle(read=issue.x if issue and issue.x in MEMORY_WORDS else None, rom=issue.y if issue else None,
                            operand=("mem" if operand.x in MEMORY_WORDS else operand.x) if operand else None,
                            operand_y=operand.y if operand else None, accumulate=acc,
                            first=acc is not None and (c == ACCUMULATE or at(c - ACCUMULATE - 1).result is not None),
                            result=done if done and done.result else None))
    for c, cy in enumerate(cycles):
        if cy.read and cy.result and cy.result.result in MEMORY_WORDS:
            raise ValueError(f"cycle {c}: the memory's one port would read and write")
        if cy.operand in REGISTERS and not any(o.result == cy.operand for o in program[:max(0, c - RESULT)]):
            raise ValueError(f"cycle {c}: register {cy.operand} is read before its sum is written")
    return cycles


def job_cycles(program: tuple[Mac, ...]) -> int:
    """A job issues one product per cycle, then drains until its last sum is stored."""
    return len(program) + RESULT


@dataclass(frozen=True)
class WindowCycles:
    """Cycles of one window with a source that always has a pair and a sink that always takes a bin."""

    load: int  # the M pairs in (two memory writes each)
    fft: int  # log2(M) stages of M/2 butterflies
    split: int  # M bins, each job then its transfer
    period: int  # from one window's first pair to the next window's first pair, back to back
    latency: int  # from the window's last pair to its last bin


def window_cycles(points: int) -> WindowCycles:
    """The cycle formula for an M-point window (`points` = M = window / 2)."""
    stages = points.bit_length() - 1
    load = 2 * points
    fft = stages * (points // 2) * job_cycles(BUTTERFLY)
    split = points * (job_cycles(SPLIT) + 1)  # + 1: the bin's transfer before the next job
    return WindowCycles(load, fft, split, period=load + fft + split, latency=fft + split)
