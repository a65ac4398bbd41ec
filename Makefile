# One command per job; CI (.ci/run) runs `make test` after installing the tools the proofs need.
GO ?= go
# Packages with concurrency run under the race detector; the others run once without it.
RACE_PKGS := ./internal/ui/ ./internal/settlement/ ./internal/engine/ ./internal/store/ ./internal/icetable/ ./internal/local/ ./internal/workflow/ ./internal/parquetfile/ ./internal/obs/ ./internal/ops/ ./cmd/settle/ ./internal/fetch/ ./internal/webhook/
# Packages whose *BoundedMemory tests feed hundreds of MiB and measure the heap: those skip themselves
# under the race detector, which makes them minutes long, and run once more without it.
MEMORY_PKGS := ./internal/settlement/
MODULE := $(shell $(GO) list -m)
PKGS = $(filter-out $(patsubst ./%/,$(MODULE)/%,$(RACE_PKGS)),$(shell $(GO) list ./...))

# The Lambda functions: functions/<dir> is the template's <Dir>Function (a test keeps the three in step).
FUNCTIONS := starter check validate transform write webhook fetch batches
# How every bootstrap is built, by `make build` and by `sam build` (BuildMethod: makefile) alike:
# static, arm64, without the RPC mode provided.al2023 does not use, reproducible.
# TAGS=settle_noxray builds the functions without the X-Ray SDK (about 10 MB less each; see internal/obs/xraytrace).
TAGS ?=
LAMBDA_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags "lambda.norpc $(TAGS)" -trimpath -buildvcs=false -ldflags="-s -w"

# The npm tools .ci/run installs (asl-validator, DuckDB); the DuckDB cross-check finds them here.
NODE_DIR := $(CURDIR)/.ci/node
ifneq ($(wildcard $(NODE_DIR)/node_modules),)
export SETTLE_NODE_MODULES ?= $(NODE_DIR)/node_modules
endif

# staticcheck, run from the module proxy at a pinned version (its checks: the staticcheck.conf files).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Proofs skipped for want of a tool append a line here (internal/testkit/proof, .ci/asl-validate, .ci/cfn-lint);
# make test ends by listing them.
export SETTLE_SKIPPED_LOG := $(CURDIR)/build/skipped-proofs.txt

.PHONY: test skips vet lint build asl sample clean
test: skips vet lint build asl ## format, vet, lint, the bootstraps, the definition check and all tests
	$(GO) test -race -timeout 30m $(RACE_PKGS)
	$(GO) test -run TestCrashedRunsRecover ./internal/local/ # every kill point; -race runs a quarter of them
	$(GO) test -timeout 30m -run '^TestBurstOfFiles$$|Every(Step|Write)Interleaving|WriteCrashAtEveryCall|OperatorActionsEveryInterleaving|Schedule(ResumedWrite|RepublishAgainst|ExecutionsOfOneReplace)|VerifyDuringCommits' ./internal/local/ # 500 files (-race runs a fifth); the explorations (skipped under -race)
	$(GO) test $(PKGS)
	$(GO) test -run 'BoundedMemory' $(MEMORY_PKGS)
	@if [ -s $(SETTLE_SKIPPED_LOG) ]; then \
		echo "Skipped proofs (a tool is missing; .ci/run installs every tool and runs them all):"; \
		cut -d: -f2- $(SETTLE_SKIPPED_LOG) | sort | uniq -c | sed 's/^ */  /; s/^  \([0-9]*\) /  \1 proof(s):/'; \
	else echo "Every proof ran."; fi

skips:
	@mkdir -p build && rm -f $(SETTLE_SKIPPED_LOG)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags settle_noxray ./internal/obs/xraytrace/ ./functions/...

lint: ## go.mod and go.sum tidy, staticcheck clean, and cfn-lint on template.yaml (SAM transform included; required in CI)
	@$(GO) mod tidy -diff >/dev/null || { $(GO) mod tidy -diff; echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	$(GO) run $(STATICCHECK) ./...
	@.ci/cfn-lint template.yaml

build: ## build/<function>/bootstrap for every function, exactly as sam build makes them
	@for fn in $(FUNCTIONS); do \
		echo "build/$$fn/bootstrap"; \
		$(LAMBDA_BUILD) -o build/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

asl: ## validate statemachine/settlement.asl.json with asl-validator (installed by .ci/run)
	@.ci/asl-validate statemachine/settlement.asl.json

sample: ## run the pipeline on the bundled sample reports
	$(GO) run ./cmd/settle run testdata/sample

clean:
	rm -rf build .aws-sam

# sam build runs these (template.yaml: CodeUri: . and Metadata BuildMethod: makefile), from the
# repository root or a copy of it, with ARTIFACTS_DIR set to the function's artifact folder.
.PHONY: build-StarterFunction build-CheckFunction build-ValidateFunction build-TransformFunction build-WriteFunction
build-StarterFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/starter
build-CheckFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/check
build-ValidateFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/validate
build-TransformFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/transform
build-WriteFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/write

# The report intake: Adyen's webhook and the report fetcher.
.PHONY: build-WebhookFunction build-FetchFunction
build-WebhookFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/webhook
build-FetchFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/fetch

# The scheduled batch check (template.yaml's batch ledger section).
.PHONY: build-BatchesFunction
build-BatchesFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/batches
