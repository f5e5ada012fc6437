"""Bit-exact verification of the generated accelerator: cocotb testbench (tb), Verilator runner with
cached builds (runner), comparison with the golden model (verify) and the run-directory report (report)."""
