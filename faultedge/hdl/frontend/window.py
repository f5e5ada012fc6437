"""The window buffer: raw samples in, every `hop` samples one window out as a burst of M pairs.

Samples go into a ring of two windows in block RAM, even samples in one memory and odd samples in
the other, so the pair z[n] = x[2n] + i x[2n+1] is one read of each. Hops are even, so every
window starts on an even sample and a pair never straddles the two memories' rows.

`fill` counts the samples held from the start of the oldest window still needed. While it is at
least a window, that window is read out at one pair per cycle (a burst); after its last pair the
window's first `hop` samples are released (fill -= hop) and the next window may follow at once.
Writes continue during a burst: they land at least a window beyond the pairs being read, and the
input stalls only when the ring is full (fill == 2 windows).

    cycle 0   last sample of the window written (fill reaches N)
    cycle 1   read of pair 0 issued (fill >= N)
    cycle 2   the RAM's data
    cycle 3   pair 0 valid on `pairs` (the RAM's data registered: a block RAM's output is slow), then one pair per cycle
"""

from __future__ import annotations

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.common import log2
from faultedge.hdl.components.streams import samples_signature
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.streams import pairs_signature


class WindowBuffer(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"samples": In(samples_signature(fp.sample_bits)), "pairs": Out(pairs_signature(fp.fe))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        n, ring, hop, pts = fp.window, fp.ring, fp.hop, fp.points
        rows = ring // 2
        even = Memory(shape=signed(fp.sample_bits), depth=rows, init=[])
        odd = Memory(shape=signed(fp.sample_bits), depth=rows, init=[])
        m.submodules.even, m.submodules.odd = even, odd
        w_even, w_odd = even.write_port(), odd.write_port()
        r_even, r_odd = even.read_port(), odd.read_port()

        fill = Signal(range(ring + 1))
        wp = Signal(log2(ring))  # write position in the ring
        base = Signal(log2(rows))  # row of the oldest window's pair 0
        pair = Signal(range(pts))  # the pair read next
        samples, pairs = self.samples, self.pairs

        m.d.comb += samples.ready.eq(fill != ring)
        write = Signal()
        m.d.comb += write.eq(samples.valid & samples.ready)
        for port, parity in ((w_even, 0), (w_odd, 1)):
            m.d.comb += [port.addr.eq(wp >> 1), port.data.eq(samples.payload), port.en.eq(write & (wp[0] == parity))]

        advance = Signal()  # the output register is free or being taken
        m.d.comb += advance.eq(~pairs.valid | pairs.ready)
        issue = Signal()
        m.d.comb += issue.eq(advance & (fill >= n))
        end = Signal()
        m.d.comb += end.eq(issue & (pair == pts - 1))
        for port in (r_even, r_odd):
            m.d.comb += [port.addr.eq(base + pair), port.en.eq(advance)]
        read, read_last = Signal(), Signal()  # the RAM's data stage
        with m.If(advance):
            m.d.sync += [read.eq(issue), read_last.eq(end), pairs.valid.eq(read), pairs.payload.last.eq(read_last),
                         pairs.payload.re.eq(r_even.data), pairs.payload.im.eq(r_odd.data)]
        with m.If(issue):
            m.d.sync += pair.eq(pair + 1)
        with m.If(end):
            m.d.sync += [pair.eq(0), base.eq(base + hop // 2)]
        with m.If(write):
            m.d.sync += wp.eq(wp + 1)
        m.d.sync += fill.eq(fill + write - (end * hop))
        return m
