# strata — build, test and measure.
# `make test` is what CI runs; `make fuzz` and `make bench` are separate.

GO       ?= go
BIN      := bin/strata
PKGS     := ./...
# A count, not a duration: a duration races the fuzz coordinator's own deadline
# (golang/go#75804) and fails a loaded machine with "context deadline exceeded".
FUZZTIME ?= 20000x
LONGFUZZ ?= 5m
FUZZMIN  ?= 500x
# Flags of cmd/stratabench for `make bench` (go run ./cmd/stratabench -h).
BENCHFLAGS ?=
# Stamped into the binary (strata version): `git describe` and the commit,
# empty outside a checkout (the binary then says 0.1.0-dev).
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := $(if $(VERSION),-X main.version=$(VERSION)) $(if $(COMMIT),-X main.commit=$(COMMIT))
IMAGE    ?= strata:$(or $(VERSION),dev)

.PHONY: all build install run test check vet fmt tidy-check wasm-check unit fuzz-short fuzz bench docs docker systemd-check clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/strata

## install: strata into $(go env GOPATH)/bin (or GOBIN), version stamped
install:
	$(GO) install -ldflags '$(LDFLAGS)' ./cmd/strata

## docs: regenerate what is generated from the code (docs/config-reference.md)
docs:
	$(GO) generate ./core/config

## docker: the container image (Dockerfile), tagged $(IMAGE)
docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

## systemd-check: systemd-analyze verify on the unit, and strata's sd_notify over a real socket
systemd-check:
	$(GO) test -count=1 -run 'TestSystemdUnit|TestSdNotify' ./cmd/strata

## run: start strata with the demo configuration and its demo upstreams
run: build
	$(GO) build -o bin/upstream ./cmd/upstream
	@trap 'kill 0' EXIT INT TERM; \
	./bin/upstream -listen 127.0.0.1:9001 -name s1 -max-lifetime 12h >/dev/null & \
	./bin/upstream -listen 127.0.0.1:9002 -name s2 -max-lifetime 12h >/dev/null & \
	./bin/upstream -listen 127.0.0.1:9003 -name api -mode echo -max-lifetime 12h >/dev/null & \
	./$(BIN) run -c examples/configs/demo.yaml

## test: everything CI checks
test: check unit fuzz-short

check: fmt vet tidy-check wasm-check

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck $(PKGS); else echo "staticcheck not installed; skipped"; fi

tidy-check:
	@cp go.mod /tmp/strata-go.mod.bak; cp go.sum /tmp/strata-go.sum.bak 2>/dev/null || true
	$(GO) mod tidy
	@if ! git diff --quiet -- go.mod go.sum 2>/dev/null; then echo "go mod tidy changed go.mod/go.sum:"; git diff -- go.mod go.sum; exit 1; fi

# The SDK and the examples must build for the plugin target: every main
# package under examples/plugins as a WASI reactor (-buildmode=c-shared),
# which takes one main package per build.
wasm-check:
	@if [ -d sdk ] && ls sdk/*.go >/dev/null 2>&1; then GOOS=wasip1 GOARCH=wasm $(GO) build ./sdk/...; fi
	@if [ -d examples/plugins ]; then \
	  out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	  for pkg in $$(GOOS=wasip1 GOARCH=wasm $(GO) list -f '{{if eq .Name "main"}}{{.ImportPath}}{{end}}' ./examples/plugins/...); do \
	    echo "wasip1 $$pkg"; \
	    GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o "$$out/plugin.wasm" $$pkg || exit 1; \
	  done; \
	fi
	@# The Proxy-Wasm examples are their own module (coraza stays out of
	@# strata's go.mod); the tests build the WAF, this builds them all.
	@if [ -d examples/proxywasm ]; then echo "wasip1 examples/proxywasm/..."; \
	  cd examples/proxywasm && GOOS=wasip1 GOARCH=wasm GOFLAGS=-mod=mod $(GO) build -tags no_fs_access ./...; fi

unit:
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# A short run of every fuzz target; `make fuzz` runs them long.
FUZZ_TARGETS := $(shell grep -rl --include='*_test.go' '^func Fuzz' . 2>/dev/null | xargs -r -n1 dirname | sort -u)

fuzz-short:
	@for d in $(FUZZ_TARGETS); do \
	  for f in $$(grep -h '^func Fuzz' $$d/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "fuzz $$d $$f ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMIN) $$d || exit 1; \
	  done; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=$(LONGFUZZ) FUZZMIN=60s

## bench: strata against HAProxy, side by side, with wrk (and h2load for
## HTTP/2); e.g. make bench BENCHFLAGS='-scenarios tls-h1,tls-h2 -runs 5'
bench:
	$(GO) run ./cmd/stratabench $(BENCHFLAGS)

clean:
	rm -rf bin
