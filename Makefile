# One command per job; CI (.ci/run) runs `make test` after installing the tools the proofs need.
GO ?= go
# Packages with concurrency run under the race detector; the others run once without it.
RACE_PKGS := ./internal/sfn/ ./internal/store/ ./internal/local/ ./internal/workflow/
PKGS = $(shell $(GO) list ./... | grep -v -e /internal/sfn -e /internal/store -e /internal/local -e /internal/workflow)

.PHONY: test vet sample
test: vet ## format, vet and all tests
	$(GO) test -race $(RACE_PKGS)
	$(GO) test $(PKGS)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

sample: ## run the pipeline on the bundled sample reports
	$(GO) run ./cmd/settle run testdata/sample
