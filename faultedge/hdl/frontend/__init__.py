"""The front end in hardware: raw samples -> the engine's integer inputs, bit-exact to faultedge.ir.frontend.

    samples -> window buffer (pairs of samples, one window per hop) -> FFT (pipelined or iterative)
            -> spectrum bins (k, X[k]) -> magnitude -> normalisation -> the engine's input memory

streams.py holds the layouts every part exchanges, so both FFT architectures plug into the same chain.
"""
