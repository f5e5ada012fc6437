"""Bit-exact verification of the generated accelerator: cocotb testbench (tb), Verilator runner with
cached builds (runner), comparison with the golden model (verify) and the run-directory report (report);
a sample-in accelerator's raw sample stream (samples)."""

DEFAULT_WINDOWS = 1000  # windows of the raw sample stream `faultedge sim` checks on a sample-in design
