"""The 1-D engine: one P-lane MAC array, reused by every stage of a `faultedge.hdl.plan.Plan`.

    beats -> InputLoader (double-buffered) -> MacArray -> Requantiser -> MaxPoolWriteBack -> Argmax -> result
                           Sequencer: stage select, issue (tag + addresses), buffer hand-back, argmax start

The components are in faultedge.hdl.components (mac1d.py has the pipeline's cycle-by-cycle
picture). Stages run back to back with the pipeline drained in between (the next stage reads
what this one wrote), so the cycle count is exact and data-independent (faultedge.hdl.cycles).
The input memory is double-buffered: the next window streams in while the current one is computed.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring

from faultedge.hdl.components.argmax import Argmax
from faultedge.hdl.components.common import Banks
from faultedge.hdl.components.mac1d import InputLoader, MacArray, MaxPoolWriteBack, Sequencer, stage_memory, tag_layout
from faultedge.hdl.components.requant import Requantiser
from faultedge.hdl.components.streams import StreamAccelerator


class Accelerator(StreamAccelerator):
    """The 1-D engine: stream in a window, stream out the class and all logits."""

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        settings = [(s.requant.shift, tuple(s.requant.clamp)) if s.requant else None for s in p.stages]
        m.submodules.loader = loader = InputLoader(p)
        m.submodules.sequencer = seq = Sequencer(p)
        m.submodules.macs = macs = MacArray(p)
        m.submodules.requant = rq = Requantiser(tag_layout(p), p.acc_bits, p.max_pc, settings)
        m.submodules.writeback = wb = MaxPoolWriteBack(p, rq.width)
        m.submodules.argmax = argmax = Argmax(p.n_classes, p.logit_bits)

        wiring.connect(m, wiring.flipped(self.beats), loader.beats)
        wiring.connect(m, loader.buffer, seq.buffer)
        wiring.connect(m, seq.stage, macs.stage, rq.select, wb.stage)
        wiring.connect(m, seq.issue, macs.issue)
        for rd, port in zip(macs.reads[0], loader.read):
            wiring.connect(m, rd, port)
        for i in range(1, len(p.stages)):  # stage i's input: written by the write-back of stage i - 1
            m.submodules[f"map{i}"] = banks = Banks(*stage_memory(p, i))
            for b in range(banks.count):
                wiring.connect(m, macs.reads[i][b], banks.read[b])
                wiring.connect(m, wb.write_ports(i)[b], banks.write[b])
        wiring.connect(m, macs.sums, rq.inp)
        wiring.connect(m, rq.out, wb.inp)
        wiring.connect(m, wb.logits, argmax.logits)
        wiring.connect(m, seq.argmax, argmax.control)
        wiring.connect(m, argmax.result, wiring.flipped(self.result))
        return m
