"""The whole front end as one component: raw samples in, the network's inputs out, each with its address.

    samples -> WindowBuffer -> FFT (the architecture's: pairs in, bins out) -> Magnitude -> Normalise -> features

The sample-in accelerator (faultedge.hdl.accel.SampleAccelerator) puts it before the 1-D engine's
input memory; `faultedge hdl` also writes it alone (hdl/faultedge_frontend.v), so `faultedge fpga
build` can report the front end's resources apart from the engine's.
"""

from __future__ import annotations

import importlib

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from faultedge.hdl.components.streams import features_signature, samples_signature
from faultedge.hdl.frontend.magnitude import Magnitude
from faultedge.hdl.frontend.normalise import Normalise
from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.frontend.window import WindowBuffer


def fft_component(fp: FrontEndPlan) -> wiring.Component:
    """The FFT of the design point's architecture (faultedge.hdl.frontend.plan.FFT_COMPONENTS): pairs in, bins out."""
    module, cls = fp.fft_component.split(":")
    return getattr(importlib.import_module(module), cls)(fp)


class FrontEndChain(wiring.Component):
    def __init__(self, fp: FrontEndPlan, input_bits: int) -> None:
        self.fp, self.input_bits = fp, input_bits
        super().__init__({"samples": In(samples_signature(fp.sample_bits)), "features": Out(features_signature(fp.points, input_bits))})

    def elaborate(self, platform) -> Module:
        m = Module()
        fp = self.fp
        m.submodules.window = window = WindowBuffer(fp)
        m.submodules.fft = fft = fft_component(fp)
        m.submodules.magnitude = mag = Magnitude(fp)
        m.submodules.normalise = norm = Normalise(fp, self.input_bits)
        wiring.connect(m, wiring.flipped(self.samples), window.samples)
        wiring.connect(m, window.pairs, fft.pairs)
        wiring.connect(m, fft.bins, mag.bins)
        wiring.connect(m, mag.mags, norm.mags)
        wiring.connect(m, norm.features, wiring.flipped(self.features))
        return m
