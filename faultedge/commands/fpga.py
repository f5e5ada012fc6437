"""`faultedge fpga build RUN`: the Verilog `faultedge hdl` wrote, in a board top, to a bitstream and report.json."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faultedge.fpga.spi_adc import AdcSettings

ADC_ARGS = {"rate_hz": "adc_rate", "width": "adc_width", "mode": "adc_mode", "lead": "adc_lead", "coding": "adc_coding", "sclk_hz": "adc_sclk"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fpga",
        help="build the generated accelerator for an FPGA board (bitstream, resources, Fmax, latency) or list the boards",
        description="FPGA builds of the accelerator that `faultedge hdl` generated (hdl/faultedge_accel.v and its design point, "
        "hdl/design.json): the board top instantiates it with a UART host interface and a PLL core clock. ECP5 and iCE40 boards go "
        "through yosys, nextpnr and ecppack/icepack to a bitstream; the core clock follows the Fmax that place and route achieves. "
        "Xilinx boards get a yosys resource estimate and a Vivado project script + XDC. Writes RUN/fpga/BOARD/report.json.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = actions.add_parser("build", help="build for one board", description=p.description)
    b.add_argument("run", help="run directory with hdl/ (`faultedge hdl RUN --lanes P --beat B`)")
    b.add_argument("--board", help="board profile (faultedge fpga boards lists them; default: the design point's board)")
    b.add_argument("--clock-mhz", type=float, help="fixed core clock: one place-and-route pass, no bitstream unless timing is met")
    b.add_argument("--target-mhz", type=float, help="first pass's core clock when following Fmax (default: the profile's)")
    b.add_argument("--baud", type=int, help="UART baud rate (default: the profile's)")
    b.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    b.add_argument("--pnr-budget-min", type=float, help="stop place and route after this many minutes over all passes, keeping "
                   "the fastest pass that met timing (default: no limit)")
    a = b.add_argument_group("sample source", "where a sample-in design's raw samples come from (docs/fpga.md: the SPI ADC source)")
    a.add_argument("--source", choices=("uart", "spi"), default="uart",
                   help="uart: the host streams samples (or windows) over the UART; spi: an SPI ADC on the board's header feeds the "
                   "accelerator and the UART only carries the replies (default: uart)")
    a.add_argument("--adc-rate", type=float, metavar="HZ",
                   help="samples per second, the rate the network was trained at (required with --source spi)")
    a.add_argument("--adc-width", type=int, metavar="N", help="the converter's data bits, 12..24 (default: 16)")
    a.add_argument("--adc-mode", type=int, metavar="M", help="SPI mode 0..3: CPOL = M >> 1, CPHA = M & 1 (default: 0)")
    a.add_argument("--adc-lead", type=int, metavar="N", help="bits the converter sends before the MSB (default: 0)")
    a.add_argument("--adc-coding", metavar="twos|offset", help="two's complement or offset (straight) binary (default: twos)")
    a.add_argument("--adc-cs-active-high", action="store_true", help="chip select is active high (default: active low)")
    a.add_argument("--adc-sclk", type=float, metavar="HZ", help="the fastest SCLK the converter takes (default: 1e6)")
    b.set_defaults(func=run_build)
    ls = actions.add_parser("boards", help="list the FPGA board profiles")
    ls.set_defaults(func=run_boards)


def run_build(args: argparse.Namespace) -> int:
    from faultedge.flow.config import FlowConfig
    from faultedge.flow.runner import run_step
    from faultedge.fpga.build import BuildOptions
    from faultedge.hdl.design import read_design
    from faultedge.runs import RunDir

    run_dir = RunDir(args.run)
    opts = BuildOptions(clock_mhz=args.clock_mhz, target_mhz=args.target_mhz, baud=args.baud, seed=args.seed, adc=_adc(args),
                        pnr_budget_min=args.pnr_budget_min)
    run_step(run_dir, FlowConfig(network=read_design(run_dir).network, fpga=opts, fpga_board=args.board), "fpga")
    return 0


def _adc(args: argparse.Namespace) -> AdcSettings | None:
    """The SPI ADC settings of --source spi (None for the UART source); --adc-* without it is refused."""
    from faultedge.errors import FaultedgeError
    from faultedge.fpga.spi_adc import AdcSettings

    given = {field: getattr(args, arg) for field, arg in ADC_ARGS.items() if getattr(args, arg) is not None}
    if args.adc_cs_active_high:
        given["cs_active_low"] = False
    if args.source == "uart":
        if given:
            raise FaultedgeError("--adc-* options set the SPI ADC source: add --source spi")
        return None
    if "rate_hz" not in given:
        raise FaultedgeError("--source spi needs --adc-rate HZ (the sample rate the network was trained at)")
    return AdcSettings(**given)


def run_boards(args: argparse.Namespace) -> int:
    from faultedge.fpga.board import fpga_boards, load_fpga_board

    for name in fpga_boards():
        b = load_fpga_board(name)
        print(f"{name:14s} {b.family:6s} {b.description}")
    return 0
