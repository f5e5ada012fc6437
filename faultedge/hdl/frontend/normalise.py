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

For the fft+envelope features the values come from the feature blocks (faultedge.hdl.frontend.blocks)
with their address, and every value is aligned before the offset: the spectrum block's by
2**(2 GAIN_MAX), the envelope block's by 2**(2 GAIN_MAX - 2 g) with its window's gain g (from
`gains`, taken with the window's last value), on offsets held on that grid and a shift 2 GAIN_MAX
larger. For the spectrum block that is the golden model's round((mag - offset) * multiplier / 2**shift)
exactly (both scaled by 2**(2 GAIN_MAX)), so both blocks share one datapath:

    N1  the ROMs read at the address; the alignment (2 GAIN_MAX, or 2 GAIN_MAX - 2 g)
    N2  the words registered; the value shifted left by it (in place of the plain register)
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.requant import clamp
from faultedge.hdl.components.streams import features_signature
from faultedge.hdl.frontend.blocks import values_signature
from faultedge.hdl.frontend.magnitude import magnitudes_signature
from faultedge.hdl.frontend.plan import NORMALISE_DEPTH, FrontEndPlan
from faultedge.hdl.frontend.streams import gains_signature
from faultedge.ir.frontend import FINE, MULTIPLIER_BITS


def normalise_ports(fp: FrontEndPlan, input_bits: int) -> dict[str, wiring.Member]:
    """Either architecture's normalisation: magnitudes in (fft+envelope: the feature blocks' values and each window's
    gain), the network's inputs out."""
    ports = {"features": Out(features_signature(fp.points, input_bits))}
    if fp.envelope:
        return ports | {"mags": In(values_signature(fp)), "gains": In(gains_signature())}
    return ports | {"mags": In(magnitudes_signature(fp))}


class Normalise(wiring.Component):
    def __init__(self, fp: FrontEndPlan, input_bits: int) -> None:
        self.fp, self.input_bits = fp, input_bits
        super().__init__(normalise_ports(fp, input_bits))

    def elaborate(self, platform) -> Module:
        m = Module()
        fp, fe = self.fp, self.fp.fe
        pts = fp.points
        inp, out = self.mags, self.features
        offset, value_bits, s = fp.normalise_offsets, fp.normalise_value_bits, fp.normalise_shift
        ow, dw = fp.offset_bits, fp.difference_bits
        pw = dw + MULTIPLIER_BITS + 1
        offsets = Memory(shape=signed(ow), depth=pts, init=[int(v) for v in offset])
        mults = Memory(shape=unsigned(MULTIPLIER_BITS), depth=pts, init=[int(v) for v in fe.multiplier])
        m.submodules.offsets, m.submodules.multipliers = offsets, mults
        r_off, r_mul = offsets.read_port(), mults.read_port()

        adv = Signal()
        m.d.comb += adv.eq(~out.valid | out.ready)
        tag = data.StructLayout({"valid": 1, "addr": range(pts), "last": 1})
        tags = [Signal(tag, name=f"tag{i}") for i in range(NORMALISE_DEPTH)]
        f = Signal(range(pts))
        mag1, mag2 = Signal(unsigned(len(inp.payload.value if fp.envelope else inp.payload.mag))), Signal(unsigned(value_bits))
        take = Signal()
        if fp.envelope:
            gains = self.gains
            align = Signal(range(FINE + 1))
            m.d.comb += [f.eq(inp.payload.addr), inp.ready.eq(adv & (gains.valid | ~inp.payload.envelope)), take.eq(inp.valid & inp.ready),
                         gains.ready.eq(take & inp.payload.last)]
            with m.If(adv):
                m.d.sync += [mag1.eq(inp.payload.value), align.eq(Mux(inp.payload.envelope, FINE - 2 * gains.payload, FINE))]
            aligned = mag1 << align
        else:
            m.d.comb += [f.eq(pts - inp.payload.bin), inp.ready.eq(adv), take.eq(inp.valid & adv)]
            with m.If(adv):
                m.d.sync += mag1.eq(inp.payload.mag)
            aligned = mag1
        m.d.comb += [r_off.addr.eq(f), r_mul.addr.eq(f), r_off.en.eq(adv), r_mul.en.eq(adv)]
        off2, mul2 = Signal(signed(ow)), Signal(unsigned(MULTIPLIER_BITS))
        d, mul = Signal(signed(dw)), Signal(unsigned(MULTIPLIER_BITS))
        p, pq = Signal(signed(pw)), Signal(signed(pw))
        q = Signal(signed(max(pw - s, 1)))
        up = Signal()
        r = Signal(signed(max(pw - s, 1) + 1))
        lo, hi = fe.clamp
        with m.If(adv):
            m.d.sync += [tags[0].valid.eq(take), tags[0].addr.eq(f), tags[0].last.eq(inp.payload.last)]
            m.d.sync += [tags[i].eq(tags[i - 1]) for i in range(1, len(tags))]
            m.d.sync += [mag2.eq(aligned), off2.eq(r_off.data), mul2.eq(r_mul.data), d.eq(mag2 - off2), mul.eq(mul2), p.eq(d * mul), pq.eq(p)]
            if s:
                rem, half = pq.as_unsigned()[:s], 1 << (s - 1)
                m.d.sync += [q.eq(pq >> s), up.eq((rem > half) | ((rem == half) & pq[s]))]
            else:
                m.d.sync += q.eq(pq)
            m.d.sync += [r.eq(q + up), out.payload.value.eq(clamp(r, lo, hi))]
        m.d.comb += [out.valid.eq(tags[-1].valid), out.payload.addr.eq(tags[-1].addr), out.payload.last.eq(tags[-1].last)]
        return m
