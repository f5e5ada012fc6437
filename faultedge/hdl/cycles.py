"""Analytic cycle model of the engines; `faultedge sim` checks it against Verilator exactly.

Per inference the sequencer spends one cycle noticing a full input buffer, then every phase of
the plan (`StreamPlan.cycle_phases`: for the 1-D engine each stage's issue cycles plus the
pipeline drain before the next stage may read what this one wrote; for the image engine the
attention FCs, normalisation, kernel assembly and convolution per block, then the head), then
one cycle per class for the argmax and one to hand the result to the output registers.

A double-buffered engine (the 1-D one) streams the next input in while it computes, so back to
back inferences come every max(load, compute) cycles; a single-buffered one (the image engine)
takes the next input only after handing off the result: every load + compute cycles.

A sample-in design (faultedge.hdl.frontend.plan) adds its front end: from a window's last sample to
the engine's full input buffer (`FrontEndPlan.latency_to_features`, which depends on the sample rate:
a burst starts early when samples come fast), then the engine's compute; and
per hop the window buffer takes `hop` samples (one per cycle at most), the FFT runs one frame of M
steps and the split emits M bins (one per cycle each; the iterative FFT: its load, stages and split,
`FrontEndPlan.fft_period`), and the engine computes one window, all overlapping: the slowest of them
sets the cycles per hop at the highest sustained sample rate.

Reads the plan only: no Amaranth here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from faultedge.hdl.frontend.plan import FrontEndPlan
from faultedge.hdl.stream_plan import StreamPlan


@dataclass(frozen=True)
class CycleModel:
    load: int  # input beats per inference (one per cycle)
    compute: int  # sequencer cycles per inference, buffer noticed -> result registered
    per_inference: int  # steady-state cycles between results, inputs and outputs never stalled
    latency_first: int  # cycles from the first accepted input beat to out_valid, engine idle
    latency_last: int  # cycles from the last accepted input beat to out_valid
    bound: int  # max(MACs on the lanes / lanes, n_inputs / beat), rounded up
    stages: tuple[int, ...]  # cycles per phase

    def to_dict(self) -> dict:
        return asdict(self)


def model(p: StreamPlan) -> CycleModel:
    stages = tuple(c for _, c in p.cycle_phases())
    load = p.n_inputs // p.beat
    compute = 1 + sum(stages) + p.n_classes + 1
    return CycleModel(
        load=load,
        compute=compute,
        per_inference=max(load, compute) if p.double_buffered else load + compute,
        latency_first=load - 1 + compute,
        latency_last=compute,
        bound=max(-(-p.lane_macs // p.lanes), load),
        stages=stages,
    )


@dataclass(frozen=True)
class FrontEndCycles:
    window: int
    hop: int
    to_features: int  # a window's last sample accepted -> its last input written into the engine's memory
    compute: int  # the engine: buffer noticed -> result registered
    latency_last_sample: int  # a window's last sample accepted -> out_valid, front end and engine idle, one sample per cycle
    latency_slow_stream: int  # the same when samples come slower than one per M cycles (the burst follows the window): the most
    cycles_per_hop: int  # between results when samples come as fast as the design takes them
    samples_per_cycle: float  # the highest sustained sample rate, per clock cycle: hop / cycles_per_hop

    def to_dict(self) -> dict:
        return asdict(self)

    def samples_per_s(self, clock_mhz: float) -> float:
        return self.samples_per_cycle * clock_mhz * 1e6


def frontend_latency(fp: FrontEndPlan, p: StreamPlan, pace: int) -> int:
    """Cycles from a window's last sample accepted to out_valid, front end and engine idle, at one sample every `pace` cycles."""
    return fp.latency_to_features(pace) + model(p).compute


def frontend_model(fp: FrontEndPlan, p: StreamPlan) -> FrontEndCycles:
    compute = model(p).compute
    per_hop = max(fp.hop, fp.fft_period(), compute)
    to_features = fp.latency_to_features()
    slow = frontend_latency(fp, p, 2 * fp.points)
    return FrontEndCycles(fp.window, fp.hop, to_features, compute, to_features + compute, slow, per_hop, fp.hop / per_hop)
