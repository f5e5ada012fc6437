"""Exceptions that carry a message meant for the user.

The CLI prints these without a traceback; anything else is a bug and keeps its traceback.
"""


class FaultedgeError(Exception):
    """Base class of every error faultedge raises on purpose."""


class DataError(FaultedgeError):
    """Input data (a .mat file, a data directory, a window array) is missing or malformed."""


class RunDirError(FaultedgeError):
    """A run directory lacks what a stage needs, or holds something unreadable."""


class IRError(FaultedgeError):
    """An integer IR file is malformed, foreign, or uses something the consumer does not support."""


class ToolTimeout(FaultedgeError):
    """A tool ran past the time budget it was given (and was stopped)."""


class ToolError(FaultedgeError):
    """An external tool (Verilator, yosys, nextpnr, ...) is missing or failed."""
