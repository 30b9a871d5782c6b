# atod: build, run and test. Everything here runs as root on Debian 12.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
TAGS := seccomp
# The sandbox's packages need cgo (libcontainer's nsenter, libseccomp).
export CGO_ENABLED := 1

.PHONY: all build setup run test fresh vmtest unit race e2e bench fuzz soak fmt vet generate clean

all: build

build:
	$(GO) build -tags $(TAGS) -o bin/atod ./cmd/atod
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/atod-init ./cmd/atod-init
	chmod 0755 bin/atod-init

# Installs apt packages, the Node.js test client's packages and the default
# language image (cached outside the clone; reused when intact).
setup:
	scripts/setup-host

# Starts the daemon on its defaults: 127.0.0.1:8500, images from /var/lib/atod/images.
run: setup build
	bin/atod serve

# The whole test suite: formatting, vet, unit tests, race detector, the real
# sandbox and the end-to-end tests against a listening daemon, the
# fresh-machine lane, then the cgroup v2 lane.
test: setup build
	scripts/test
	scripts/fresh-root
	scripts/vmtest

# The README's set-up and first runs with none of atod's directories on the
# host (/var/lib/atod, /var/cache/atod, /run/atod hidden in a private mount
# namespace); 2-3 minutes.
fresh: setup
	scripts/fresh-root

# Single steps of scripts/test.
fmt vet race:
	scripts/test $@

# Tests that need no root, image or network.
unit:
	$(GO) test -count=1 ./protocol/... ./server/... ./runners/... ./internal/... ./cmd/... ./sandbox/seccompprofile/

# The end-to-end tests against a real daemon (root, and the default image).
e2e: setup build
	ATOD_BIN_DIR=$(CURDIR)/bin $(GO) test -tags $(TAGS) -count=1 -p 1 -timeout 30m ./e2e/

# The cgroup v2 lane: the sandbox's and the daemon's tests in a VM whose
# stock Debian kernel runs pure cgroup v2 (about 5 minutes; the kernel is
# cached in /var/cache/atod/vmtest).
vmtest: setup build
	scripts/vmtest

# Every fuzz target for ATOD_FUZZ_TIME each (default 30s; e.g.
# `make fuzz ATOD_FUZZ_TIME=10m`, or a count of inputs: 50000x).
fuzz:
	scripts/fuzz

# The soak: 5,000 mixed runs at concurrency 8 against one daemon, every
# result checked, then a summary table (runs per kind, runs/s, the daemon's
# descriptors, threads, goroutines and memory as it went, leftovers).
# make test runs a shorter pass of 1,000. SOAK_RUNS and SOAK_SEED change the
# number of runs and the mix.
SOAK_RUNS ?= 5000
SOAK_SEED ?= 1
soak: setup build
	ATOD_BIN_DIR=$(CURDIR)/bin ATOD_SOAK_RUNS=$(SOAK_RUNS) ATOD_SOAK_SEED=$(SOAK_SEED) \
		$(GO) test -tags $(TAGS) -count=1 -v -timeout 3h -run '^TestSoak$$' ./e2e/

generate:
	$(GO) generate ./...

bench: setup build
	scripts/bench

clean:
	rm -rf bin
