"""Ray for faultedge's many-run jobs (the sweep's design points, a benchmark's seeds): start it embedded or join
a cluster, run one task per call, and hand each result back as it finishes.

Ray starts embedded (no dashboard, quiet) unless an address joins an existing cluster. A task asks
for `cpus_per_task` CPUs, so Ray never runs more tool or torch threads than the cluster has cores.
Ctrl-C cancels the tasks still pending (not forced: the task's KeyboardInterrupt stops the tool it
waits for, as subprocess.run kills its child) and keeps every result already handed back.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm import tqdm

from faultedge.errors import FaultedgeError

CANCEL_WAIT_S = 15.0  # how long Ctrl-C waits for cancelled tasks to stop their tools before Ray shuts down


@dataclass(frozen=True)
class Shared:
    """An argument of `run_tasks` put in Ray's object store once (`shared[key]`) and passed to every call that holds it."""

    key: Any


def connect(address: str | None, cpus: int | None, cpus_per_task: int) -> dict[str, Any]:
    """Start Ray embedded with `cpus` (default: all cores) or join the cluster at `address`; refuse tasks no node could run."""
    import ray

    if cpus_per_task < 1:
        raise FaultedgeError(f"--threads must be >= 1, got {cpus_per_task}")
    if address:
        if cpus is not None:
            raise FaultedgeError("--cpus sizes the embedded Ray; a cluster's CPUs are those its nodes were started with")
        if _auth_token_available():  # as `ray start --head` does: a head started where a token exists requires it
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        try:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except (ConnectionError, RuntimeError) as exc:
            raise FaultedgeError(f"cannot join the Ray cluster at {address}: {exc}; start it with `ray start --head --port=PORT`") from None
        mode = f"cluster at {address}"
    else:
        n = cpus or os.cpu_count() or 1
        if n < cpus_per_task:
            raise FaultedgeError(f"--threads {cpus_per_task} is more than the {n} CPUs of the embedded Ray (--cpus)")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(address="local", num_cpus=n, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
        mode = "embedded"
    nodes = [node for node in ray.nodes() if node["Alive"]]
    largest = max((node["Resources"].get("CPU", 0) for node in nodes), default=0)
    if largest < cpus_per_task:
        ray.shutdown()
        raise FaultedgeError(f"--threads {cpus_per_task}: no node of the Ray cluster has that many CPUs (the largest has {largest:g})")
    return {"mode": mode, "nodes": len(nodes), "cpus": sum(node["Resources"].get("CPU", 0) for node in nodes)}


def _auth_token_available() -> bool:
    """Ray's token (docs/sweep.md): RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, which Ray >= 2.59 writes
    when it starts a local cluster; Ray turns token authentication on by itself only for a cluster it finds, not an address."""
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH") or (Path.home() / ".ray" / "auth_token").is_file())


def run_tasks(fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]], cpus_per_task: int, on_done: Callable[[int, Any], str],
              on_cancel: Callable[[list[int]], None], shared: dict[Any, Any] | None = None, done_before: int = 0,
              progress: bool = True, log: Callable[[str], None] = print) -> None:
    """`fn(*call)` for every call as a Ray task (on the Ray `connect` started; shut down at the end). `on_done(i, result)`
    runs on the driver as call i finishes and returns a line for the log; a task whose worker died hands back the
    exception as its result. A `Shared(key)` argument is `shared[key]`, put in Ray's object store once for all calls.
    On Ctrl-C, `on_cancel(indices)` gets the calls that did not finish."""
    import ray

    try:
        refs = {k: ray.put(v) for k, v in (shared or {}).items()}
        task = ray.remote(num_cpus=cpus_per_task)(fn)
        pending = {task.remote(*(refs[a.key] if isinstance(a, Shared) else a for a in call)): i for i, call in enumerate(calls)}
        with tqdm(total=done_before + len(calls), initial=done_before, unit="task", desc="ray", disable=not progress) as bar:
            try:
                while pending:
                    done, _ = ray.wait(list(pending), num_returns=1)
                    i = pending.pop(done[0])
                    try:
                        result = ray.get(done[0])
                    except Exception as exc:  # the worker died (out of memory, killed): the caller records why
                        result = exc
                    line = on_done(i, result)
                    bar.update()
                    (tqdm.write if progress else log)(line)
            except KeyboardInterrupt:
                for ref in pending:
                    ray.cancel(ref)
                if pending:
                    ray.wait(list(pending), num_returns=len(pending), timeout=CANCEL_WAIT_S)
                on_cancel(sorted(pending.values()))
                raise
    finally:
        ray.shutdown()
