# kafkaesk-go. `make test` runs everything CI runs; `make help` lists targets.

GO        ?= go
BENCHTIME ?= 2s

GO_BUILD_DIR ?= bin

.PHONY: help run build test test-failover vet fmt-check fmt bench bench-compare bench-packages kafka-up kafka-down python-env

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

run: ## the demo: embedded broker, example service logging to it, collector printing the events (Ctrl-C stops)
	@scripts/demo

build: ## build bin/kafkaesk and bin/example-service
	$(GO) build -o $(GO_BUILD_DIR)/kafkaesk ./cmd/kafkaesk
	$(GO) build -o $(GO_BUILD_DIR)/example-service ./examples/service

# The Kafka clients core runs on: make test runs every test on each
# (KAFKAESK_CLIENT picks the client of every Application whose Config
# leaves Client empty). `make test CLIENTS=franz-go` runs one.
CLIENTS ?= kafka-go franz-go

# Tests that stop the real broker of KAFKA_BROKERS (by its PID in
# KAFKA_BROKER_PID, which .ci/run sets) run on their own, after the others:
# a broker stopped under the other packages' tests would fail them.
BROKER_STOP_TESTS = ^TestBrokerHang

# The interop tests (interop/) run Python kafkaesk from the virtual
# environment scripts/python-env keeps; test makes it first, so that a
# missing Python or an unreachable package index fails there, plainly.
# The page test (asyncapi/) renders the AsyncAPI page in headless Chromium,
# which scripts/browser-env finds, or installs from Debian's packages.
test: fmt-check vet python-env ## gofmt check, go vet, and every test with the race detector, on each client (benchmarks/ module too; interop/ against Python kafkaesk; asyncapi/'s page in Chromium)
	@set -e; chromium=$$(scripts/browser-env); \
	for c in $(CLIENTS); do \
		echo "== tests on client $$c"; \
		KAFKAESK_CHROMIUM=$$chromium KAFKAESK_CLIENT=$$c KAFKA_BROKER_PID= $(GO) test -race -count=1 ./...; \
		(cd benchmarks && KAFKAESK_CLIENT=$$c $(GO) test -race -count=1 ./...); \
		if [ -n "$$KAFKA_BROKER_PID" ]; then \
			echo "== tests stopping the broker (PID $$KAFKA_BROKER_PID) on client $$c"; \
			out=$$(mktemp); \
			if ! KAFKAESK_CLIENT=$$c $(GO) test -race -count=1 -v -run '$(BROKER_STOP_TESTS)' ./core >$$out 2>&1; then cat $$out; rm -f $$out; exit 1; fi; \
			grep -E '^(=== RUN|--- |\s+\S+_test.go|PASS|ok)' $$out; rm -f $$out; \
		fi; \
	done

# The failover suite on the real three-node cluster of
# KAFKA_CLUSTER_BROKERS (KAFKA_NODES=3 scripts/kafka-local start; .ci/run
# starts it after make test). Without it, make test runs the same tests
# on an embedded three-node cluster.
test-failover: ## the failover tests (reliability/) on each client, against KAFKA_CLUSTER_BROKERS
	@test -n "$$KAFKA_CLUSTER_BROKERS" || { echo "test-failover: set KAFKA_CLUSTER_BROKERS (and KAFKA_CLUSTER_LOCAL_DIR) to a KAFKA_NODES=3 scripts/kafka-local cluster"; exit 2; }
	@set -e; for c in $(CLIENTS); do \
		echo "== failover tests on client $$c"; \
		out=$$(mktemp); \
		if ! KAFKAESK_CLIENT=$$c $(GO) test -race -count=1 -v ./reliability >$$out 2>&1; then cat $$out; rm -f $$out; exit 1; fi; \
		grep -E '^(=== RUN|--- |\s+\S+_test.go|PASS|ok)' $$out; rm -f $$out; \
	done

python-env: ## make (once, cached in .cache/) the Python virtual environment with Python kafkaesk that interop/ uses; prints its python
	@scripts/python-env

vet: ## go vet, both modules
	$(GO) vet ./...
	cd benchmarks && $(GO) vet ./...

fmt-check: ## fail if any Go file is not gofmt -s clean
	@out=$$(gofmt -s -l .); \
	if [ -n "$$out" ]; then echo "gofmt -s would change:"; echo "$$out"; exit 1; fi

fmt: ## gofmt -s every Go file
	gofmt -s -w .

bench: ## the README's Performance numbers: sloghandler against the alternatives (Python kafkaesk's handler too; tables and contenders.svg), the package benchmarks it cites on each client, and kafkaesk bench's scenarios (into bench-results/)
	@scripts/bench

# The commit bench-compare measures this tree against: by default the one
# before issue 19's work. `make bench-compare BASE=<commit>` picks another.
BASE ?= df4400b

bench-compare: ## the benchmarks of make bench on BASE (default df4400b) and on this tree, interleaved in one run, and benchstat's comparison (into bench-results/compare/)
	@scripts/bench-compare $(BASE)

bench-packages: ## every package's own benchmarks (core, record, sloghandler, collector), on the embedded broker
	$(GO) test -run '^$$' -bench . -benchmem -benchtime=$(BENCHTIME) ./...

kafka-up: ## start a real Apache Kafka broker from Maven Central jars (prints KAFKA_BROKERS=...)
	@scripts/kafka-local start

kafka-down: ## stop the broker started by kafka-up
	@scripts/kafka-local stop
