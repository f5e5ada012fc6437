"""The fft+envelope features' two blocks from a window's two frames of magnitudes, each with its address.

The first frame is the window's spectrum: feature i < M/2 is the sum of bins 2j - 1 and 2j with
i = M/2 - j (faultedge.ir.frontend.magnitudes: bins M, M-1, ..., 1 summed in pairs). Bins come in
the architecture's order. In the pipelined split's (bit-reversed) order the first of a pair waits in
a memory of M/2 words until its partner comes; each word keeps the parity of the window that wrote
it, so a word from an earlier window counts as empty and nothing has to be cleared. The iterative
FFT gives bins 1 .. M in order, so a pair's first bin (odd) waits in one register instead, and the
UP5K keeps the block RAMs such a memory would take. The second frame is the squared samples' spectrum:
bin k <= M/2 becomes feature M/2 + k - 1, and the bins above M/2 are dropped. The window's last
feature is the second frame's last kept bin in the architecture's order (FrontEndPlan.last_envelope_bin:
bin 1, the pipelined split's last bin; bin M/2 in the iterative FFT's order 1 .. M).

    B1  the bin registered, its pair's word read (the read sees a write of the same cycle)
    B2  a pair's first bin written, a pair's second bin summed with the word; the envelope's bins
        kept or dropped                                               -> values (address, value, block, last)

Every stage moves when the output can move.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from faultedge.hdl.frontend.magnitude import magnitudes_signature
from faultedge.hdl.frontend.plan import FrontEndPlan


def values_signature(fp: FrontEndPlan) -> stream.Signature:
    """One feature before normalisation: its address, the magnitude (or pair sum), `envelope` for the second block."""
    return stream.Signature(data.StructLayout({"addr": unsigned((fp.points - 1).bit_length()), "value": unsigned(fp.magnitude_bits + 1),
                                               "envelope": unsigned(1), "last": unsigned(1)}))


class FeatureBlocks(wiring.Component):
    def __init__(self, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__({"mags": In(magnitudes_signature(fp)), "values": Out(values_signature(fp))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        half = fp.points // 2
        inp, out = self.mags, self.values
        adv = Signal()
        m.d.comb += [adv.eq(~out.valid | out.ready), inp.ready.eq(adv)]
        envelope = Signal()  # the frame coming in is the window's second
        parity = Signal(init=1)  # the window's parity: words written in earlier windows carry the other one
        pair = Signal(range(half))  # bins 2j - 1 and 2j -> word j - 1
        m.d.comb += pair.eq((inp.payload.bin - 1) >> 1)
        with m.If(inp.valid & adv & inp.payload.last):
            m.d.sync += envelope.eq(~envelope)
            with m.If(envelope):
                m.d.sync += parity.eq(~parity)

        v1, env1, last1, par1 = Signal(), Signal(), Signal(), Signal()
        bin1, pair1, mag1 = Signal.like(inp.payload.bin), Signal.like(pair), Signal(unsigned(fp.magnitude_bits))
        with m.If(adv):
            m.d.sync += [v1.eq(inp.valid), env1.eq(envelope), last1.eq(inp.payload.last), par1.eq(parity), bin1.eq(inp.payload.bin),
                         pair1.eq(pair), mag1.eq(inp.payload.mag)]
        if fp.iterative:  # bins in order: the pair's first bin is the one before
            first = Signal(unsigned(fp.magnitude_bits))
            partner, first_mag = ~bin1[0], first
            with m.If(adv & v1 & ~env1 & ~partner):
                m.d.sync += first.eq(mag1)
        else:
            word = data.StructLayout({"parity": 1, "mag": unsigned(fp.magnitude_bits)})
            m.submodules.halves = halves = Memory(shape=word, depth=half, init=[])
            write = halves.write_port()
            read = halves.read_port(transparent_for=[write])
            partner, first_mag = read.data.parity == par1, read.data.mag  # the pair's first bin came earlier in this window
            m.d.comb += [read.addr.eq(pair), read.en.eq(adv),
                         write.addr.eq(pair1), write.data.parity.eq(par1), write.data.mag.eq(mag1), write.en.eq(adv & v1 & ~env1 & ~partner)]
        keep = Mux(env1, bin1 <= half, partner)
        with m.If(adv):
            m.d.sync += [out.valid.eq(v1 & keep), out.payload.last.eq(env1 & (bin1 == fp.last_envelope_bin)), out.payload.envelope.eq(env1),
                         out.payload.addr.eq(Mux(env1, half + bin1 - 1, half - 1 - pair1)),
                         out.payload.value.eq(Mux(env1, mag1, mag1 + first_mag))]
        return m
