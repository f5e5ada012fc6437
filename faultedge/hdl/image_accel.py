"""The image engine: MKW-Net (kwconv2d blocks and a linear head) on P reused MAC lanes.

    beats -> ImageLoader -> LaneMacs -> Requantiser -> AvgPoolWriteBack -> Argmax -> result
               | sums        ^  ^ a        (maps, kernel RAMs: Banks)  | sums of the next block
               +-----------> Attention <-----------------------------+
                             PassSequencer: pass select, issue (tag + addresses), attention and argmax start

The phases and memories are laid out by faultedge.hdl.image_plan; the components are in
faultedge.hdl.components (image.py has the P-lane pass cycle by cycle, attention.py the FCs and
the divider). Per block the attention runs, then the kernel assembly and the convolution on the
P lanes; the head is a third kind of pass. Every phase drains before the next reads what it
wrote, so the cycle count is exact and data-independent. The input memory is single-buffered:
beats are accepted from the hand-off of a result until the last beat of the next image.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring

from faultedge.hdl.components.argmax import Argmax
from faultedge.hdl.components.attention import Attention
from faultedge.hdl.components.common import Banks
from faultedge.hdl.components.image import (AvgPoolWriteBack, ImageLoader, LaneMacs, PassSequencer, kernel_memory, map_banks, passes,
                                            tag_layout, widths)
from faultedge.hdl.components.requant import Requantiser
from faultedge.hdl.components.streams import StreamAccelerator


class ImageAccelerator(StreamAccelerator):
    """The image engine: stream in an image (channel-major), stream out the class and all logits."""

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        settings = []
        for pk in passes(p):
            rq = pk.block.layer.kernel_requant if pk.kind == "assembly" else pk.ps.requant
            settings.append(None if rq is None else (rq.shift, tuple(rq.clamp)))
        m.submodules.loader = loader = ImageLoader(p)
        m.submodules.sequencer = seq = PassSequencer(p)
        m.submodules.attention = att = Attention(p.blocks)
        m.submodules.macs = macs = LaneMacs(p)
        m.submodules.requant = rq = Requantiser(tag_layout(p), widths(p).v, p.lanes, settings)
        m.submodules.writeback = wb = AvgPoolWriteBack(p, rq.width)
        m.submodules.argmax = argmax = Argmax(p.n_classes, p.logit_bits)
        m.submodules.kernels = kernels = Banks(*kernel_memory(p), p.lanes)

        wiring.connect(m, wiring.flipped(self.beats), loader.beats)
        wiring.connect(m, loader.buffer, seq.buffer)
        wiring.connect(m, seq.attention, att.control)
        wiring.connect(m, seq.pid, macs.pid, rq.select, wb.pid)
        wiring.connect(m, seq.issue, macs.issue)
        wiring.connect(m, seq.clear, wb.clear)
        wiring.connect(m, loader.sums, att.block_sums(0))
        for i in range(1, len(p.blocks)):
            wiring.connect(m, wb.block_sums(i), att.block_sums(i))
        wiring.connect(m, macs.a_read, att.a_read)
        for rd, port in zip(macs.sources(0), loader.read):
            wiring.connect(m, rd, port)
        for i, mem in enumerate(p.maps):  # block i writes map i, block i + 1 (or the head) reads it
            m.submodules[f"map{i}"] = banks = map_banks(mem)
            for k in range(mem.banks):
                wiring.connect(m, macs.sources(i + 1)[k], banks.read[k])
                wiring.connect(m, wb.map_writes(i)[k], banks.write[k])
        for l in range(p.lanes):
            wiring.connect(m, macs.kernel[l], kernels.read[l])
            wiring.connect(m, wb.kernel[l], kernels.write[l])
        wiring.connect(m, macs.out, rq.inp)
        wiring.connect(m, rq.out, wb.inp)
        wiring.connect(m, wb.logits, argmax.logits)
        wiring.connect(m, seq.argmax, argmax.control)
        wiring.connect(m, argmax.result, wiring.flipped(self.result))
        return m
