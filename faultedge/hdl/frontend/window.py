"""The window buffer: raw samples in, every `hop` samples one window out as a burst of M pairs.

Samples go into a ring of two windows in block RAM, even samples in one memory and odd samples in
the other, so the pair z[n] = x[2n] + i x[2n+1] is one read of each. Hops are even, so every
window starts on an even sample and a pair never straddles the two memories' rows.

`fill` counts the samples held from the start of the oldest window still needed. A window's burst
reads one pair per cycle, pair k once its two samples are in (fill >= 2k + 2); after its last pair
the window's first `hop` samples are released (fill -= hop) and the next window may follow at once.
Writes continue during a burst: they land at least a window beyond the pairs being read, and the
input stalls only when the ring is full (fill == 2 windows).

A burst starts `lead` samples before its window is complete, so the FFT's M steps overlap the
window's last samples instead of following them. `lead` comes from the interval between the last
two samples (FrontEndPlan.lead, registered): (M - 1) >> ceil(log2 interval), so at a steady rate the
burst never catches up with the samples (which would stall the FFT and the previous window's
outputs inside it), and its last pair leaves right behind the last sample. One sample per clock
gives lead = M - 1; a stream slower than one sample per M cycles gives 0, a burst after the window.

For the fft+envelope features each window goes out twice: its burst, then at once a second burst
of the same pairs marked `second` (the squarer makes the envelope's squared samples of it, with a
gain it needs the whole window's peak for; faultedge.hdl.frontend.squarer). The window's first
`hop` samples are released after the second burst, which never waits: its samples are all in.

A stream that pauses or slows down mid-burst would hold the previous window's outputs inside the FFT
for as long as it pauses. So a burst that has waited M cycles for samples is given up: the rest of
its M pairs go out at once marked `void` (the FFT drops that frame's outputs), and the window's
burst comes again once the window is complete.

    cycle 0   last sample of the window written (fill reaches N)
    cycle 1   read of the last pair issued (of pair 0 when lead = 0)
    cycle 2   the RAM's data
    cycle 3   the pair valid on `pairs` (the RAM's data registered: a block RAM's output is slow), then one pair per cycle
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.common import log2
from faultedge.hdl.components.streams import samples_signature
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.streams import pairs_signature, window_pairs_layout


class WindowBuffer(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        self.twice = fp.envelope  # a second burst per window, for the envelope block
        pairs = stream.Signature(window_pairs_layout(fp.fe)) if self.twice else pairs_signature(fp.fe)
        super().__init__({"samples": In(samples_signature(fp.sample_bits)), "pairs": Out(pairs)})

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

        # the sample rate, and from it the fill at which a burst may start (n - lead)
        saturated = 2 * pts
        gap = Signal(range(saturated + 1))  # cycles since the last sample written, saturating
        interval = Signal(range(saturated + 1), init=saturated)  # cycles between the last two samples written
        with m.If(write):
            m.d.sync += [gap.eq(0), interval.eq(gap + 1)]
        with m.Elif(gap != saturated):
            m.d.sync += gap.eq(gap + 1)
        lead = Const(0)
        for s in reversed(range(log2(pts) + 1)):  # the smallest s with interval <= 2**s
            lead = Mux(interval <= (1 << s), (pts - 1) >> s, lead)
        start_fill = Signal(range(n + 1), init=n)
        m.d.sync += start_fill.eq(n - lead)

        advance = Signal()  # the output register is free or being taken
        m.d.comb += advance.eq(~pairs.valid | pairs.ready)
        voiding = Signal()  # the rest of this burst is given up
        retry = Signal()  # the window's burst was given up: it comes again after the window is complete
        waited = Signal(range(pts + 1))  # cycles this burst has waited for a sample
        in_burst = pair != 0
        samples_in = (fill >> 1) > pair  # pair `pair`'s two samples are written
        may_start = Mux(retry, fill >= n, fill >= start_fill)
        second = Signal()  # the window's second burst (fft+envelope): its samples are all in
        issue = Signal()
        m.d.comb += issue.eq(advance & (voiding | (samples_in & (in_burst | may_start)) | (second if self.twice else 0)))
        end = Signal()
        m.d.comb += end.eq(issue & (pair == pts - 1))
        with m.If(advance & in_burst & ~voiding & ~samples_in):
            m.d.sync += waited.eq(waited + 1)
            with m.If(waited == pts - 1):
                m.d.sync += voiding.eq(1)
        for port in (r_even, r_odd):
            m.d.comb += [port.addr.eq(base + pair), port.en.eq(advance)]
        read, read_last, read_void = Signal(), Signal(), Signal()  # the RAM's data stage
        with m.If(advance):
            m.d.sync += [read.eq(issue), read_last.eq(end), read_void.eq(voiding), pairs.valid.eq(read), pairs.payload.last.eq(read_last),
                         pairs.payload.void.eq(read_void), pairs.payload.re.eq(r_even.data), pairs.payload.im.eq(r_odd.data)]
        with m.If(issue):
            m.d.sync += pair.eq(pair + 1)
        release = Signal()  # the window's last burst ends: its first `hop` samples are free
        m.d.comb += release.eq(end & ~voiding & second if self.twice else end & ~voiding)
        with m.If(end):
            m.d.sync += [pair.eq(0), waited.eq(0), voiding.eq(0), retry.eq(voiding)]
            if self.twice:
                m.d.sync += second.eq(~second & ~voiding)
        with m.If(release):
            m.d.sync += base.eq(base + hop // 2)
        if self.twice:
            read_second = Signal()
            with m.If(advance):
                m.d.sync += [read_second.eq(second), pairs.payload.second.eq(read_second)]
        with m.If(write):
            m.d.sync += wp.eq(wp + 1)
        m.d.sync += fill.eq(fill + write - Mux(release, hop, 0))
        return m
