# Thin wrapper over CMake for the README's commands.
#   make          build build/salvo
#   make demo     install what is missing, build, run a 10 s load test against the demo target
#   make test     build and run every test suite (unit, end-to-end)
#   make asan     the same suites built with AddressSanitizer + UBSan, -Werror
#   make fuzz     build the libFuzzer drivers with clang and run each briefly
#   make bench    salvo against wrk on nginx (see bench/README.md)

BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
PYTHON ?= $(shell for p in python3 /usr/bin/python3; do $$p -c 'import pytest' 2>/dev/null && echo $$p && break; done)

.PHONY: all build demo test unit e2e asan fuzz bench deps clean

all: build

build:
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	scripts/install-deps

demo: deps
	@$(MAKE) --no-print-directory build
	scripts/demo

test: deps build
	@$(MAKE) --no-print-directory unit e2e

unit:
	cd $(BUILD) && ctest --output-on-failure

e2e:
	@test -n "$(PYTHON)" || { echo "pytest is missing: run scripts/install-deps"; exit 2; }
	SALVO=$(abspath $(BUILD))/salvo $(PYTHON) -m pytest -q tests/e2e

asan:
	@$(MAKE) --no-print-directory test BUILD=build-asan \
		CMAKE_FLAGS="-DSV_SANITIZE=ON -DSV_WERROR=ON -DCMAKE_BUILD_TYPE=Debug"

fuzz:
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DSV_FUZZ=ON -DSV_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	scripts/run-fuzzers build-fuzz

bench: build
	SALVO=$(abspath $(BUILD))/salvo bench/run

clean:
	rm -rf build build-asan build-fuzz
