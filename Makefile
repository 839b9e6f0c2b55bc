# totpd — see README.md. Every target works from a fresh clone.
GO      ?= go
BUILD   := build
DIST    := dist
PREFIX  ?= /usr
VERSION := $(shell cat VERSION)
export PATH := /usr/local/go/bin:$(PATH)
export PREFIX VERSION

# PIE with full RELRO and immediate binding: the hardening Debian expects
# of a root daemon (lintian's hardening-* checks).
HARDEN_LD     := -linkmode=external -extldflags=-Wl,-z,relro,-z,now
GOFLAGS_BUILD := -trimpath -buildmode=pie -ldflags="-s $(HARDEN_LD) -X github.com/totpd/totpd/daemon/version.Version=$(VERSION)"

.PHONY: all build man tools test deps vet bench clean package install uninstall demo demo-test fuzz crash-test

all: build

build: man
	@mkdir -p $(BUILD)
	$(GO) build ./...
	$(GO) build $(GOFLAGS_BUILD) -tags nofleet -o $(BUILD)/totpd ./daemon/cmd/totpd
	$(GO) build $(GOFLAGS_BUILD) -o $(BUILD)/totpd-fleet ./daemon/cmd/totpd
	$(GO) build $(GOFLAGS_BUILD) -o $(BUILD)/totpctl ./cli
	pam/build.sh $(BUILD)

# Build tools, pinned in packaging/tools/go.mod (their own module, so that
# totpd's go.mod names only what the programs link).
$(BUILD)/tools/go-md2man: packaging/tools/go.mod
	$(GO) -C packaging/tools build -o $(CURDIR)/$(BUILD)/tools/ github.com/cpuguy83/go-md2man/v2
$(BUILD)/tools/nfpm: packaging/tools/go.mod
	$(GO) -C packaging/tools build -o $(CURDIR)/$(BUILD)/tools/ github.com/goreleaser/nfpm/v2/cmd/nfpm
tools: $(BUILD)/tools/go-md2man $(BUILD)/tools/nfpm

# man turns the Markdown man pages into gzip'ed roff (build/man/*.gz).
man: $(BUILD)/tools/go-md2man
	@mkdir -p $(BUILD)/man
	@for src in packaging/man/*.md; do \
		page=$$(basename $$src .md); \
		$(BUILD)/tools/go-md2man -in $$src -out $(BUILD)/man/$$page && gzip -9nf $(BUILD)/man/$$page || exit 1; \
	done

# package builds dist/totpd_VERSION_amd64.deb and dist/totpd-VERSION-1.x86_64.rpm
# from the tree packaging/stage.sh lays out (the same one make install copies).
package: build $(BUILD)/tools/nfpm
	@mkdir -p $(DIST)
	PREFIX=/usr packaging/stage.sh deb $(BUILD)/stage/deb
	STAGE=$(CURDIR)/$(BUILD)/stage/deb $(BUILD)/tools/nfpm package --config packaging/nfpm.yaml \
		--packager deb --target $(DIST)/totpd_$(VERSION)_amd64.deb
	PREFIX=/usr packaging/stage.sh rpm $(BUILD)/stage/rpm
	STAGE=$(CURDIR)/$(BUILD)/stage/rpm $(BUILD)/tools/nfpm package --config packaging/nfpm.yaml \
		--packager rpm --target $(DIST)/totpd-$(VERSION)-1.x86_64.rpm

# install and uninstall: the same files as the .deb (or .rpm), from
# build/ (run `make build` first, as yourself). DESTDIR and PREFIX are
# honoured; no PAM stack or sshd configuration is changed.
# demo tries the whole thing on this machine without touching its login
# configuration (README, "The demo"); demo-test is the same path with no
# person. The demo runs as a built binary so that make passes Ctrl-C and
# SIGTERM to it and waits for its clean-up.
demo: deps build
	$(GO) build -o $(BUILD)/totpd-demo ./e2e/demo
	$(BUILD)/totpd-demo -build $(BUILD)
demo-test: build
	$(GO) build -o $(BUILD)/totpd-demo ./e2e/demo
	$(BUILD)/totpd-demo -build $(BUILD) -auto

install:
	packaging/install.sh install
uninstall:
	packaging/install.sh uninstall

# deps installs the Debian packages of .ci/packages that are missing
# (only as root; otherwise it says what to install) and fetches Go modules.
deps:
	@missing=$$(grep -v '^\s*#' .ci/packages | grep -v '^\s*$$' | while read -r p; do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else echo "missing Debian packages (install as root): $$missing"; fi; \
	fi
	$(GO) mod download

vet:
	$(GO) vet ./...

# test runs every test: vet, unit tests with the race detector, the
# oathtool cross-check, (as root) the end-to-end suites, then on their own
# the package tests (they apt-get install and purge the .deb on this
# machine, so nothing may run beside them) and the demo without a person.
UNIT_PKGS = $$($(GO) list ./... | grep -v '/e2e/install$$')
test: deps build vet package
	$(GO) test -race -count=1 -timeout 30m -coverprofile=$(BUILD)/cover.out $(UNIT_PKGS)
	@grep -E '^mode:|/totpd/totp/' $(BUILD)/cover.out > $(BUILD)/cover-totp.out
	@$(GO) tool cover -func=$(BUILD)/cover-totp.out | awk '/^total:/ {sub("%","",$$3); printf "coverage of totp/: %s%% (floor 90%%)\n", $$3; if ($$3+0 < 90) exit 1}'
	$(GO) test -count=1 -timeout 15m ./e2e/install
	$(MAKE) --no-print-directory demo-test

# fuzz runs every fuzz target for FUZZTIME each (their seeds, in the test
# files, already run as ordinary tests in make test). A crash is written
# to the package's testdata/fuzz/ and fails the run: keep it as a
# regression test.
FUZZTIME ?= 30s
FUZZ_TARGETS := ./totp:FuzzDecodeSecret ./totp:FuzzParseURI ./totp:FuzzValidate \
	./daemon/wire:FuzzReadFrame ./daemon/wire:FuzzDecodeResponse ./daemon/wire:FuzzDecodeRequest \
	./daemon/wire:FuzzAppendRequest ./daemon/server:FuzzHandle ./daemon/config:FuzzParse \
	./daemon/store:FuzzJournalReplay ./daemon/store:FuzzSnapshotLoad
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "== $$name ($$pkg, $(FUZZTIME))"; \
		out=$$($(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); rc=$$?; \
		echo "$$out" | grep -E '^(fuzz: elapsed|--- FAIL|FAIL|ok)|Failing input|testdata/fuzz' | tail -4; \
		[ $$rc -eq 0 ] || exit 1; \
	done

# crash-test kills totpd with SIGKILL at 200 random instants under
# concurrent load (codes accepted and refused, recovery codes, admin
# enrollments and disables), restarting it each time, and prints the
# tallies that must all be 0; make test runs the same test with 20 kills.
CRASH_KILLS ?= 200
crash-test: build
	@TOTPD_E2E_KILLS=$(CRASH_KILLS) $(GO) test -count=1 -timeout 30m -v -run '^TestDurabilityKill$$' ./e2e/ \
		>$(BUILD)/crash-test.log 2>&1; rc=$$?; \
		grep -E 'kills in|seed|Error|FAIL|^ok|^---' $(BUILD)/crash-test.log; \
		echo "full log: $(BUILD)/crash-test.log"; exit $$rc

# bench measures ARCHITECTURE.md, "Numbers" side by side with its anchors in one run
# (daemon, PAM and sshd rows need root) and prints ratios; it asserts nothing.
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./totp/
	$(GO) run ./e2e/bench -build $(BUILD) -json $(BUILD)/bench.json

clean:
	rm -rf $(BUILD) $(DIST)
