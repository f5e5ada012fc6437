"""The iterative front end's window buffer: raw samples in, every `hop` samples one window out as M pairs, in SPRAM.

The ring of two windows (2 x 2,048 x 16 bits for the deployed front end: 16 block RAMs, more than the UP5K
has left beside the engine) lives in two iCE40 SPRAMs, even samples in one and odd samples in the other,
so the pair z[n] = x[2n] + i x[2n+1] is one read of both at the same row. SPRAM has one port and no
initial contents, which a ring does not need: reads take the port first, and a sample is written only
in a cycle without a read (`ready` is low in read cycles), so the window's reads never wait for the
sensor and their timing is the FFT's alone.

`fill` counts the samples held from the start of the oldest window still needed. While it is at least
a window, the window's pairs are read into a two-entry FIFO, a read issued whenever the FIFO has room
for it counting the read in flight; after the last pair's read the window's first `hop` samples are
released (fill -= hop). The iterative FFT takes a pair every other cycle (it writes re, then im), so
two entries keep it fed and the next window's first pairs wait in the FIFO while it computes.

    cycle 0   last sample of the window written (fill reaches N)
    cycle 1   read of pair 0 issued (fill >= N, the FIFO empty)
    cycle 2   the SPRAMs' words into the FIFO (captured at once: a write would clobber the SPRAM's output)
    cycle 3   pair 0 valid on `pairs` (the FFT writes its real part)
    cycle 4   pair 0 taken (plan.RING_FIRST_PAIR), then a pair every 2 cycles

For the fft+envelope features each window is read twice, as the pipelined window buffer sends it
(faultedge.hdl.frontend.window): its pairs, then the same pairs again marked `second`, for the
squarer. The window's first `hop` samples are released after the second read, which never waits
for a sample: they are all in.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.common import log2
from faultedge.hdl.components.streams import samples_signature
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.spram import single_port
from faultedge.hdl.frontend.streams import pairs_layout, pairs_signature, window_pairs_layout

FIFO_DEPTH = 2  # pairs waiting for the FFT, the read in flight counted


class SpramWindowBuffer(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        self.twice = fp.envelope  # a second read per window, for the envelope block
        pairs = stream.Signature(window_pairs_layout(fp.fe)) if self.twice else pairs_signature(fp.fe)
        super().__init__({"samples": In(samples_signature(fp.sample_bits)), "pairs": Out(pairs)})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        n, ring, hop, pts, bits = fp.window, fp.ring, fp.hop, fp.points, fp.sample_bits
        layout = window_pairs_layout(fp.fe) if self.twice else pairs_layout(fp.fe)
        m.submodules.fifo = fifo = SyncFIFO(width=layout.size, depth=FIFO_DEPTH)

        fill = Signal(range(ring + 1))
        wp = Signal(log2(ring))  # write position in the ring
        base = Signal(log2(n))  # row of the oldest window's pair 0
        pair = Signal(range(pts))  # the pair read next
        inflight, inflight_last = Signal(), Signal()  # a read issued in the previous cycle, and whether it was the window's last pair
        second, inflight_second = Signal(), Signal()  # fft+envelope: the window's second read, now and for the read in flight
        samples, pairs = self.samples, self.pairs

        take = Signal()
        m.d.comb += take.eq(pairs.valid & pairs.ready)
        issue = Signal()
        m.d.comb += issue.eq((fill >= n) & (fifo.level + inflight <= FIFO_DEPTH - 1 + take))
        end = Signal()
        m.d.comb += end.eq(issue & (pair == pts - 1))
        release = Signal()  # the window's last read ends: its first `hop` samples are free
        m.d.comb += release.eq(end & second if self.twice else end)
        m.d.comb += samples.ready.eq((fill != ring) & ~issue)
        write = Signal()
        m.d.comb += write.eq(samples.valid & samples.ready)

        row = Signal(log2(n))  # wraps around the ring
        m.d.comb += row.eq(Mux(issue, base + pair, wp >> 1))
        words = []
        for parity in (0, 1):
            we = write & (wp[0] == parity)
            words.append(single_port(m, ("even", "odd")[parity], row, samples.payload, we, issue | we, fp.memory).as_signed())

        word = Signal(layout)
        m.d.comb += [word.re.eq(words[0]), word.im.eq(words[1]), word.last.eq(inflight_last),
                     fifo.w_data.eq(word), fifo.w_en.eq(inflight),
                     pairs.valid.eq(fifo.r_rdy), pairs.payload.eq(fifo.r_data), fifo.r_en.eq(pairs.ready)]
        m.d.sync += [inflight.eq(issue), inflight_last.eq(end)]
        if self.twice:
            m.d.comb += word.second.eq(inflight_second)
            m.d.sync += inflight_second.eq(second)
            with m.If(end):
                m.d.sync += second.eq(~second)
        with m.If(issue):
            m.d.sync += pair.eq(pair + 1)
        with m.If(end):
            m.d.sync += pair.eq(0)
        with m.If(release):
            m.d.sync += base.eq(base + hop // 2)
        with m.If(write):
            m.d.sync += wp.eq(wp + 1)
        m.d.sync += fill.eq(fill + write - (release * hop))
        return m
