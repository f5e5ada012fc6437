"""The whole front end as one component: raw samples in, the network's inputs out, each with its address.

    samples -> window buffer -> FFT (pairs in, bins out) -> magnitude -> normalisation -> features

Each part is the architecture's (faultedge.hdl.frontend.plan.COMPONENTS):

    pipelined   WindowBuffer (block RAM)   PipelinedFFT (maia-hdl R2SDF)   Magnitude (a pipeline)   Normalise (a pipeline)
    iterative   SpramWindowBuffer (SPRAM)  IterativeFFT (one MAC, SPRAM)   SerialMagnitude          SerialNormalise
                                                                            (one multiplier each, a bin at a time)

The fft+envelope features add two parts to either chain: the squarer after the window buffer
(which sends each window twice; the second burst leaves squared, and its gain goes to the
normalisation through a small FIFO) and the feature blocks after the magnitude:

    samples -> window buffer -> squarer -> FFT -> magnitude -> feature blocks -> normalisation -> features
                                   `-- gains (FIFO) ------------------------------^

The sample-in accelerator (faultedge.hdl.accel.SampleAccelerator) puts it before the 1-D engine's
input memory; `faultedge hdl` also writes it alone (hdl/faultedge_frontend.v), so `faultedge fpga
build` can report the front end's resources apart from the engine's.
"""

from __future__ import annotations

import importlib

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.streams import features_signature, samples_signature
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.ir.frontend import GAIN_MAX


def part(fp: FrontEndPlan, name: str, *args: int) -> wiring.Component:
    """One part of the design point's chain ("window", "squarer", "fft", "magnitude", "blocks" or "normalise"), built from the plan."""
    module, attr = fp.component(name).split(":")
    return getattr(importlib.import_module(module), attr)(fp, *args)


class FrontEndChain(wiring.Component):
    def __init__(self, fp: FrontEndPlan, input_bits: int) -> None:
        self.fp, self.input_bits = fp, input_bits
        super().__init__({"samples": In(samples_signature(fp.sample_bits)), "features": Out(features_signature(fp.points, input_bits))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        m.submodules.window = window = part(fp, "window")
        m.submodules.fft = fft = part(fp, "fft")
        m.submodules.magnitude = mag = part(fp, "magnitude")
        m.submodules.normalise = norm = part(fp, "normalise", self.input_bits)
        wiring.connect(m, wiring.flipped(self.samples), window.samples)
        if fp.envelope:
            m.submodules.squarer = squarer = part(fp, "squarer")
            m.submodules.blocks = blocks = part(fp, "blocks")
            m.submodules.gains = gains = SyncFIFOBuffered(width=GAIN_MAX.bit_length(), depth=fp.gains_queue)
            wiring.connect(m, window.pairs, squarer.window_pairs)
            wiring.connect(m, squarer.pairs, fft.pairs)
            wiring.connect(m, fft.bins, mag.bins)
            wiring.connect(m, mag.mags, blocks.mags)
            wiring.connect(m, blocks.values, norm.mags)
            wiring.connect(m, squarer.gains, gains.w_stream)
            wiring.connect(m, gains.r_stream, norm.gains)
        else:
            wiring.connect(m, window.pairs, fft.pairs)
            wiring.connect(m, fft.bins, mag.bins)
            wiring.connect(m, mag.mags, norm.mags)
        wiring.connect(m, norm.features, wiring.flipped(self.features))
        return m
