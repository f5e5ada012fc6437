"""Magnitude: floor(sqrt(re**2 + im**2)) of each spectrum bin, exactly, one bin per cycle.

    Q1    re, im registered (the multipliers' own input registers: the placer keeps them at the DSPs)
    Q2    re * re, im * im
    Q3    the squares registered again (a 19 x 19 product spans MULT18X18D blocks and a carry chain;
          the second register lets the placer keep the first at the DSPs)
    Q4    their sum s (2 * spectrum_bits unsigned bits)
    R1..  the square root digit by digit, one result bit per register stage (most significant first):
          remainder r = 4 r + next two bits of s; if r >= 4 root + 1: r -= 4 root + 1, root = 2 root + 1,
          else root = 2 root. The last stage's registers are the output stream's payload.

Every stage moves when the output can move (back-pressure holds the whole pipeline), so a bin
leaves `magnitude_depth` cycles after it was taken when nothing stalls.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.frontend.plan import SQRT_EXTRA, FrontEndPlan
from faultedge.hdl.frontend.streams import bins_signature


def magnitudes_signature(fp: FrontEndPlan) -> stream.Signature:
    """One bin's magnitude: the bin k (1 .. M), floor(|X[k]|), `last` on the window's final bin."""
    return stream.Signature(data.StructLayout({"bin": unsigned(fp.points.bit_length()), "mag": unsigned(fp.magnitude_bits), "last": unsigned(1)}))


class Magnitude(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"bins": In(bins_signature(fp.fe)), "mags": Out(magnitudes_signature(fp))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        ws, n = fp.fe.spectrum_bits, fp.sqrt_stages
        inp, out = self.bins, self.mags
        adv = Signal()
        m.d.comb += [adv.eq(~out.valid | out.ready), inp.ready.eq(adv)]
        tag = data.StructLayout({"valid": 1, "bin": fp.points.bit_length(), "last": 1})
        re, im = Signal.like(inp.payload.re), Signal.like(inp.payload.im)
        sq = [Signal(unsigned(2 * ws - 1), name=f"sq{i}") for i in range(4)]  # (-2**(ws-1))**2 needs 2 ws - 1 bits
        total = Signal(unsigned(2 * n))
        tags = [Signal(tag, name=f"tag{i}") for i in range(SQRT_EXTRA)]
        with m.If(adv):
            m.d.sync += [tags[0].valid.eq(inp.valid), tags[0].bin.eq(inp.payload.bin), tags[0].last.eq(inp.payload.last),
                         *(tags[i].eq(tags[i - 1]) for i in range(1, SQRT_EXTRA)),
                         re.eq(inp.payload.re), im.eq(inp.payload.im), sq[0].eq(re * re), sq[1].eq(im * im),
                         sq[2].eq(sq[0]), sq[3].eq(sq[1]), total.eq(sq[2] + sq[3])]
        rest, rem, root, prev_tag = total, Const(0, 1), Const(0, 1), tags[-1]
        for i in range(n):  # result bit n-1-i
            nrest = Signal(unsigned(2 * n), name=f"rest{i}")
            nrem = Signal(unsigned(min(i + 3, n + 2)), name=f"rem{i}")
            nroot = Signal(unsigned(i + 1), name=f"root{i}")
            ntag = Signal(tag, name=f"tag_r{i}")
            r = Cat(rest[2 * n - 2 : 2 * n], rem)  # 4 * rem + the next two bits
            trial = Cat(1, 0, root)  # 4 * root + 1
            fits = r >= trial
            with m.If(adv):
                m.d.sync += [nrest.eq(rest << 2), nrem.eq(Mux(fits, r - trial, r)), nroot.eq(Cat(fits, root)), ntag.eq(prev_tag)]
            rest, rem, root, prev_tag = nrest, nrem, nroot, ntag
        m.d.comb += [out.valid.eq(prev_tag.valid), out.payload.bin.eq(prev_tag.bin), out.payload.last.eq(prev_tag.last), out.payload.mag.eq(root)]
        return m
