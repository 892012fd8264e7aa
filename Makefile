# Portcullis: `make run` and `make test` are the two commands; see README.md.
SHELL := /bin/bash
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
FUZZ_SECONDS ?= 20
CONFIG     ?= config/portcullis.yaml

.PHONY: all deps build build-asan build-fuzz run test unit test-unit test-integration fuzz bench eval model \
        format format-check clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPC_SANITIZE=ON

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)

$(FUZZ_BUILD)/CMakeCache.txt:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPC_FUZZ=ON -DPC_TESTS=OFF

build-fuzz: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS)

# Starts the gateway on the embedded default config; with no provider key set, the bundled
# mock provider is started too and the default routes fall back to it.
run: build
	@scripts/run.sh $(BUILD) $(CONFIG)

test-unit: build build-asan
	ctest --test-dir $(BUILD) --output-on-failure
	ctest --test-dir $(ASAN_BUILD) --output-on-failure

test-integration: build build-asan
	@scripts/integration.sh $(BUILD) $(ASAN_BUILD)

fuzz: build-fuzz
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

test: build build-asan build-fuzz format-check
	ctest --test-dir $(BUILD) --output-on-failure
	ctest --test-dir $(ASAN_BUILD) --output-on-failure
	@scripts/fuzz.sh $(FUZZ_BUILD) 10
	@scripts/integration.sh $(BUILD) $(ASAN_BUILD)

bench: build
	@bench/run.sh $(BUILD)

# Detection rates of the injection filter over ../shared/data (or PC_EVAL_DATA); see README.
# Then precision and recall of the secrets and PII packs (scripts/eval-sensitive.mjs).
# Also checks that retraining reproduces the shipped classifier.
eval: build
	@node scripts/eval.mjs --bin $(BUILD)/portcullis
	@node scripts/eval-sensitive.mjs --bin $(BUILD)/portcullis
	@scripts/train-model.sh $(BUILD) --check

# Retrains the shipped injection classifier (config/models/injection.pcm) from the train splits.
model: build
	@scripts/train-model.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@out=$$(clang-format --dry-run $$(git ls-files '*.c' '*.h') 2>&1); \
	if [ -n "$$out" ]; then echo "$$out" | head -40; echo "clang-format: run 'make format'"; exit 1; fi

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
