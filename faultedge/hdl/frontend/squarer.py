"""The squarer: the fft+envelope front end's second FFT frame, p = ((s << g)**2) >> (sample_bits - 1).

The window buffer sends each window twice (faultedge.hdl.frontend.window): the first burst goes
to the FFT unchanged, and the squarer takes the window's peak |s| from it; the second burst
(`second`) is the same pairs, which leave squared with the window's gain g =
min(GAIN_MAX, sample_bits - 1 - bit_length(peak)) (faultedge.ir.frontend.window_gain). The gain
also goes out on `gains`, once per window, for the normalisation's alignment of the envelope block.
A burst that the window buffer gave up (`void`) does not count towards the peak: its window comes
again from its first pair, which starts a new peak.

    S1  the pair registered; whether it is the first of its burst
    S2  the peak takes S1's |re|, |im| (first burst); the second burst's values shifted by g, which
        the peak gives once the first burst's last pair has left S1; the gain put on `gains`
    S3  the squares (one multiplier per part), and the values unchanged beside them
    S4  the first burst's values or the squares >> (sample_bits - 1)          -> pairs (to the FFT)

Every stage moves when both outputs can move. Behind the iterative ring (FrontEndPlan.iterative), which
gives a pair every other cycle and whose FFT takes one every other cycle, one multiplier squares both
parts: a second-burst pair waits a cycle in S2 while its re² is computed (`hold`), and S3 takes its
im² from the same multiplier. That is one SB_MAC16 fewer on the UP5K; the FFT still gets a pair
every other cycle, so the cycle model does not change.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.streams import gains_signature, pairs_signature, window_pairs_layout
from faultedge.ir.frontend import GAIN_MAX


class Squarer(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"window_pairs": In(stream.Signature(window_pairs_layout(fp.fe))), "pairs": Out(pairs_signature(fp.fe)),
                          "gains": Out(gains_signature())})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        sb, w = fp.sample_bits, fp.fe.widths[0]
        inp, out, gains = self.window_pairs, self.pairs, self.gains

        advance, hold = Signal(), Signal()
        m.d.comb += [advance.eq((~out.valid | out.ready) & (~gains.valid | gains.ready) & ~hold), inp.ready.eq(advance)]
        with m.If(gains.ready):
            m.d.sync += gains.valid.eq(0)

        layout = window_pairs_layout(fp.fe)
        at_start = Signal(init=1)  # the next pair in is the first of its burst
        v1, first1, p1 = Signal(), Signal(), Signal(layout)
        v2, p2 = Signal(), Signal(layout)
        v3, second3, last3, void3 = Signal(), Signal(), Signal(), Signal()
        raw_re, raw_im = Signal(signed(w)), Signal(signed(w))
        sq_re, sq_im = Signal(unsigned(2 * w)), Signal(unsigned(2 * w))
        peak = Signal(unsigned(sb))

        gain = Signal(range(GAIN_MAX + 1))  # from the peak: the smallest k with peak >= 2**(sb - 2 - k), else GAIN_MAX
        g = GAIN_MAX
        for k in reversed(range(GAIN_MAX)):
            g = Mux(peak >= (1 << (sb - 2 - k)), k, g)
        m.d.comb += gain.eq(g)

        if fp.iterative:  # one multiplier: S2's re² in the cycle it holds, its im² as S3 takes it
            held = Signal()
            early = Signal(unsigned(2 * w))
            operand = Mux(held, p2.im, p2.re)
            product = operand * operand
            m.d.comb += hold.eq(v2 & p2.second & ~held)
            with m.If(hold):
                m.d.sync += [early.eq(product), held.eq(1)]
            with m.If(advance):
                m.d.sync += held.eq(0)
            squares = (early, product)
        else:
            squares = (p2.re * p2.re, p2.im * p2.im)

        with m.If(advance):
            m.d.sync += [v1.eq(inp.valid), p1.eq(inp.payload), first1.eq(at_start)]
            with m.If(inp.valid):
                m.d.sync += at_start.eq(inp.payload.last)
            # S2
            magnitude = [Mux(p1.re < 0, -p1.re, p1.re), Mux(p1.im < 0, -p1.im, p1.im)]
            with m.If(v1 & ~p1.second & ~p1.void):
                base = Mux(first1, 0, peak)
                top = Mux(magnitude[0] > base, magnitude[0], base)
                m.d.sync += peak.eq(Mux(magnitude[1] > top, magnitude[1], top))
            m.d.sync += [v2.eq(v1), p2.eq(p1)]
            with m.If(p1.second):
                m.d.sync += [p2.re.eq(p1.re << gain), p2.im.eq(p1.im << gain)]
            with m.If(v1 & p1.second & first1):
                m.d.sync += [gains.valid.eq(1), gains.payload.eq(gain)]
            # S3
            m.d.sync += [v3.eq(v2), second3.eq(p2.second), last3.eq(p2.last), void3.eq(p2.void), raw_re.eq(p2.re), raw_im.eq(p2.im),
                         sq_re.eq(squares[0]), sq_im.eq(squares[1])]
            # S4
            m.d.sync += [out.valid.eq(v3), out.payload.last.eq(last3), out.payload.void.eq(void3),
                         out.payload.re.eq(Mux(second3, sq_re >> (sb - 1), raw_re)),
                         out.payload.im.eq(Mux(second3, sq_im >> (sb - 1), raw_im))]
        return m
