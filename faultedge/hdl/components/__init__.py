"""The accelerators' hardware as small Amaranth components, joined with `wiring.connect`.

Shared by both engines:

    common.py     widths, packing, registered memory reads, the address odometer, `Banks` (banked RAM)
    streams.py    the accelerator's stream signatures (one function builds them from the plan's figures),
                  the fixed-latency pipeline and control signatures, the Verilog names of the streams
    requant.py    shift with round-half-to-even and clamp (`ShiftRound`, `round_shift`, `clamp`), `Requantiser`
    argmax.py     `Argmax`: the sequential argmax and the hand-off of the result stream

The 1-D engine (`faultedge.hdl.accel.Accelerator` joins them):

    mac1d.py      `InputLoader` (or `FeatureLoader`, written by the front end), `MacArray`, `MaxPoolWriteBack`, `Sequencer`

The image engine (`faultedge.hdl.image_accel.ImageAccelerator` joins them):

    image.py      `ImageLoader`, `LaneMacs`, `AvgPoolWriteBack`, `PassSequencer`
    attention.py  `Attention`: FC1 and FC2 on one multiplier, the normalisation with a restoring divider

Everything here imports Amaranth; planning and the cycle model (faultedge.hdl.plan, image_plan,
cycles) do not, and are what these components are built from.
"""
