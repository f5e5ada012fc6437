"""`faultedge monitor`: sensor streams -> windows on a hop -> a back end's class probabilities -> alarms.

sources.py (where samples come from), backends.py (what classifies a window), board.py (the FPGA
over its UART: a back end, and a source of a board's own verdicts), link.py (serial ports kept open
across failures), runtime.py (the loop that joins them with faultedge.edge.streaming's decisions),
outputs.py, mqtt.py, web.py (where events go).
"""
