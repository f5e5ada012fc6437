"""The iterative in-memory FFT: the front end's FFT and split for the smallest devices (iCE40 UP5K).

The whole spectrum of a window is computed in place in one single-port memory by one
multiply-accumulate unit (one multiplier, one accumulator), so its logic does not grow with the
window; a 2,048-sample window takes 107,520 cycles (iterative_cycles.window_cycles), 4.2 ms at the
UP5K build's 25.5 MHz, against a window every 21.3 ms for a 12 kHz sensor at hop 256.

- Memory: 2M words of the FFT's widest value (re of value n at 2n, im at 2n + 1), in iCE40 SPRAM
  (SB_SPRAM256KA, 16 bits x 16K each; two for the default 17-bit values) or block RAM. One part per
  word means every product reads exactly the word it needs and every sum is written as it leaves
  the accumulator, with no register to assemble complex words.
- Arithmetic: every butterfly and every bin is a fixed micro-program of products x * y, x a stored
  value (or the butterfly's difference d) and y a twiddle component or the unit 2**(twiddle_bits-2)
  (iterative_cycles.BUTTERFLY, SPLIT). A sum of products, floored by a power of two and wrapped, is
  exactly what faultedge.ir.frontend computes: (a + b) >> s is (a*unit + b*unit) >> (bits - 2 + s),
  the stage twiddles 1 and -i of the last two stages are ordinary twiddles that multiply exactly,
  and the split's floor of B * V by bits - 2 folds into its final shift because A is an integer.
- Twiddles: a ROM of N/4 cosines C[j] (unsigned). Every twiddle of the FFT and of the split is W_N^k
  = (-i)^r (C[k'] - i S[k']) with k = r N/4 + k' and S[k'] = C[N/4 - k'] (0 for k' = 0): the rotation
  only picks C or S and a sign, which the accumulator applies, so y is always a ROM word.
- Order: load the M pairs (two writes each), log2(M) stages of M/2 butterflies, then bins k = 1 .. M,
  one job each, reading Z[k] and Z[M-k] at their bit-reversed addresses. A new window is accepted
  only once the last bin has been taken.
- Timing: the memory's port and the ROM's address are registers, and so are the controls of the later
  pipeline stages (loaded a cycle ahead), so address arithmetic and the decoding of the job's step
  never meet the accumulator's carry chain in one cycle.

On the UP5K (2,048 samples): about 600 logic cells, one SB_MAC16 (the 17 x 15-bit product, with a
LUT adder for x's top bit), two SB_RAM40_4K (the ROM), two SPRAM, Fmax 41 MHz alone; the figures and
their history are in docs/results/frontend_iterative.md.
"""

from __future__ import annotations

import enum

import numpy as np
from amaranth import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.errors import IRError
from faultedge.hdl.components.common import log2
from faultedge.hdl.frontend.iterative_cycles import BUTTERFLY, MEMORY_WORDS, SPLIT, Cycle, compile_program
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.spram import MEMORIES, SPRAM_DEPTH, single_port
from faultedge.hdl.frontend.streams import bins_signature, pairs_signature
from faultedge.ir.frontend import FrontEnd, twiddles

# W_N^(r N/4 + k') = (-i)^r (C - iS): per r, (real part from S?, negated?), (imaginary part from S?, negated?)
ROTATIONS = (((False, False), (True, True)), ((True, True), (False, True)), ((False, True), (True, False)), ((True, False), (False, False)))
KINDS = {None: 0, "unit": 0, "tw.re": 1, "tw.im": 2}


class Phase(enum.Enum):
    LOAD = 0
    FFT = 1
    SPLIT = 2


def rotated(cosines: np.ndarray, k: int) -> tuple[int, int]:
    """W_N^k from the quarter-wave cosine table (N = 4 len(cosines)), as the hardware derives it."""
    q = len(cosines)
    r, kq = divmod(k, q)
    parts = []
    for from_sin, negate in ROTATIONS[r]:
        v = (int(cosines[q - kq]) if kq else 0) if from_sin else int(cosines[kq])
        parts.append(-v if negate else v)
    return parts[0], parts[1]


def quarter_cosines(fe: FrontEnd) -> np.ndarray:
    """The twiddle ROM: C[j] = round(2**(bits-2) cos(2 pi j / N)), j < N/4, checked to give every twiddle
    the golden model uses (each FFT stage's table and the split's V_k) bit for bit."""
    n, m, bits = fe.window, fe.points, fe.twiddle_bits
    cosines = twiddles(n, n // 4, bits)[:, 0]
    want = [(k * (m // h), tw) for s in range(fe.stages) for h in [m >> (s + 1)] for k, tw in enumerate(twiddles(2 * h, h, bits))]
    want += [(k + n // 4, tw) for k, tw in enumerate(twiddles(n, m + 1, bits, quarter=True)) if k]
    bad = [k for k, tw in want if rotated(cosines, k) != tuple(int(v) for v in tw)]
    if bad:
        raise IRError(f"frontend: twiddle W_{n}^{bad[0]} at {bits} bits does not follow from the quarter-wave table")
    return cosines


def check_memory(fe: FrontEnd, memory: str) -> None:
    """Refuse a memory kind that does not exist or cannot hold the window's 2M words."""
    if memory not in MEMORIES:
        raise ValueError(f"memory: {memory!r} is not one of {', '.join(MEMORIES)}")
    if memory == "spram" and 2 * fe.points > SPRAM_DEPTH:
        raise IRError(f"frontend.window: {fe.window} samples need {2 * fe.points} words, more than one SPRAM's {SPRAM_DEPTH}")


class _Controls:
    """What a job's cycle table drives. The port's controls are combinational (the port registers them); the
    later stages' controls are registers loaded a cycle ahead from the next row, so no decoding of the step
    counter lies in front of the accumulator or the result."""

    def __init__(self) -> None:
        self.sel_b, self.part, self.access, self.we = Signal(), Signal(), Signal(), Signal()  # the memory access issued now
        self.rom_kind = Signal(2)  # y of the product issued now: unit, tw.re or tw.im
        self.from_register, self.register_im, self.zero = Signal(), Signal(), Signal()  # the multiplier's x, and y forced to 0
        self.first, self.minus, self.extra = Signal(), Signal(), Signal()  # the accumulator's step, the result's shift


class IterativeFFT(wiring.Component):
    """pairs (z[n], n = 0 .. M-1) in, bins (X[k], k = 1 .. M) out: frontend.split(fe, *frontend.fft_points(...)) bit for bit."""

    def __init__(self, fe: FrontEnd, memory: str = "spram") -> None:
        check_memory(fe, memory)
        self.fe, self.memory = fe, memory
        self.cosines = quarter_cosines(fe)
        self.butterfly, self.split = compile_program(BUTTERFLY), compile_program(SPLIT)
        super().__init__({"pairs": In(pairs_signature(fe)), "bins": Out(bins_signature(fe))})

    @property
    def value_bits(self) -> int:
        """A memory word: the widest value of any stage."""
        return max(self.fe.widths)

    def elaborate(self, platform) -> Module:
        m = Module()
        fe = self.fe
        points, lg = fe.points, log2(fe.points)
        drop, width, sbits = fe.twiddle_bits - 2, self.value_bits, fe.spectrum_bits
        ctl = _Controls()

        phase = Signal(Phase)
        t = Signal(range(max(len(self.butterfly), len(self.split))))  # the job's cycle
        idx = Signal(lg + 1)  # the pair n, the stage's butterfly j, the bin k
        stage = Signal(range(fe.stages))
        k = Signal(lg)  # the butterfly's twiddle is W_N^k
        half = Signal()  # the pair's imaginary part is written now
        j = idx[:lg]
        split = phase == Phase.SPLIT

        def per_stage(values: list[int], w: int) -> Value:
            """A constant per FFT stage, selected by the stage counter."""
            return Array(Const(v, w) for v in values)[stage]

        # the memory's port, registered; the butterfly's a and a + h, the bin's Z[k] and Z[M-k] (bit-reversed)
        h = [points >> (s + 1) for s in range(fe.stages)]
        a_fft = (j & per_stage([v - 1 for v in h], lg)) | ((j << 1)[:lg] & per_stage([-2 * v % points for v in h], lg))
        a = Mux(split, Cat(*reversed(list(j))), a_fft)
        b = Mux(split, Cat(*reversed(list((-idx)[:lg]))), a_fft | per_stage(h, lg))
        addr, wdata = Signal(lg + 1), Signal(width)
        port_addr, port_wdata, port_we, port_access = Signal(lg + 1), Signal(width), Signal(), Signal()
        m.d.sync += [port_addr.eq(addr), port_wdata.eq(wdata), port_we.eq(ctl.we), port_access.eq(ctl.access)]
        rdata = self._memory(m, port_addr, port_wdata, port_we, port_access)

        # the twiddle W_N^pos, pos = r N/4 + kq: a ROM word C[kq] or S[kq] = C[N/4 - kq] (registered address), and a sign
        pos = Mux(split, idx + points // 2, k)
        r, kq = pos[lg - 1:lg + 1], pos[:lg - 1]
        rot = Array(Const(sum(int(f) << i for i, f in enumerate(f for part in rotation for f in part)), 4) for rotation in ROTATIONS)[r]
        from_sin = Array([Const(0), rot[0], rot[2], Const(0)])  # by kind: unit, tw.re, tw.im
        negated = Array([Const(0), rot[1], rot[3], Const(0)])
        m.submodules.twiddles = rom = Memory(shape=unsigned(drop + 1), depth=points // 2, init=[int(c) for c in self.cosines])
        rom_read = rom.read_port()
        rom_addr = Signal(lg - 1)
        m.d.sync += rom_addr.eq(Mux(ctl.rom_kind == 0, 0, Mux(from_sin[ctl.rom_kind], -kq, kq)))
        m.d.comb += rom_read.addr.eq(rom_addr)

        # the multiply-accumulate unit; `total` is the sum shifted right by twiddle_bits - 2 + extra, `value` that
        # wrapped to the stage's width. d.re, d.im hold the butterfly's difference, and in the split the bin
        # waiting in the output slot until it is taken (so they are as wide as the spectrum)
        d_re, d_im = Signal(signed(sbits)), Signal(signed(sbits))
        regs = {"d.re": d_re, "d.im": d_im, "out.re": d_re, "out.im": d_im}
        x, y = Signal(signed(width)), Signal(unsigned(drop + 1))
        product, acc = Signal(signed(width + drop + 2)), Signal(signed(drop + 1 + sbits))
        m.d.sync += [
            x.eq(Mux(ctl.from_register, Mux(ctl.register_im, d_im, d_re)[:width], rdata)),
            y.eq(Mux(ctl.zero, 0, rom_read.data)),
            product.eq(x * y),
            acc.eq(Mux(ctl.first, 0, acc) + Mux(ctl.minus, ~product, product) + ctl.minus),  # -p = ~p + 1: one adder
        ]
        total, value = Signal(signed(sbits)), Signal(signed(width))
        m.d.comb += [total.eq(Mux(ctl.extra, acc[drop + 1:drop + 1 + sbits], acc[drop:drop + sbits])),
                     value.eq(Array(total[:w].as_signed() for w in fe.widths[1:])[stage])]

        out_valid = Signal()
        m.d.comb += [self.bins.valid.eq(out_valid), self.bins.payload.bin.eq(idx), self.bins.payload.re.eq(d_re),
                     self.bins.payload.im.eq(d_im), self.bins.payload.last.eq(idx == points),
                     addr.eq(Cat(ctl.part, Mux(ctl.sel_b, b, a))), wdata.eq(value)]
        stage_shift = per_stage(fe.shifts, 1)

        def run(cycles: list[Cycle]) -> None:
            with m.Switch(t):
                for c, cy in enumerate(cycles):
                    with m.Case(c):
                        word = cy.read or (cy.result.result if cy.result and cy.result.result in MEMORY_WORDS else None)
                        if word:
                            m.d.comb += [ctl.access.eq(1), ctl.we.eq(cy.read is None), ctl.sel_b.eq(word[0] == "b"), ctl.part.eq(word.endswith("im"))]
                        m.d.comb += ctl.rom_kind.eq(KINDS[cy.rom])
                        if cy.result and cy.result.result in regs:
                            target = cy.result.result
                            m.d.sync += regs[target].eq(total if target.startswith("out") else value)
                            if target == "out.im":
                                m.d.sync += out_valid.eq(1)
                        nxt = cycles[c + 1] if c + 1 < len(cycles) else None  # the stages' controls, a cycle ahead
                        if nxt and nxt.operand:
                            m.d.sync += [ctl.from_register.eq(nxt.operand != "mem"), ctl.register_im.eq(nxt.operand == "d.im"),
                                         ctl.zero.eq(from_sin[KINDS[nxt.operand_y]] & (kq == 0))]
                        if nxt and nxt.accumulate:
                            m.d.sync += [ctl.first.eq(nxt.first), ctl.minus.eq(nxt.accumulate.negate ^ negated[KINDS[nxt.accumulate.y]])]
                        if nxt and nxt.result:
                            m.d.sync += ctl.extra.eq(stage_shift if nxt.result.shift == "stage" else nxt.result.shift)

        with m.Switch(phase):
            with m.Case(Phase.LOAD):
                pairs = self.pairs
                m.d.comb += [pairs.ready.eq(half), ctl.access.eq(pairs.valid), ctl.we.eq(pairs.valid), addr.eq(Cat(half, j)),
                             wdata.eq(Mux(half, pairs.payload.im, pairs.payload.re))]
                m.d.sync += half.eq(pairs.valid & ~half)  # a pair withdrawn before its transfer is written again
                with m.If(pairs.valid & half):
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(j == points - 1):
                        m.d.sync += [phase.eq(Phase.FFT), idx.eq(0), stage.eq(0), k.eq(0)]
            with m.Case(Phase.FFT):
                run(self.butterfly)
                m.d.sync += t.eq(t + 1)
                with m.If(t == len(self.butterfly) - 1):
                    m.d.sync += [t.eq(0), idx.eq(idx + 1), k.eq(k + per_stage([(2 << s) % points for s in range(fe.stages)], lg))]
                    with m.If(j == points // 2 - 1):
                        m.d.sync += [idx.eq(0), k.eq(0), stage.eq(stage + 1)]
                        with m.If(stage == fe.stages - 1):
                            m.d.sync += [phase.eq(Phase.SPLIT), idx.eq(1)]
            with m.Case(Phase.SPLIT):
                run(self.split)
                with m.If(~((t == 0) & out_valid)):  # a job starts once the previous bin is taken
                    m.d.sync += t.eq(Mux(t == len(self.split) - 1, 0, t + 1))
                with m.If(out_valid & self.bins.ready):
                    m.d.sync += [out_valid.eq(0), idx.eq(idx + 1)]
                    with m.If(idx == points):
                        m.d.sync += [phase.eq(Phase.LOAD), idx.eq(0)]
        return m

    def _memory(self, m: Module, addr: Signal, wdata: Signal, we: Signal, access: Signal) -> Value:
        """The single-port value memory on the registered port; its read data (signed) the cycle after the port reads."""
        return single_port(m, "spram" if self.memory == "spram" else "values", addr, wdata, we, access, self.memory).as_signed()


def chain_fft(fp: FrontEndPlan) -> IterativeFFT:
    """The iterative front end's FFT (faultedge.hdl.frontend.chain): the plan's front end in the plan's memory."""
    return IterativeFFT(fp.fe, fp.memory)
