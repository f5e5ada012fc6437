"""The accelerator generator: integer IR -> Amaranth component -> deterministic Verilog.

    plan(ir, lanes, beat, engine)              the engine's schedule (pure Python; engines.py lists the engines)
    build_accelerator(ir, lanes, beat, engine) the Amaranth component
    generate_verilog(ir, lanes, beat, engine)  its Verilog text; the same IR and options give the same bytes
    faultedge.hdl.cycles                       the analytic cycle model (reads the plan only)
    faultedge.hdl.design                       the design point a run's hdl/ folder was generated for
"""

from faultedge.hdl.engines import DEFAULT_ENGINE, ENGINES, build_accelerator, engine, generate_verilog, plan

__all__ = ["DEFAULT_ENGINE", "ENGINES", "build_accelerator", "engine", "generate_verilog", "plan"]
