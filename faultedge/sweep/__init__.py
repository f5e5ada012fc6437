"""Design-space exploration on Ray (`faultedge sweep`): lanes x bits x beat x boards x seeds, one Ray task per point.

    points.py  the grid, checked before anything runs, and the content hash of a point
    cache.py   finished points by that hash (RUN/sweep/cache/)
    tasks.py   Ray embedded or a cluster, one task per call, results as they finish (also benchmarks' seeds)
    runner.py  a point's task (hdl -> sim -> fpga build) and the driver that writes RUN/sweep/sweep.json
    report.py  the Pareto front, the markdown table (sweep.md) and the plot (sweep.png)

Ray is imported only when a point has to run, so a fully cached sweep needs no Ray at all.
"""

from faultedge.sweep.points import SweepPoint, grid
from faultedge.sweep.runner import SweepOptions, run_sweep

__all__ = ["SweepOptions", "SweepPoint", "grid", "run_sweep"]
