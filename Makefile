# atod: build, run and test. Everything here runs as root on Debian 12.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
TAGS := seccomp
# The sandbox's packages need cgo (libcontainer's nsenter, libseccomp).
export CGO_ENABLED := 1

.PHONY: all build setup run test vmtest unit race e2e bench fmt vet generate clean

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
# sandbox and the end-to-end tests against a listening daemon, then the
# cgroup v2 lane.
test: setup build
	scripts/test
	scripts/vmtest

# The cgroup v2 lane: the sandbox's and the daemon's tests in a VM whose
# stock Debian kernel runs pure cgroup v2 (about 5 minutes; the kernel is
# cached in /var/cache/atod/vmtest).
vmtest: setup build
	scripts/vmtest

generate:
	$(GO) generate ./...

bench: setup build
	scripts/bench

clean:
	rm -rf bin
