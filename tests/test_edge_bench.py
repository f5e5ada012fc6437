"""The benchmark's structure (not its timings: those are benchmarks/latency.py's job)."""

from __future__ import annotations

import json

from faultedge.tables import print_table
from faultedge.edge.bench import EAGER, TABLE, BenchConfig, bench, table_rows
from faultedge.runs import write_json


def test_bench_compares_every_path_and_slots_in_an_accelerator(edge_run, capsys):
    run, _ = edge_run
    write_json(run / "fpga" / "ecp5-85f" / "report.json", {"cycles_per_inference": 1100, "fmax_mhz": 100.0, "bits": 8})
    try:
        result = bench(run, BenchConfig(repeats=40, warmup=5, rounds=2, batch=16, batch_repeats=2, all_threads=2))
    finally:
        (run / "fpga" / "ecp5-85f" / "report.json").unlink()
    rows = {(r["engine"], r["precision"], r["scope"], r["threads"]): r for r in result["rows"]}
    for scope in ("end to end", "model only", "features only"):  # ratios are against the best eager configuration
        assert max(rows[(EAGER, "fp32", scope, t)]["vs_eager"] for t in (1, 2)) == 1.0
    for threads in (1, 2):
        for scope in ("end to end", "model only"):
            for precision in ("fp32", "int8"):
                r = rows[("ORT", precision, scope, threads)]
                assert 0 < r["p50_us"] <= r["p90_us"] <= r["p99_us"] and r["throughput_per_s"] > 0 and r["vs_eager"] > 0
        for precision in ("fp32", "int8"):
            assert ("ORT graph-DFT", precision, "end to end", threads) in rows
    fpga = rows[("FPGA ecp5-85f", "int8", "model only", None)]
    assert fpga["p50_us"] == fpga["p99_us"] == 11.0 and fpga["throughput_per_s"] == 100e6 / 1100
    assert fpga["vs_eager"] == min(rows[(EAGER, "fp32", "model only", t)]["p50_us"] for t in (1, 2)) / 11.0
    assert json.loads((run / "bench" / "report.json").read_text())["rows"] == result["rows"]
    print_table(table_rows(result), TABLE)
    out = capsys.readouterr().out
    assert "FPGA ecp5-85f int8" in out and "x best eager (p50)" in out and "ORT graph-DFT int8" in out
