"""Analytic cycle model of the accelerator; `faultedge sim` checks it against Verilator exactly.

Per inference the sequencer spends one cycle noticing a full input buffer, then for every stage
its issue cycles (one chunk per cycle) plus the pipeline drain before the next stage may read
what this one wrote, then one cycle per class for the argmax and one to hand the result to the
output registers. Loading streams one beat per cycle into the other input buffer meanwhile, so
back to back inferences come every max(load, compute) cycles.

The image engine (MKW-Net) has the same frame: one cycle to notice the image, its phases
(`ImagePlan.cycle_phases`: attention FCs, normalisation, kernel assembly and convolution per
block, then the head), the argmax and the hand-off; its input memory is single-buffered, so
back to back images come every load + compute cycles.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from faultedge.hdl.accel import POST_ACC, PRE_TREE
from faultedge.hdl.image_plan import ImagePlan
from faultedge.hdl.plan import Plan, Stage, plan
from faultedge.ir import IRModel


@dataclass(frozen=True)
class CycleModel:
    load: int  # input beats per inference (one per cycle)
    compute: int  # sequencer cycles per inference, buffer noticed -> result registered
    per_inference: int  # steady-state cycles between results, inputs and outputs never stalled
    latency_first: int  # cycles from the first accepted input beat to out_valid, engine idle
    latency_last: int  # cycles from the last accepted input beat to out_valid
    bound: int  # max(MACs / lanes, n_inputs / beat), rounded up
    stages: tuple[int, ...]  # cycles per stage (issue + drain)

    def to_dict(self) -> dict:
        return asdict(self)


def stage_cycles(s: Stage) -> int:
    return s.issue_cycles + PRE_TREE + s.tree_levels + POST_ACC


def model(p: Plan | ImagePlan) -> CycleModel:
    """The 1-D engine overlaps loading with compute (double-buffered input); the image engine,
    single-buffered, takes the next image only after handing off the result."""
    image = isinstance(p, ImagePlan)
    stages = tuple(c for _, c in p.cycle_phases()) if image else tuple(stage_cycles(s) for s in p.stages)
    load = p.n_inputs // p.beat
    compute = 1 + sum(stages) + p.n_classes + 1
    return CycleModel(
        load=load,
        compute=compute,
        per_inference=load + compute if image else max(load, compute),
        latency_first=load - 1 + compute,
        latency_last=compute,
        bound=lower_bound_of(p),
        stages=stages,
    )


def lower_bound_of(p: Plan | ImagePlan) -> int:
    macs = p.lane_macs if isinstance(p, ImagePlan) else p.macs
    return max(-(-macs // p.lanes), p.n_inputs // p.beat)


def cycles_per_inference(ir: IRModel, lanes: int, beat: int = 1) -> int:
    """Steady-state cycles between results for `ir` on `lanes` MAC lanes and `beat` inputs per beat."""
    return model(plan(ir, lanes, beat)).per_inference


def lower_bound(ir: IRModel, lanes: int, beat: int = 1) -> int:
    """No design with `lanes` multipliers and `beat` inputs per cycle can beat this."""
    return lower_bound_of(plan(ir, lanes, beat))
