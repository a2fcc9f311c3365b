# AttentiveNAS on Apache Beam. `make run` runs the main job, `make test` runs
# everything CI runs. Both fetch Go modules themselves; `make run` also
# installs the Fashion-MNIST dataset where the machine has apt.

GO          ?= go
# Kernels built with Go 1.26's experimental SIMD package (AVX-512/AVX2); the
# default build uses the portable kernels. See nas/kernels/doc.go.
FAST        ?= GOEXPERIMENT=simd
DATA_DIR    ?= /usr/share/datasets/fashion-mnist
OUT         ?= out
PRESET      ?= quick
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# ONNX Runtime for the tests that run exported models in it: Node.js's
# onnxruntime-node, installed outside the clone (nas/onnxexport/ortcheck
# looks here, or in $ATTENTIVENAS_ORT_DIR; keep ORT_VERSION = ortcheck.Version).
ORT_VERSION ?= 1.30.0
ORT_DIR     ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/attentivenas/onnxruntime-node
BIN         := bin/attentivenas

.PHONY: all build data run test testdata ort lint unit worker bench fuzz clean

all: build

build:
	$(FAST) $(GO) build -o $(BIN) ./pipelines/attentivenas

# Installs Debian's dataset-fashion-mnist when the files are missing.
data:
	@if [ -f "$(DATA_DIR)/train-images-idx3-ubyte.gz" ]; then \
		echo "data: Fashion-MNIST found in $(DATA_DIR)"; \
	elif [ "$(DATA_DIR)" = "/usr/share/datasets/fashion-mnist" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "data: installing Debian package dataset-fashion-mnist"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get install -y dataset-fashion-mnist || { $$SUDO apt-get update && $$SUDO apt-get install -y dataset-fashion-mnist; }; \
	else \
		echo "data: Fashion-MNIST not found in $(DATA_DIR)." >&2; \
		echo "      Install Debian's dataset-fashion-mnist, or download train-images-idx3-ubyte.gz," >&2; \
		echo "      train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz" >&2; \
		echo "      from https://github.com/zalandoresearch/fashion-mnist into a folder and pass DATA_DIR=<folder>." >&2; \
		exit 1; \
	fi

# The whole pipeline on Fashion-MNIST, locally (prism). OUT holds every
# artifact; $(OUT)/pareto/report.html is the report.
run: data build
	$(BIN) run --preset=$(PRESET) --data=$(DATA_DIR) --output=$(OUT)

test: testdata ort lint unit worker

# The tests that train on real Fashion-MNIST skip when it is missing, so a
# machine without apt still runs the rest.
testdata:
	@$(MAKE) --no-print-directory data || echo "test: Fashion-MNIST unavailable; the tests that need it will skip"

# Installs onnxruntime-node $(ORT_VERSION) from the npm registry into
# ORT_DIR once. --ignore-scripts: the package's install script downloads
# optional GPU binaries from outside the registry (it fails offline); the
# CPU runtime ships inside the package. Without node/npm, or when the
# install fails, the ONNX Runtime tests skip, and this says so.
ort:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		echo "ort: node/npm not found: the ONNX Runtime checks will SKIP (install Node.js and npm to run them)"; \
	elif [ "$$(node -p "require('$(ORT_DIR)/node_modules/onnxruntime-node/package.json').version" 2>/dev/null)" = "$(ORT_VERSION)" ]; then \
		echo "ort: onnxruntime-node $(ORT_VERSION) in $(ORT_DIR): the ONNX Runtime checks will run"; \
	elif npm install --ignore-scripts --no-audit --no-fund --loglevel=error --fetch-timeout=60000 --fetch-retries=1 --prefix "$(ORT_DIR)" onnxruntime-node@$(ORT_VERSION) >/dev/null; then \
		echo "ort: installed onnxruntime-node $(ORT_VERSION) in $(ORT_DIR): the ONNX Runtime checks will run"; \
	else \
		rm -rf "$(ORT_DIR)"; \
		echo "ort: npm install onnxruntime-node@$(ORT_VERSION) failed (offline?): the ONNX Runtime checks will SKIP"; \
	fi

lint:
	$(GO) mod download
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

unit:
	ATTENTIVENAS_ORT_DIR="$(ORT_DIR)" $(GO) test ./...
	$(FAST) $(GO) test ./nas/kernels/...

# The binary Dataflow workers run: Linux, no cgo, portable kernels.
worker:
	GOOS=linux GOARCH=amd64 CGO_ENABLED=0 $(GO) build -trimpath -o bin/worker ./pipelines/attentivenas

bench: build
	$(BIN) bench

fuzz:
	$(GO) test ./data -run='^$$' -fuzz=FuzzDecodeIDX -fuzztime=60s
	$(GO) test ./data -run='^$$' -fuzz=FuzzDecodeCIFAR10 -fuzztime=60s

clean:
	rm -rf bin $(OUT)
