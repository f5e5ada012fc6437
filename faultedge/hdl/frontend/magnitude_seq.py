"""The iterative front end's magnitude: floor(sqrt(re**2 + im**2)) of a bin, exactly, on one multiplier.

The iterative FFT gives a bin every SPLIT job + 1 cycles (18), so the magnitude need not be a pipeline:

    take        the bin: |re|, |im| (unsigned, spectrum_bits each), its number and `last`
    squares     re**2 then im**2 as sums of products of their pieces (serial.serial_sum: one SB_MAC16,
                2 * len(plan.square_terms) products, then the multiplier's drain)
    hand-over   the sum to the root, when the root is free (the squares take the next bin from here)
    root        two result bits per cycle (plan.root_steps): twice, remainder r = 4 r + the next two bits
                of the sum; if r >= 4 root + 1: r -= 4 root + 1, root = 2 root + 1, else root = 2 root
    out         the magnitude on `mags` until taken

A bin taken at edge 0 leaves at edge plan.magnitude_depth when the normalisation is ready; the squares
are free again after half of that, the root after root_steps + 2 cycles, both before the next bin.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.frontend.magnitude import magnitudes_signature
from faultedge.hdl.frontend.plan import FrontEndPlan, pieces
from faultedge.hdl.frontend.serial import serial_sum
from faultedge.hdl.frontend.streams import bins_signature


class SerialMagnitude(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"bins": In(bins_signature(fp.fe)), "mags": Out(magnitudes_signature(fp))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        ws, n, steps = fp.fe.spectrum_bits, fp.magnitude_bits, fp.root_steps
        inp, out = self.bins, self.mags
        tag = data.StructLayout({"bin": fp.points.bit_length(), "last": 1})

        # squares: |re|, |im| held while their products are issued
        parts = [Signal(unsigned(ws), name=f"abs_{p}") for p in ("re", "im")]
        sq_tag = Signal(tag)
        sq_busy, issuing, summed = Signal(), Signal(), Signal()  # a bin held; its products being issued; its sum complete
        ps = pieces(ws)
        terms = [(v[ps[i][0]:ps[i][0] + ps[i][1]], v[ps[j][0]:ps[j][0] + ps[j][1]], s) for v in parts for i, j, s in fp.square_terms]
        step = Signal(range(len(terms)))
        total, done = serial_sum(m, "squares", terms, issuing, step, 2 * ws)
        m.d.comb += inp.ready.eq(~sq_busy)
        with m.If(inp.valid & ~sq_busy):
            m.d.sync += [sq_busy.eq(1), issuing.eq(1), step.eq(0), sq_tag.bin.eq(inp.payload.bin), sq_tag.last.eq(inp.payload.last)]
            for p, v in zip(parts, (inp.payload.re, inp.payload.im)):
                m.d.sync += p.eq(Mux(v[-1], -v, v))
        with m.If(issuing):
            m.d.sync += step.eq(step + 1)
            with m.If(step == len(terms) - 1):
                m.d.sync += issuing.eq(0)
        with m.If(done):
            m.d.sync += summed.eq(1)

        # root: two digits per cycle on the sum padded to 4 * steps bits
        width = 4 * steps
        rest, rem, root = Signal(unsigned(width)), Signal(unsigned(2 * steps + 2)), Signal(unsigned(2 * steps))
        count = Signal(range(steps + 1))
        computing = Signal()
        out_tag = Signal(tag)
        load = Signal()
        m.d.comb += load.eq(summed & ~computing & (~out.valid | out.ready))
        with m.If(out.valid & out.ready):
            m.d.sync += out.valid.eq(0)
        with m.If(load):
            m.d.sync += [summed.eq(0), sq_busy.eq(0), rest.eq(total), rem.eq(0), root.eq(0), count.eq(0), computing.eq(1), out_tag.eq(sq_tag)]
        r, q, bits = rem, root, rest
        for _ in range(2):
            trial = Cat(1, 0, q)  # 4 root + 1
            x = Cat(bits[width - 2:width], r)  # 4 rem + the next two bits
            fits = x >= trial
            r, q, bits = Mux(fits, x - trial, x), Cat(fits, q), bits << 2
        with m.If(computing):
            m.d.sync += [rest.eq(bits), rem.eq(r), root.eq(q), count.eq(count + 1)]
            with m.If(count == steps - 1):
                m.d.sync += [computing.eq(0), out.valid.eq(1)]
        m.d.comb += [out.payload.bin.eq(out_tag.bin), out.payload.last.eq(out_tag.last), out.payload.mag.eq(root[:n])]
        return m
