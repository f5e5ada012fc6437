"""Normalisation: a bin's magnitude -> the network's integer input, written at the feature's address.

Feature f = M - k holds bin k (faultedge.ir.frontend: features are bins M, M-1, ..., 1), so the
value goes to address f of the engine's input memory whatever order the bins come in.

    N1  f = M - k; the offset and multiplier ROMs read at f
    N2  their words registered (a block RAM's output is slow)
    N3  d = mag - offset_f, the multiplier
    N4  p = d * multiplier_f (exact)
    N5  p registered again (so the placer can keep the first register at the DSPs)
    N6  p >> shift (floor) and the round-half-to-even decision
    N7  + the round-up bit
    N8  clamp to the IR's input range                                -> features (address, value, last)

One bin per cycle; every stage moves when the output can move.
"""

from __future__ import annotations

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.requant import clamp
from faultedge.hdl.components.streams import features_signature
from faultedge.hdl.frontend.magnitude import magnitudes_signature
from faultedge.hdl.frontend.plan import NORMALISE_DEPTH, FrontEndPlan
from faultedge.ir.intmath import bits_for
from faultedge.ir.frontend import MULTIPLIER_BITS


class Normalise(wiring.Component):
    def __init__(self, fp: FrontEndPlan, input_bits: int) -> None:
        self.fp, self.input_bits = fp, input_bits
        super().__init__({"mags": In(magnitudes_signature(fp)), "features": Out(features_signature(fp.points, input_bits))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp, fe = self.fp, self.fp.fe
        pts = fp.points
        inp, out = self.mags, self.features
        ow = bits_for(int(fe.offset.min()), int(fe.offset.max()))
        dw = max(ow, fp.magnitude_bits + 1) + 1
        pw = dw + MULTIPLIER_BITS + 1
        offsets = Memory(shape=signed(ow), depth=pts, init=[int(v) for v in fe.offset])
        mults = Memory(shape=unsigned(MULTIPLIER_BITS), depth=pts, init=[int(v) for v in fe.multiplier])
        m.submodules.offsets, m.submodules.multipliers = offsets, mults
        r_off, r_mul = offsets.read_port(), mults.read_port()

        adv = Signal()
        m.d.comb += [adv.eq(~out.valid | out.ready), inp.ready.eq(adv)]
        tag = data.StructLayout({"valid": 1, "addr": range(pts), "last": 1})
        tags = [Signal(tag, name=f"tag{i}") for i in range(NORMALISE_DEPTH)]
        f = Signal(range(pts))
        m.d.comb += [f.eq(pts - inp.payload.bin), r_off.addr.eq(f), r_mul.addr.eq(f), r_off.en.eq(adv), r_mul.en.eq(adv)]
        mag1, mag2 = Signal(unsigned(fp.magnitude_bits)), Signal(unsigned(fp.magnitude_bits))
        off2, mul2 = Signal(signed(ow)), Signal(unsigned(MULTIPLIER_BITS))
        d, mul = Signal(signed(dw)), Signal(unsigned(MULTIPLIER_BITS))
        p, pq = Signal(signed(pw)), Signal(signed(pw))
        s = fe.shift
        q = Signal(signed(max(pw - s, 1)))
        up = Signal()
        r = Signal(signed(max(pw - s, 1) + 1))
        lo, hi = fe.clamp
        with m.If(adv):
            m.d.sync += [tags[0].valid.eq(inp.valid), tags[0].addr.eq(f), tags[0].last.eq(inp.payload.last), mag1.eq(inp.payload.mag)]
            m.d.sync += [tags[i].eq(tags[i - 1]) for i in range(1, len(tags))]
            m.d.sync += [mag2.eq(mag1), off2.eq(r_off.data), mul2.eq(r_mul.data), d.eq(mag2 - off2), mul.eq(mul2), p.eq(d * mul), pq.eq(p)]
            if s:
                rem, half = pq.as_unsigned()[:s], 1 << (s - 1)
                m.d.sync += [q.eq(pq >> s), up.eq((rem > half) | ((rem == half) & pq[s]))]
            else:
                m.d.sync += q.eq(pq)
            m.d.sync += [r.eq(q + up), out.payload.value.eq(clamp(r, lo, hi))]
        m.d.comb += [out.valid.eq(tags[-1].valid), out.payload.addr.eq(tags[-1].addr), out.payload.last.eq(tags[-1].last)]
        return m
