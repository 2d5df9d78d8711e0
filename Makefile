# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.genzoo-installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU wheel that lies on disk (an unpinned torch pulls a CUDA build)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	# the MOSES data files (docs/molecules.md): --no-deps, molsets' own pins (pomegranate) no longer build
	$(BIN)/python -m pip install --quiet --no-deps molsets==0.3.1
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/genzoo demo

test: $(STAMP)
	# tests/serve/test_browser.py drives Debian's chromium: installed here when missing (once)
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/genzoo bench

clean:
	rm -rf $(VENV) runs demo .pytest_cache
