# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go

.PHONY: test test-root vet lint apidiff bench

test: vet lint test-root apidiff

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed" && exit 1)
	$(GO) vet ./...

# staticcheck runs where it installs; a machine without the module proxy
# skips it rather than failing the build.
STATICCHECK = $(shell $(GO) env GOPATH)/bin/staticcheck
lint:
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest || true
	@if test -x $(STATICCHECK); then $(STATICCHECK) ./... && echo "staticcheck: clean"; else echo "staticcheck: not installed, skipped"; fi

test-root:
	$(GO) test -race -count=1 -timeout 20m ./...

apidiff:
	bash scripts/apidiff.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
