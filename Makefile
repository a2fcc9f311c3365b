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
BIN         := bin/attentivenas

.PHONY: all build data run test testdata lint unit worker bench fuzz clean

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

test: testdata lint unit worker

# The tests that train on real Fashion-MNIST skip when it is missing, so a
# machine without apt still runs the rest.
testdata:
	@$(MAKE) --no-print-directory data || echo "test: Fashion-MNIST unavailable; the tests that need it will skip"

lint:
	$(GO) mod download
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

unit:
	$(GO) test ./...
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
