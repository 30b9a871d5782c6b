# atod: build, run and test, on Debian 12. `make setup` and the lanes that
# run atod need root; `make build`, `make unit`, `make race` and `make fmt`
# do not. The lanes are scripts/test's (see there, and the README's
# "Developing atod").
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
TAGS := seccomp
# The sandbox's packages need cgo (libseccomp, which compiles the seccomp filter).
export CGO_ENABLED := 1
# The binaries `make setup` builds, for the lanes that run them: scripts/test
# and scripts/vmtest build them only when this is unset.
WITH_BINARIES := ATOD_BIN_DIR=$(CURDIR)/bin

.PHONY: all build init-binary setup images run test lint fmt vet unit race integration e2e fuzz fresh fresh-test deb vmtest
.PHONY: bench soak generate clean install uninstall

all: build

# -v: the packages it compiles; nothing when the binaries are up to date.
# -buildvcs=auto: the commit goes into `atod version` and /healthz, whatever
# GOFLAGS says, when built in a git clone.
build: bin/atod-init
	$(GO) build -v -buildvcs=auto -tags $(TAGS) -o bin/atod ./cmd/atod

# atod-init is C, static (cmd/atod-init/atod-init.c says why), with musl's
# C library (musl-tools): a static glibc program's start probes the CPU's
# caches with cpuid, which traps to the hypervisor in a VM (0.38 ms of CPU
# for an empty program on the development VM, against 0.03 with musl), and
# atod-init starts three times a run. musl-gcc looks in musl's headers
# alone: the kernel's (linux-libc-dev) come through a directory of links
# beside the binary. The tests that run it build their own with `make
# init-binary INIT_OUT=PATH`.
INIT_CC ?= musl-gcc
INIT_CFLAGS := -static -O2 -Wall -Wextra -Werror
INIT_OUT ?= bin/atod-init
INIT_SRCS := cmd/atod-init/atod-init.c cmd/atod-init/setup.c
MULTIARCH = $(shell gcc -print-multiarch 2>/dev/null)
kernel-headers = $(dir $(1)).kernel-headers
build-init = command -v $(INIT_CC) >/dev/null || { echo "no $(INIT_CC): apt-get install musl-tools (make setup does)" >&2; exit 1; }; \
	[ -n "$(MULTIARCH)" ] || { echo "gcc -print-multiarch says nothing: the kernel headers' directory is unknown (apt-get install gcc)" >&2; exit 1; }; \
	mkdir -p $(call kernel-headers,$(1)) && \
	ln -sfn /usr/include/linux $(call kernel-headers,$(1))/linux && \
	ln -sfn /usr/include/$(MULTIARCH)/asm $(call kernel-headers,$(1))/asm && \
	ln -sfn /usr/include/asm-generic $(call kernel-headers,$(1))/asm-generic && \
	$(INIT_CC) $(INIT_CFLAGS) -isystem $(call kernel-headers,$(1)) -o $(1) $(INIT_SRCS) && chmod 0755 $(1)
bin/atod-init: $(INIT_SRCS) cmd/atod-init/atod-init.h
	$(call build-init,$@)
init-binary:
	@$(call build-init,$(INIT_OUT))

# atod-bash, the Bash of every run (/ATO/bash): Debian's Bash built static
# with musl, for the reason atod-init is (scripts/build-bash). Not part of
# build: it fetches Bash's source through apt and takes two minutes; make
# setup builds it, and atod falls back to Debian's bash-static without it.
bin/atod-bash: scripts/build-bash scripts/atod-bash.diff
	@scripts/build-bash $@

# Installs the apt packages, the pinned linters, the Node.js test clients'
# packages, builds atod and the default language image (cached outside the
# clone; reused while current). Says nothing when there is nothing to do.
setup:
	@scripts/setup-host

# Builds the image of every recipe (rootfs/recipes) into the image store,
# keeping those that are up to date (quietly); FORCE=1 rebuilds every one
# from the current packages, which is how security updates arrive, and
# atod-bash when apt has a newer bash.
images: setup
	$(if $(FORCE),@scripts/build-bash --refresh bin/atod-bash)
	@set -o pipefail; bin/atod rootfs build --all $(if $(FORCE),--force) \
		--images "$${ATOD_IMAGES:-/var/lib/atod/images}" --deb-cache "$${ATOD_DEB_CACHE:-/var/cache/atod/debs}" | \
		sed -u '/ is up to date (tree [0-9a-f]*); --force rebuilds it$$/d'

# Starts the daemon on its defaults: 127.0.0.1:8500, images from /var/lib/atod/images.
run: setup
	bin/atod serve

# The CI command: every image (the end-to-end tests run every language),
# then every lane, in this order, and a table of their times: lint, unit,
# race, integration, e2e, fuzz (8 s a target), fresh, vmtest.
test: setup images
	@$(WITH_BINARIES) scripts/test

# The lanes on their own (what each needs and takes: the README).
lint: setup
	@scripts/test lint
unit:
	@scripts/test unit
race:
	@scripts/test race
integration: setup
	@$(WITH_BINARIES) scripts/test integration
e2e: setup images
	@$(WITH_BINARIES) scripts/test e2e
# The README's set-up and first runs with none of atod's directories on the
# host (/var/lib/atod, /var/cache/atod, /run/atod hidden in a private mount
# namespace).
fresh: setup
	@scripts/test fresh
# `make test` itself on a host without atod's directories, from nothing: no
# .deb cache and empty Go, npm and staticcheck caches (what a fresh
# machine's make test takes: about an hour, and 14 GiB of disk in /tmp
# while it runs; not beside another make test).
fresh-test:
	@scripts/fresh-root --whole
# The Debian package (debian/): built with dpkg-buildpackage, installed with
# apt into a throwaway Debian 12 root, purged. `scripts/deb build DIR`
# builds it alone.
deb: setup
	@scripts/test deb
# The cgroup v2 lane: the sandbox's and the daemon's tests in a VM whose
# stock Debian kernel runs pure cgroup v2 (the kernel, the image store's
# disks and the initramfs are cached in /var/cache/atod/vmtest).
vmtest: setup images
	@$(WITH_BINARIES) scripts/test vmtest
# Every fuzz target for ATOD_FUZZ_TIME each (default 30s here, 8s in make
# test; e.g. `make fuzz ATOD_FUZZ_TIME=10m`, or a count of inputs: 50000x).
ATOD_FUZZ_TIME ?= 30s
fuzz:
	@ATOD_FUZZ_TIME=$(ATOD_FUZZ_TIME) scripts/test fuzz

# Installs atod for systemd (scripts/install says what goes where): the
# GNU conventions, PREFIX (/usr/local) and DESTDIR; CREATE_USER=1 also
# creates the system user atod. uninstall removes it again, but the image
# store and a configuration the operator changed.
install: build
	@scripts/install install
uninstall:
	@scripts/install uninstall

# Rewrites the Go files gofmt would change, and names them (lint checks it).
fmt:
	@git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 gofmt -l -w

vet:
	$(GO) vet -tags $(TAGS) ./...

# The soak: 5,000 mixed runs at concurrency 8 against one daemon, every
# result checked, then a summary table (runs per kind, runs/s, the daemon's
# descriptors, threads, goroutines and memory as it went, leftovers).
# make test runs a shorter pass of 1,000. SOAK_RUNS and SOAK_SEED change the
# number of runs and the mix.
SOAK_RUNS ?= 5000
SOAK_SEED ?= 1
soak: setup
	$(WITH_BINARIES) ATOD_SOAK_RUNS=$(SOAK_RUNS) ATOD_SOAK_SEED=$(SOAK_SEED) \
		$(GO) test -tags $(TAGS) -count=1 -v -timeout 3h -run '^TestSoak$$' ./e2e/

generate:
	$(GO) generate ./...

bench: setup
	$(WITH_BINARIES) scripts/bench

clean:
	rm -rf bin
