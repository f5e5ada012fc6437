"""The flow: named steps (steps.py) over one run directory, configured by one object (config.py),
chained by the runner (runner.py); the demo is a preset (presets.py).

Nothing heavy is imported here, so commands can read step and preset names while building the parser.
"""
