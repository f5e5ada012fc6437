"""The runner that chains named steps on one run directory.

`faultedge run` and `faultedge demo` are lists of steps (faultedge.flow.steps) run by `run_steps`;
every single command (`faultedge quantize`, `hdl`, ...) runs one of them with `run_step`.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

from faultedge.errors import FaultedgeError
from faultedge.flow.config import FlowConfig
from faultedge.flow.steps import STEPS, Report, StepFailed
from faultedge.runs import RunDir

def select_steps(network_steps: Sequence[str], steps: Sequence[str] | None = None, start: str | None = None, stop: str | None = None) -> list[str]:
    """The steps to run, in flow order: the family's steps, or those named, cut to start..stop."""
    known = list(network_steps)
    for name in [*(steps or ()), *(s for s in (start, stop) if s)]:
        if name not in STEPS:
            raise FaultedgeError(f"unknown step {name!r}; the steps are {', '.join(STEPS)}")
        if name not in known:
            raise FaultedgeError(f"step {name!r} does not apply to this network; its steps are {', '.join(known)}")
    chosen = [s for s in known if steps is None or s in steps]
    lo = known.index(start) if start else 0
    hi = known.index(stop) if stop else len(known) - 1
    chosen = [s for s in chosen if lo <= known.index(s) <= hi]
    if not chosen:
        raise FaultedgeError(f"no steps left to run between {start or known[0]!r} and {stop or known[-1]!r}")
    return chosen


def run_step(run: RunDir, cfg: FlowConfig, name: str, log: Callable[[str], None] = print) -> Report:
    """One step: its report, its summary logged; a report that means failure raises StepFailed after the summary."""
    step = STEPS[name]
    if name not in cfg.family.steps:
        raise FaultedgeError(f"step {name!r} does not apply to {cfg.family.title}; its steps are {', '.join(cfg.family.steps)}")
    report = step.run(run, cfg)
    for line in step.summary(report, cfg):
        log(line)
    reason = step.failure(report)
    if reason:
        raise StepFailed(f"{name}: {reason}")
    return report


def run_steps(run: RunDir, cfg: FlowConfig, names: Sequence[str], log: Callable[[str], None] = print) -> dict[str, Report]:
    """Run the named steps in order, numbered and timed, each printed with the command that repeats it alone."""
    t0 = time.perf_counter()
    reports = {}
    for n, name in enumerate(names, 1):
        step = STEPS[name]
        log(f"[{n}/{len(names)}] {step.title}   ($ {step.command(run, cfg)})")
        t = time.perf_counter()
        reports[name] = run_step(run, cfg, name, lambda line: log(f"      {line}"))
        log(f"      done in {time.perf_counter() - t:.0f} s")
    log(f"{len(names)} steps in {time.perf_counter() - t0:.0f} s; run directory: {run.path}")
    return reports
