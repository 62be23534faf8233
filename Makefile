# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go

.PHONY: test test-root test-interop vet lint apidiff bench
.PHONY: bench-short

test: vet lint test-root test-interop apidiff
# bench-short is appended to test's prerequisites.
test: bench-short

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed" && exit 1)
	$(GO) vet ./...
	@! grep -q hashicorp/memberlist go.mod || (echo "go.mod must not depend on hashicorp/memberlist" && exit 1)

# staticcheck and go-check-sumtype run where they install; a machine
# without the module proxy skips them rather than failing the build.
STATICCHECK = $(shell $(GO) env GOPATH)/bin/staticcheck
# go-check-sumtype checks that every type switch over a //sumtype:decl
# interface (the core's outputs) names every case.
SUMTYPE = $(shell $(GO) env GOPATH)/bin/go-check-sumtype
lint:
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2 || true
	@if test -x $(STATICCHECK); then $(STATICCHECK) ./... && echo "staticcheck: clean"; else echo "staticcheck: not installed, skipped"; fi
	@test -x $(SUMTYPE) || $(GO) install github.com/alecthomas/go-check-sumtype/cmd/go-check-sumtype@v0.3.1 || true
	@if test -x $(SUMTYPE); then $(SUMTYPE) -default-signifies-exhaustive=false ./... && echo "go-check-sumtype: every switch over a sum type is exhaustive"; else echo "go-check-sumtype: not installed, skipped"; fi

test-root:
	$(GO) test -race -count=1 -timeout 20m ./...

# Mixed clusters with hashicorp/memberlist, in its own module so the root
# module never depends on the reference.
test-interop:
	cd interop && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...

apidiff:
	bash scripts/apidiff.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# The side-by-side comparison with hashicorp/memberlist at tiny sizes: proves
# every figure is still produced (no ratio is asserted). The full run is
# `cd bench && go run .`.
bench-short:
	cd bench && $(GO) vet ./... && $(GO) run . -short
