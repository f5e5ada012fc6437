"""The 1-D engine: one P-lane MAC array, reused by every stage of a `faultedge.hdl.plan.Plan`.

    beats -> InputLoader (double-buffered) -> MacArray -> Requantiser -> MaxPoolWriteBack -> Argmax -> result
                           Sequencer: stage select, issue (tag + addresses), buffer hand-back, argmax start

The components are in faultedge.hdl.components (mac1d.py has the pipeline's cycle-by-cycle
picture). Stages run back to back with the pipeline drained in between (the next stage reads
what this one wrote), so the cycle count is exact and data-independent (faultedge.hdl.cycles).
The input memory is double-buffered: the next window streams in while the current one is computed.

The sample-in accelerator puts the front end (faultedge.hdl.frontend) before the same engine:

    samples -> FrontEndChain (window buffer, FFT, magnitude, normalisation) -> FeatureLoader -> engine -> result
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring

from faultedge.hdl.components.argmax import Argmax
from faultedge.hdl.components.common import Banks
from faultedge.hdl.components.mac1d import FeatureLoader, InputLoader, MacArray, MaxPoolWriteBack, Sequencer, stage_memory, tag_layout
from faultedge.hdl.components.requant import Requantiser
from faultedge.hdl.components.streams import StreamAccelerator, sample_accelerator_signature
from faultedge.hdl.frontend.chain import FrontEndChain
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.plan import Plan


def join_engine(m: Module, p: Plan, loader: InputLoader | FeatureLoader) -> Argmax:
    """The engine behind an input loader: sequencer, MAC array, requantiser, write-back, argmax (whose result stream is returned)."""
    settings = [(s.requant.shift, tuple(s.requant.clamp)) if s.requant else None for s in p.stages]
    m.submodules.sequencer = seq = Sequencer(p)
    m.submodules.macs = macs = MacArray(p)
    m.submodules.requant = rq = Requantiser(tag_layout(p), p.acc_bits, p.max_pc, settings)
    m.submodules.writeback = wb = MaxPoolWriteBack(p, rq.width)
    m.submodules.argmax = argmax = Argmax(p.n_classes, p.logit_bits)
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
    return argmax


class Accelerator(StreamAccelerator):
    """The 1-D engine: stream in a window, stream out the class and all logits."""

    def elaborate(self, platform) -> Module:
        m = Module()
        m.submodules.loader = loader = InputLoader(self.plan)
        wiring.connect(m, wiring.flipped(self.beats), loader.beats)
        argmax = join_engine(m, self.plan, loader)
        wiring.connect(m, argmax.result, wiring.flipped(self.result))
        return m


class SampleAccelerator(StreamAccelerator):
    """Raw samples in, one result (class and logits) per hop out: the front end writes each window's
    inputs straight into the 1-D engine's input memory, and the engine runs as for a feature window."""

    def __init__(self, plan: Plan, fp: FrontEndPlan) -> None:
        self.fp = fp
        super().__init__(plan, sample_accelerator_signature(sample_bits=fp.sample_bits, n_classes=plan.n_classes, logit_bits=plan.logit_bits))

    sample_bits = property(lambda self: self.fp.sample_bits)
    window = property(lambda self: self.fp.window)
    hop = property(lambda self: self.fp.hop)

    def elaborate(self, platform) -> Module:
        m = Module()
        p = self.plan
        m.submodules.frontend = frontend = FrontEndChain(self.fp, p.input_bits)
        m.submodules.loader = loader = FeatureLoader(p)
        wiring.connect(m, wiring.flipped(self.samples), frontend.samples)
        wiring.connect(m, frontend.features, loader.features)
        argmax = join_engine(m, p, loader)
        wiring.connect(m, argmax.result, wiring.flipped(self.result))
        return m
