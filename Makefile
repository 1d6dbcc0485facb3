# Thin wrapper over the CMake presets (CMakePresets.json). Every target
# installs missing build dependencies first (scripts/deps.sh, apt-get).
#
#   make demo    build the bench preset and run the demo (the benchmarks)
#   make test    every suite through ctest: asan (ASan+UBSan), tsan, release
#   make tsan    the suites under ThreadSanitizer only
#   make bench   every benchmark (bench preset)
#   make format  clang-format the tree in place
JOBS ?= $(shell nproc)

.PHONY: demo test tsan bench deps format clean

deps:
	@scripts/deps.sh

demo: bench

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

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf build
