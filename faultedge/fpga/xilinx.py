"""Xilinx boards: a Vivado project script (TCL) and XDC that build the bitstream where Vivado exists.

The script creates a project, synthesises, implements and writes the bitstream, writes the
utilisation and timing reports, and stops with an error when the core clock's timing is not
met, so a user never gets a bitstream that runs faster than it may.
"""

from __future__ import annotations

from faultedge.fpga.board import FpgaBoard
from faultedge.fpga.flow import SOURCES
from faultedge.fpga.top import TOP_NAME


def build_tcl(board: FpgaBoard, xdc_name: str = "board.xdc", jobs: int = 4) -> str:
    """The Vivado batch script: `vivado -mode batch -source build.tcl` in the directory that holds it."""
    sources = " ".join(f"$here/{name}" for name in SOURCES)
    return f"""\
# faultedge: Vivado project for {board.description}
# Run in this directory:  vivado -mode batch -source build.tcl
set here [file dirname [file normalize [info script]]]
create_project -force faultedge_{board.name.replace('-', '_')} $here/vivado -part {board.part}
add_files -norecurse {sources}
add_files -fileset constrs_1 -norecurse $here/{xdc_name}
set_property top {TOP_NAME} [current_fileset]
launch_runs synth_1 -jobs {jobs}
wait_on_run synth_1
if {{[get_property PROGRESS [get_runs synth_1]] != "100%"}} {{ error "synthesis failed" }}
launch_runs impl_1 -to_step route_design -jobs {jobs}
wait_on_run impl_1
open_run impl_1
report_utilization -file $here/utilization.rpt
report_timing_summary -file $here/timing.rpt
set wns [get_property SLACK [get_timing_paths -max_paths 1 -nworst 1 -setup]]
puts "faultedge: worst setup slack $wns ns"
if {{$wns < 0}} {{ error "timing not met (WNS $wns ns): rebuild with a lower --clock-mhz" }}
write_bitstream -force $here/{TOP_NAME}.bit
puts "faultedge: wrote $here/{TOP_NAME}.bit"
"""
