# Two commands do everything on a fresh machine with Python ≥ 3.10 and pip:
#   make book   – create .venv, install, run every chapter at the `cpu` preset, build the HTML book
#   make test   – create .venv, install, run the test-suite (every chapter at `smoke`, the book build);
#                 DEVICE=cuda make test runs the chapters' smoke presets and the CUDA tests on the GPU
#   make lab    – the same venv with the reader's front-end (JupyterLab), opened on the chapter sources in
#                 notebooks/ (jupytext: right-click → Open With → Jupytext Notebook); after `make book`,
#                 `make lab LAB_DIR=_build/notebooks/book/chapters` opens the executed notebooks Binder and Colab get
# Options: PRESET=cpu|paper  DEVICE=auto|cpu|cuda  DATA_DIR=folder-with-data (else $COMPANION_DATA_DIR,
# else ~/.cache/companion with downloads)  PYTHON=python3  TORCH_INDEX=<extra index for a CPU torch wheel>

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PRESET ?= cpu
DEVICE ?= auto
DATA_DIR ?=
# torch is installed first and pinned, so that pip never resolves a bare `torch` to a multi-GB CUDA build.
TORCH ?= torch==2.13.0
TORCH_INDEX ?=

STAMP := $(VENV)/.installed
READER_STAMP := $(VENV)/.installed-reader
LAB_DIR ?= notebooks

.PHONY: venv test book lab clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,book]"
	touch $(STAMP)

$(READER_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,book,reader]"
	touch $(READER_STAMP)

venv: $(STAMP)

test: $(STAMP)
	COMPANION_TEST_DEVICE=$(DEVICE) $(BIN)/python -m pytest

book: $(STAMP)
	$(BIN)/companion book --preset $(PRESET) --device $(DEVICE) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

lab: $(READER_STAMP)
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter lab $(LAB_DIR)

clean:
	rm -rf _build book/chapters book/claims.md book/verdicts.md book/colophon.md
