# The README's test command is `make test`; .ci/run calls exactly that.
GO ?= go

.PHONY: test test-root vet apidiff bench

test: vet test-root apidiff

vet:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt needed" && exit 1)
	$(GO) vet ./...

test-root:
	$(GO) test -race -count=1 -timeout 20m ./...

apidiff:
	bash scripts/apidiff.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
