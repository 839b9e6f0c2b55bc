# totpd — see README.md. Every target works from a fresh clone.
GO      ?= go
BUILD   := build
DIST    := dist
PREFIX  ?= /usr
export PATH := /usr/local/go/bin:$(PATH)

GOFLAGS_BUILD := -trimpath -ldflags=-s

.PHONY: all build test unit deps vet bench clean cover

all: build

build:
	@mkdir -p $(BUILD)
	$(GO) build ./...
	$(GO) build $(GOFLAGS_BUILD) -o $(BUILD)/totpd ./daemon/cmd/totpd
	$(GO) build $(GOFLAGS_BUILD) -o $(BUILD)/totpctl ./cli
	pam/build.sh $(BUILD)

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
# oathtool cross-check, and (as root) the end-to-end suites.
test: deps build vet
	$(GO) test -race -count=1 -timeout 30m -coverprofile=$(BUILD)/cover.out ./...
	@grep -E '^mode:|/totpd/totp/' $(BUILD)/cover.out > $(BUILD)/cover-totp.out
	@$(GO) tool cover -func=$(BUILD)/cover-totp.out | awk '/^total:/ {sub("%","",$$3); printf "coverage of totp/: %s%% (floor 90%%)\n", $$3; if ($$3+0 < 90) exit 1}'

# bench measures PRODUCT.md §5 side by side with its anchors in one run
# (daemon, PAM and sshd rows need root) and prints ratios; it asserts nothing.
bench: deps build
	$(GO) test -run '^$$' -bench . -benchmem ./totp/
	$(GO) run ./e2e/bench -build $(BUILD) -json $(BUILD)/bench.json

clean:
	rm -rf $(BUILD) $(DIST)
