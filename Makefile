# Inherence developer commands. Two are all a newcomer needs:
#   make run    install what is missing, build, and start the server with the demo
#   make test   install what is missing and run every test
# Everything installs idempotently; build output lives outside the clone ($(CARGO_TARGET_DIR)).

SHELL := /bin/bash
.DEFAULT_GOAL := help

export CARGO_TARGET_DIR ?= $(HOME)/.cache/inherence/target
CACHE        ?= $(HOME)/.cache/inherence
SHARED       ?= $(abspath ../shared)
VENV         := .venv
PY           := $(VENV)/bin/python
BIN          := $(CARGO_TARGET_DIR)/release/inherence

# Pinned Python packages: ONNX Runtime (its libonnxruntime.so is what the Rust binary loads),
# and what models/build_dlib_onnx.py needs.
ORT_VERSION   := 1.31.1
ONNX_VERSION  := 1.19.1
NUMPY_VERSION := 2.4.6
VENV_STAMP    := $(VENV)/.installed-ort$(ORT_VERSION)-onnx$(ONNX_VERSION)-numpy$(NUMPY_VERSION)

# The Rust binary finds ONNX Runtime through this variable (see docs/getting-started.md).
export ORT_DYLIB_PATH := $(abspath $(VENV))/lib/python3/site-packages/onnxruntime/capi/libonnxruntime.so.$(ORT_VERSION)

REFPIPE      := $(SHARED)/tools/refpipe
REFPIPE_PY   := $(HOME)/.cache/refpipe-venv/bin/python

.PHONY: help run test build sysdeps venv onnxruntime models models-verify models-rebuild eval bench lint fmt clean

help:
	@echo "make run    - install, build and start the server with the verification demo"
	@echo "make test   - install, build and run every test (fmt, clippy, unit, conformance)"
	@echo "make models - install and verify the model files (from $(SHARED)/models when present)"
	@echo "make eval   - accuracy on $(SHARED)/eval/dev -> out/eval/report.md"
	@echo "make bench  - latency and throughput, side by side with the Python reference -> out/bench/bench.md"

# --- installation -------------------------------------------------------------------------

$(VENV_STAMP):
	@command -v python3 >/dev/null || { echo "python3 is required (Debian: apt-get install python3 python3-venv)"; exit 1; }
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		onnxruntime==$(ORT_VERSION) onnx==$(ONNX_VERSION) numpy==$(NUMPY_VERSION)
	@# A version-independent path to the library, for ORT_DYLIB_PATH above.
	ln -sfn "$$(basename "$$(ls -d $(VENV)/lib/python3.*)")" $(VENV)/lib/python3
	@test -f "$(ORT_DYLIB_PATH)" || { echo "libonnxruntime.so.$(ORT_VERSION) missing after install"; exit 1; }
	touch $@

venv onnxruntime: $(VENV_STAMP)

# libjpeg-turbo (the JPEG decoder) is compiled from source: it needs cmake and nasm.
sysdeps:
	@if ! command -v nasm >/dev/null || ! command -v cmake >/dev/null; then \
		echo "installing nasm and cmake (Debian packages)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nasm cmake; \
	fi

build: sysdeps
	@command -v cargo >/dev/null || { echo "Rust is required: https://rustup.rs"; exit 1; }
	cargo build --release --locked

models: build venv
	@if [ -d "$(SHARED)/models" ]; then \
		$(BIN) models install --from "$(SHARED)/models"; \
	else \
		echo "no offline bundle at $(SHARED)/models: fetching from upstream"; \
		$(BIN) models install --upstream; \
	fi
	$(BIN) models verify

models-verify: build
	$(BIN) models verify

# Rebuild the dlib embedder from PyPI's face_recognition_models and compare it with the
# installed one (outputs must agree within 1e-4).
models-rebuild: models
	$(PY) models/build_dlib_onnx.py --out $(CACHE)/rebuilt/dlib_face_recognition_resnet_model_v1.onnx \
		--compare-with models/embedder-dlib-resnet/dlib_face_recognition_resnet_model_v1.onnx

# --- everyday -------------------------------------------------------------------------------

run: models
	$(BIN) serve

test: models models-rebuild
	cargo fmt --all -- --check
	cargo clippy --release --locked --workspace --all-targets -- -D warnings
	INHERENCE_REPO_ROOT=$(CURDIR) INHERENCE_SHARED_DIR=$(SHARED) \
	INHERENCE_REBUILT_DLIB=$(CACHE)/rebuilt/dlib_face_recognition_resnet_model_v1.onnx \
		cargo test --release --locked --workspace

eval: models
	@test -d "$(SHARED)/eval/dev" || { echo "no evaluation data at $(SHARED)/eval/dev"; exit 1; }
	$(BIN) eval --data $(SHARED)/eval/dev --out out/eval
	$(BIN) eval --data $(SHARED)/eval/dev --out out/eval-640x480 --frame 640x480

$(REFPIPE_PY):
	@test -x "$(REFPIPE)/setup.sh" || { echo "the reference pipeline is not at $(REFPIPE)"; exit 1; }
	"$(REFPIPE)/setup.sh"

bench: models $(REFPIPE_PY)
	@test -d "$(SHARED)/eval/dev" || { echo "no evaluation data at $(SHARED)/eval/dev"; exit 1; }
	$(BIN) bench --data $(SHARED)/eval/dev --repeat 3 --reference $(REFPIPE) --reference-python $(REFPIPE_PY) --out out/bench

# --- hygiene --------------------------------------------------------------------------------

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --release --locked --workspace --all-targets -- -D warnings

clean:
	rm -rf out $(VENV)
