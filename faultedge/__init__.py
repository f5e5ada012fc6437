"""faultedge: small fault-diagnosis networks from PyTorch to a bit-exact FPGA accelerator and edge devices."""

__version__ = "0.1.0"
