# Thin wrapper over the CMake presets (CMakePresets.json). Every target
# installs missing build dependencies first (scripts/deps.sh, apt-get).
#
#   make demo        urt-echo (slab, boxed) and an epoll echo server under
#                    urt-load at 10, 100 and 1,000 connections: one table
#   make test        every suite through ctest: asan (ASan+UBSan), tsan, release,
#                    and the fuzz targets (parsers, TLS core) for a bounded run (clang)
#   make tsan        the suites under ThreadSanitizer only
#   make bench       the micro-benchmarks (memory, executor, I/O, frame, simulator)
#   make sim         every urt-sim scenario on the simulated kernel, 20,000 seeds
#                    (SEEDS=n for another count, FIRST=s to start elsewhere)
#   make sim-long    the same over a million seeds (about an hour)
#   make plant       each planted bug (URT_PLANT) in urt-sim: the seed that catches it
#   make bench-echo  the echo grid with its goal lines: urt-echo beside
#                    epoll-echo, libuv-echo and tokio-echo (the echo-peers target),
#                    then memory per idle connection (scripts/echo-idle-rss.sh)
#   make bench-servers  urt-http beside nginx and h2o under wrk and urt-load,
#                    urt-kv beside redis-server under redis-benchmark and urt-load
#   make bench-tls   urt-http beside nginx and h2o, urt-kv beside redis-server,
#                    all over TLS 1.3: requests/s and CPU, CPU per handshake,
#                    memory per idle connection, heap calls per request
#   make bench-fixed urt-http with plain and with direct descriptors (--fixed-fds)
#                    under the same wrk runs, alternating
#   make bench-attack   each attack against each server: well-behaved req/s
#                    without and with it, RSS, a fresh client, the ring
#   make format  clang-format the tree in place
JOBS ?= $(shell nproc)

.PHONY: plant demo test tsan bench bench-echo bench-servers bench-fixed bench-tls bench-attack sim sim-long deps format clean

deps:
	@scripts/deps.sh

demo: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-echo urt-load epoll-echo
	scripts/echo-bench.sh build/release/bin demo

bench-echo:
	@scripts/deps.sh --bench
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-echo urt-load epoll-echo
	cmake --build --preset release -j $(JOBS) --target echo-peers || \
	  echo "bench-echo: a peer did not build; the grid skips it and says why"
	REPEAT=$${REPEAT:-3} scripts/echo-bench.sh build/release/bin grid
	REPEAT=$${REPEAT:-3} scripts/echo-idle-rss.sh build/release/bin

bench-servers:
	@scripts/deps.sh --bench
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-kv urt-http
	scripts/bench-servers.sh build/release/bin

bench-fixed:
	@scripts/deps.sh --bench
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-http
	REPEAT=$${REPEAT:-3} scripts/bench-fixed.sh build/release/bin

bench-tls:
	@scripts/deps.sh --bench
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-kv urt-http tls-idle
	REPEAT=$${REPEAT:-3} scripts/bench-tls.sh build/release/bin

bench-attack: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-echo urt-http urt-kv urt-attack
	REPEAT=$${REPEAT:-3} tests/attack/run.sh build/release/bin bench

test: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j $(JOBS)
	cmake --preset fuzz >/dev/null
	cmake --build --preset fuzz -j $(JOBS)
	ctest --preset fuzz -j $(JOBS)

tsan: deps
	cmake --preset tsan >/dev/null
	cmake --build --preset tsan -j $(JOBS)
	ctest --preset tsan -j $(JOBS)

bench:
	@scripts/deps.sh --bench
	cmake --preset bench >/dev/null
	cmake --build --preset bench -j $(JOBS)
	./build/bench/benches/bench_mem
	@echo
	./build/bench/benches/bench_rt
	@echo
	./build/bench/benches/bench_io
	@echo
	./build/bench/benches/bench_frame
	@echo
	./build/bench/benches/bench_sim
	@if [ -x build/bench/benches/bench_tls ]; then echo; \
	  scripts/tls-certs.sh build/bench/pki && ./build/bench/benches/bench_tls build/bench/pki; fi

sim: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-sim
	./build/release/bin/urt-sim --scenario all --seeds $${SEEDS:-20000} --seed $${FIRST:-1}

sim-long: deps
	cmake --preset release >/dev/null
	cmake --build --preset release -j $(JOBS) --target urt-sim
	./build/release/bin/urt-sim --scenario all --seeds $${SEEDS:-1000000} --seed $${FIRST:-1}

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build

# The simulator's reach: each planted bug (URT_PLANT) built into urt-sim,
# the first seed of each scenario that catches it.
plant: deps
	SEEDS=$${SEEDS:-5000} scripts/plant.sh
