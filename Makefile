# hearlers: the four commands a newcomer needs. See README.md.
#   make up     install what is missing, build, start the local stack and the three servers
#   make down   stop everything `make up` started
#   make test   build and run every test (unit, integration, end-to-end); starts and stops its
#               own stack (profile "test", other ports) and never touches the `make up` one
#   make build  configure and compile into build/
SHELL := /bin/bash
BUILD_DIR ?= build
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
CTEST_FLAGS ?= --output-on-failure

.PHONY: up down test build deps unit clean status

deps:
	bash deploy/local/deps.sh all

build:
	bash deploy/local/deps.sh build
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR)

up: build
	bash deploy/local/deps.sh stack
	HL_PROFILE=dev bash deploy/local/stack.sh up

down:
	HL_PROFILE=dev bash deploy/local/stack.sh down

status:
	HL_PROFILE=dev bash deploy/local/stack.sh status

test: build
	bash deploy/local/deps.sh all
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS)

unit: build
	cd $(BUILD_DIR) && ctest -L unit $(CTEST_FLAGS)

clean:
	rm -rf $(BUILD_DIR)

# Command-side benchmark (bench/README.md): needs a running stack (default: the test profile,
# `HL_PROFILE=test bash deploy/local/stack.sh up`). BENCH_ARGS e.g. --seconds=10 --clients=1,8,32
.PHONY: bench-command
bench-command: build
	cc -std=c11 -O2 -Wall -Wextra -Werror bench/command_bench.c -o $(BUILD_DIR)/command-bench \
	  $$(pkg-config --cflags --libs libcurl libpq) -lpthread
	$(BUILD_DIR)/command-bench $(BENCH_ARGS)

# Query-side benchmarks (bench/query_bench.sh, bench/e2e_lag.sh): need a running stack (default
# the dev profile of `make up`; HL_PROFILE=test for the test one). wrk comes from Debian.
.PHONY: bench-query bench-lag
bench-query:
	bash bench/query_bench.sh
bench-lag:
	bash bench/e2e_lag.sh $(LAG_ARGS)

# Tracing overhead (bench/tracing_bench.sh): command and query benches with tracing off, sampled
# at 0.01 and at 1.0, in one run on a running stack (HL_PROFILE, default dev).
.PHONY: bench-tracing
bench-tracing: build
	bash bench/tracing_bench.sh

# Projector benchmark (bench/README.md): events/s of a second projector daemon (own consumer
# group and database) catching up on every topic, alone and during a rebuild; needs a running
# stack (default: the dev profile; HL_PROFILE=test for the test one).
.PHONY: bench-projector
bench-projector: build
	bash bench/projector_bench.sh

# Scale-out benchmark (issue 16, bench/README.md): projector inputs/s with 1 and 2 processes on
# one backlog, commands/s with 1 and 2 command servers, CPU of each; needs a running stack
# (default: the dev profile).
.PHONY: bench-scale
bench-scale: build
	cc -std=c11 -O2 -Wall -Wextra -Werror bench/command_bench.c -o $(BUILD_DIR)/command-bench \
	  $$(pkg-config --cflags --libs libcurl libpq) -lpthread
	bash bench/scale_bench.sh

# CPU per command of the whole pipeline (issue 15, bench/README.md "bench-cpu"): register,
# friend request, send-message and mark-read through the gateway; per process CPU µs per command,
# read-store commands and PostgreSQL statements per command, beside the kept "before" figures
# (bench/results/cpu-before.json). Needs a running stack (HL_PROFILE, default dev) and the
# projector built from this tree (its store counters). CPU_BENCH_ARGS e.g. --messages=8000,
# CPU_NOTE what ran. Also a phase of `make bench-report` (docs/BENCHMARKS.md).
.PHONY: bench-cpu
bench-cpu:
	bash bench/cpu_bench.sh

# The benchmark report (bench/README.md, `make bench-report`): installs what it needs, builds,
# starts a fresh stack of its own (HL_PROFILE, default lab4), runs every benchmark next to its
# peer and writes docs/BENCHMARKS.md. REPORT_ARGS e.g. --scales=1 (skip the 10x phase).
.PHONY: bench-report
bench-report:
	bash bench/report.sh $(REPORT_ARGS)

# Demo (README "Demo"): `make up`, then hl-loadgen at scale 1 (1,000 users, 20,000 messages)
# with its verification of every read model, a few query-API answers and the analyst examples
# of docs/read-models.md. DEMO_SCALE=0.1 for a quick one; DEMO_ARGS go to hl-loadgen.
.PHONY: demo
demo: up
	bash deploy/local/deps.sh test
	bash bench/demo.sh

# Gateway benchmark (bench/gateway_bench.sh): wrk through the gateway and directly to the
# servers, 32 and 1,000 connections, profile read and send-message write, plus a read's p99
# with 5,000 idle connections held; needs a running stack (default: the dev profile).
.PHONY: bench-gateway
bench-gateway:
	bash bench/gateway_bench.sh

# Media benchmark (bench/README.md, issue 18): 2 MiB JPEG avatar uploads/s and p99 at 1 and 8
# clients, command-server CPU per upload, /media/ reads/s through the gateway cache, each beside
# the object store alone; needs a running stack (default: the dev profile).
.PHONY: bench-media
bench-media:
	bash bench/media_bench.sh

# Fuzzing (issue 17, tests/fuzz): libFuzzer targets for every decoder of untrusted bytes, built
# with clang in build-fuzz (-DHL_FUZZ=ON: ASan + UBSan), each run FUZZ_SECONDS (default 60) on
# its seed corpus; prints executions, seconds and crashes per target. FUZZ_TARGETS to pick some.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	bash deploy/local/deps.sh fuzz
	bash tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Booking saga benchmark (bench/booking_bench.py): bookings/s and p50/p99 POST /v1/bookings ->
# job succeeded at simulator latency 0 and 200 ms, 1/8/32 clients, beside send-message; needs a
# running stack (default: the test profile). BOOKING_ARGS e.g. --seconds=10 --clients=1,8,32
.PHONY: bench-booking
bench-booking:
	HL_PROFILE=$${HL_PROFILE:-test} bash -c 'source deploy/local/env.sh && \
	  export HL_COMMAND_PORT HL_QUERY_PORT HL_PAYMENT_PORT HL_PROJECTOR_PORT HL_PG_PORT HL_PG_USER \
	    HL_PG_DB HL_BUILD_DIR && python3 bench/booking_bench.py $(BOOKING_ARGS)'
# Stream listener benchmark (bench/stream_bench.py, issue 11): 10,000 SSE/WebSocket connections
# and a writer at 200 messages/s on a running stack (default profile dev; HL_PROFILE=... else).
# STREAM_BENCH_ARGS e.g. --connections 2000 --seconds 20
.PHONY: bench-streams
bench-streams:
	bash bench/stream_bench.sh $(STREAM_BENCH_ARGS)

# Sanitizers over the real thing (issue 17, tests/sanitize/run.sh): builds build-asan
# (-DHL_SANITIZE=ON: ASan + UBSan, -fno-sanitize-recover=undefined), runs the e2e label against
# those servers and tools (stack of HL_TEST_PROFILE, default test) and fails on any ASan, UBSan
# or LeakSanitizer report (log_path under the stack's log dir). SANITIZE_ARGS go to ctest.
.PHONY: test-sanitize
test-sanitize: build
	bash deploy/local/deps.sh all
	SAN_BUILD_DIR=$(CURDIR)/build-asan bash tests/sanitize/run.sh $(SANITIZE_ARGS)

# The fault matrix (issue 17, tests/chaos, docs/RELIABILITY.md): every process of the stack
# SIGKILLed and restarted, Kafka/FerretDB/projector frozen 30 s, the projector's TCP to Kafka
# cut 30 s, under hl-loadgen; verified against PostgreSQL after each. Stack HL_PROFILE (default
# test). CHAOS_ARGS e.g. --faults=kill:kafka,stop:projector --freeze=30
.PHONY: chaos
chaos: build
	bash deploy/local/deps.sh all
	HL_PROFILE=$${HL_PROFILE:-test} bash tests/chaos/run.sh $(CHAOS_ARGS)
