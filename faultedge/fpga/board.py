"""FPGA board profiles: `faultedge/boards/fpga/<name>.toml` plus one pin file each, validated.

A profile names the device for the tools, the board clock, the first place-and-route target,
the UART and LEDs, the device's capacity (for the fit verdict before place and route) and its
pin constraint file (.lpf for ECP5, .pcf for iCE40, .xdc for Xilinx). Pin files use the port
names of faultedge.fpga.top (clk_in or clk_in_p/clk_in_n, uart_rx, uart_tx, led[i], and on boards
with an `adc_note` the SPI ADC's adc_cs, adc_sclk, adc_miso on a header); the clock constraint
itself is generated from `clock_mhz`, so the frequency has one home.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faultedge.boards import board_file, list_boards, load_board
from faultedge.errors import FaultedgeError

FAMILIES = ("ecp5", "ice40", "xilinx")
CONSTRAINT_SUFFIX = {"ecp5": ".lpf", "ice40": ".pcf", "xilinx": ".xdc"}
ICE40_PLLS = ("SB_PLL40_PAD", "SB_PLL40_CORE")

# field: (type, required for these families)
_FIELDS: dict[str, tuple[type | tuple[type, ...], tuple[str, ...]]] = {
    "description": (str, FAMILIES),
    "family": (str, FAMILIES),
    "device": (str, FAMILIES),
    "constraints": (str, FAMILIES),
    "clock_mhz": ((int, float), FAMILIES),
    "target_mhz": ((int, float), FAMILIES),
    "baud": (int, FAMILIES),
    "leds": (int, FAMILIES),
    "led_active_low": (bool, FAMILIES),
    "uart_note": (str, FAMILIES),
    "capacity": (dict, FAMILIES),
    "nextpnr_device": (str, ("ecp5", "ice40")),
    "package": (str, ("ecp5", "ice40")),
    "speed": (str, ("ecp5",)),
    "pll": (str, ("ice40",)),
    "part": (str, ("xilinx",)),
    "clock_differential": (bool, ()),
    "adc_note": (str, ()),
}
CAPACITY_KEYS = ("lut", "ff", "dsp", "bram")


class BoardError(FaultedgeError):
    """An unknown FPGA board or a malformed profile."""


@dataclass(frozen=True)
class FpgaBoard:
    name: str
    description: str
    family: str  # ecp5 | ice40 | xilinx
    device: str
    constraints: str  # pin file next to the profile
    clock_mhz: float  # board oscillator
    target_mhz: float  # first place-and-route target (Xilinx: the core clock Vivado must meet)
    baud: int
    leds: int
    led_active_low: bool
    uart_note: str
    capacity: dict[str, int]
    nextpnr_device: str = ""
    package: str = ""
    speed: str = ""
    pll: str = ""
    part: str = ""
    clock_differential: bool = False
    adc_note: str = ""  # where the SPI ADC source's pins are (empty: the board has none)

    @property
    def pin_text(self) -> str:
        return board_file("fpga", self.constraints).read_text(encoding="utf-8")


def fpga_boards() -> list[str]:
    return list_boards("fpga")


def load_fpga_board(name: str) -> FpgaBoard:
    """The validated profile; every problem names the profile file and the field."""
    try:
        raw = load_board("fpga", name)
    except FaultedgeError as exc:
        raise BoardError(str(exc)) from None
    return parse_profile(name, raw, where=str(board_file("fpga", f"{name}.toml")))


def parse_profile(name: str, raw: dict[str, Any], where: str) -> FpgaBoard:
    raw = {k: v for k, v in raw.items() if k != "name"}
    family = raw.get("family")
    if family not in FAMILIES:
        raise BoardError(f"{where}: family: expected one of {', '.join(FAMILIES)}, got {family!r}")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise BoardError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(_FIELDS)}")
    for key, (typ, required_for) in _FIELDS.items():
        if key not in raw:
            if family in required_for:
                raise BoardError(f"{where}: {key}: missing (required for {family} boards)")
            continue
        value = raw[key]
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise BoardError(f"{where}: {key}: expected {_type_name(typ)}, got {value!r}")
    for key in ("clock_mhz", "target_mhz", "baud"):
        if raw[key] <= 0:
            raise BoardError(f"{where}: {key}: must be positive, got {raw[key]!r}")
    if raw["leds"] < 0:
        raise BoardError(f"{where}: leds: must be >= 0, got {raw['leds']!r}")
    cap = raw["capacity"]
    for key in CAPACITY_KEYS:
        if not isinstance(cap.get(key), int) or isinstance(cap.get(key), bool) or cap[key] < 0:
            raise BoardError(f"{where}: capacity.{key}: expected a count >= 0, got {cap.get(key)!r}")
    if family == "ice40" and raw["pll"] not in ICE40_PLLS:
        raise BoardError(f"{where}: pll: expected one of {', '.join(ICE40_PLLS)}, got {raw['pll']!r}")
    constraints = raw["constraints"]
    if not constraints.endswith(CONSTRAINT_SUFFIX[family]):
        raise BoardError(f"{where}: constraints: a {family} board needs a {CONSTRAINT_SUFFIX[family]} pin file, got {constraints!r}")
    if not board_file("fpga", constraints).is_file():
        raise BoardError(f"{where}: constraints: pin file {board_file('fpga', constraints)} not found")
    return FpgaBoard(name=name, **{**raw, "clock_mhz": float(raw["clock_mhz"]), "target_mhz": float(raw["target_mhz"]),
                                   "capacity": {k: cap[k] for k in CAPACITY_KEYS}})


def _type_name(typ: type | tuple[type, ...]) -> str:
    names = {int: "an integer", float: "a number", str: "a string", bool: "true/false", dict: "a table"}
    return " or ".join(names[t] for t in (typ if isinstance(typ, tuple) else (typ,)))
