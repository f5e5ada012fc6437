"""The iterative front end's normalisation: a bin's magnitude -> the network's input at its feature's address, on one multiplier.

As faultedge.hdl.frontend.normalise (feature f = M - k holds bin k; x = clamp(round_half_even((mag - offset_f)
* multiplier_f / 2**shift))), one magnitude at a time, which the iterative FFT's bin rate leaves time for:

    take        the magnitude; f = M - k addresses the ROM of (offset, multiplier) words, one word per feature
                (one ROM of offset_bits + 17 bits: fewer block RAMs than two)
    + 1         the ROM word registered (a block RAM's output is slow)
    + 2         d = mag - offset
    + 3         |d| and its sign
    products    |d| * multiplier as products of their pieces (serial.serial_sum: one SB_MAC16), then the drain
    sign        p = d * multiplier (exact: the sign applied to the whole product)
    shift       p >> shift (floor) and the round-half-to-even decision
    out         + the round-up bit, clamped to the IR's input range          -> features (address, value, last)

A magnitude taken at edge 0 leaves at edge plan.normalise_depth when the engine's memory is ready; the next one
is taken after that.

For the fft+envelope features the values come from the feature blocks (faultedge.hdl.frontend.blocks) with their
address, and are aligned to the envelope's fine grid as the pipelined normalisation aligns them (by FINE, or
FINE - 2 g for the envelope block with its window's gain g from `gains`, taken with the window's last value), on
the plan's offsets and shift for that grid (FrontEndPlan.normalise_offsets, normalise_shift): `take` registers
the value shifted, so the schedule is the same, with the longer difference's products.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory

from faultedge.hdl.components.requant import clamp
from faultedge.hdl.frontend.normalise import normalise_ports
from faultedge.hdl.frontend.plan import FrontEndPlan, pieces
from faultedge.hdl.frontend.serial import serial_sum
from faultedge.ir.frontend import FINE, MULTIPLIER_BITS


class SerialNormalise(wiring.Component):
    def __init__(self, fp: FrontEndPlan, input_bits: int) -> None:
        self.fp, self.input_bits = fp, input_bits
        super().__init__(normalise_ports(fp, input_bits))

    def elaborate(self, platform) -> Module:
        m = Module()
        fp, fe = self.fp, self.fp.fe
        pts, ow, dw = fp.points, fp.offset_bits, fp.difference_bits
        inp, out = self.mags, self.features
        word = data.StructLayout({"offset": signed(ow), "multiplier": unsigned(MULTIPLIER_BITS)})
        init = [word.const({"offset": int(o), "multiplier": int(k)}).as_value().value for o, k in zip(fp.normalise_offsets, fe.multiplier)]
        m.submodules.rom = rom = Memory(shape=unsigned(word.size), depth=pts, init=init)
        rd = rom.read_port()

        busy = Signal()
        tag = data.StructLayout({"addr": range(pts), "last": 1})
        held = Signal(tag)
        mag = Signal(unsigned(fp.normalise_value_bits))
        stage = Signal(3)  # one-hot: ROM data, d, |d|
        entry = Signal(word)
        d = Signal(signed(dw))
        ad, neg = Signal(unsigned(dw)), Signal()
        take = Signal()
        addr = Signal(range(pts))
        if fp.envelope:
            gains = self.gains
            align = Signal(range(FINE + 1))
            value = inp.payload.value << align
            m.d.comb += [align.eq(Mux(inp.payload.envelope, FINE - 2 * gains.payload, FINE)), addr.eq(inp.payload.addr), inp.ready.eq(~busy & (gains.valid | ~inp.payload.envelope)), gains.ready.eq(take & inp.payload.last)]
        else:
            value = inp.payload.mag
            m.d.comb += [addr.eq(pts - inp.payload.bin), inp.ready.eq(~busy)]
        m.d.comb += [take.eq(inp.valid & inp.ready), rd.addr.eq(addr), rd.en.eq(take)]
        with m.If(take):
            m.d.sync += [busy.eq(1), held.addr.eq(addr), held.last.eq(inp.payload.last), mag.eq(value)]
        m.d.sync += stage.eq(stage.shift_left(1) | take)
        with m.If(stage[0]):
            m.d.sync += entry.eq(rd.data)
        with m.If(stage[1]):
            m.d.sync += d.eq(mag - entry.offset)
        with m.If(stage[2]):
            m.d.sync += [ad.eq(Mux(d < 0, -d, d)), neg.eq(d < 0)]

        pd, pm = pieces(dw), pieces(MULTIPLIER_BITS)
        terms = [(ad[pd[i][0]:pd[i][0] + pd[i][1]], entry.multiplier[pm[j][0]:pm[j][0] + pm[j][1]], s) for i, j, s in fp.normalise_terms]
        issuing = Signal()
        step = Signal(range(len(terms)))
        pw = dw + MULTIPLIER_BITS
        total, done = serial_sum(m, "product", terms, issuing, step, pw)
        with m.If(stage[2]):
            m.d.sync += [issuing.eq(1), step.eq(0)]
        with m.If(issuing):
            m.d.sync += step.eq(step + 1)
            with m.If(step == len(terms) - 1):
                m.d.sync += issuing.eq(0)

        p = Signal(signed(pw + 1))
        s = fp.normalise_shift
        q = Signal(signed(max(pw + 1 - s, 1)))
        up = Signal()
        tail = Signal(3)  # one-hot after `done`: the sign, the shift, the output
        m.d.sync += tail.eq(Cat(done, tail[:-1]))
        with m.If(tail[0]):
            m.d.sync += p.eq(Mux(neg, -total, total))
        with m.If(tail[1]):
            if s:
                rem, half = p.as_unsigned()[:s], 1 << (s - 1)
                m.d.sync += [q.eq(p >> s), up.eq((rem > half) | ((rem == half) & p[s]))]
            else:
                m.d.sync += [q.eq(p), up.eq(0)]
        lo, hi = fe.clamp
        with m.If(tail[2]):
            m.d.sync += [out.valid.eq(1), out.payload.value.eq(clamp(q + up, lo, hi)), out.payload.addr.eq(held.addr), out.payload.last.eq(held.last)]
        with m.If(out.valid & out.ready):
            m.d.sync += [out.valid.eq(0), busy.eq(0)]
        return m
