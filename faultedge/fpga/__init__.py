"""FPGA builds of the accelerator: board profiles, the board top (PLL, UART host interface),
the open flow (yosys, nextpnr, ecppack/icepack), Xilinx estimates with a Vivado project, reports.

    board.py     profiles in faultedge/boards/fpga/*.toml, validated
    protocol.py  the UART byte protocol and its host side (numpy only)
    uart.py      its hardware side around the accelerator
    spi_adc.py   the SPI ADC reader: the board top's other sample source
    clocks.py    PLL settings (ECP5, iCE40, 7-series MMCM)
    top.py       the board top and its Verilog
    flow.py      synthesis, fit verdict, place and route, packing
    xilinx.py    the Vivado project script
    build.py     `faultedge fpga build`: clock closure by measurement, report.json
"""
