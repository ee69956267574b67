# One virtualenv per checkout, created on first use. torch comes first from the local CPU wheel:
# a bare torch requirement with no torch installed would pull a multi-GB CUDA build.
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TORCH  ?= torch==2.13.0

.PHONY: demo test chromium lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf runs/digits-mlp
	$(VENV)/bin/raysweep run examples/digits.yaml

test: $(STAMP) chromium
	$(PY) -m pytest -q

# The dashboard's browser test drives Debian's Chromium (RAYSWEEP_CHROMIUM, else `chromium` on
# PATH; playwright's browser downloads are never used). Root with apt gets it installed here, as
# .ci/run does; anyone else is told, and that one test fails saying what to run.
chromium:
	@if command -v "$${RAYSWEEP_CHROMIUM:-chromium}" >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Chromium for the dashboard's browser test: apt-get install -y chromium"; \
	  { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || \
	    echo "warning: apt-get install -y chromium failed; the dashboard's browser test will fail"; \
	else \
	  echo "note: no Chromium: the dashboard's browser test will fail; install it with" \
	    "\`sudo apt-get install -y chromium\` or point RAYSWEEP_CHROMIUM at one"; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check search trainables raysweep tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) runs .pytest_cache
