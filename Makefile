# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The torch to install when the venv has none. Any torch >= 2.2 (CUDA builds included) works.
TORCH ?= torch==2.13.0

.PHONY: setup demo demo-video test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,logs,report,export,serve]"
	# LPIPS/perceptual trunk weights ship in this wheel; --no-deps because it declares torchvision.
	$(PY) -m pip install -q --no-deps "stlpips-pytorch==0.0.2"
	touch $@

demo: setup
	$(VENV)/bin/blur2blur demo --overwrite

# The video demo: reuses demo_out's networks when `make demo` ran before, else trains them first.
demo-video: setup
	$(VENV)/bin/blur2blur demo --video --overwrite

test: setup
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) demo_out
