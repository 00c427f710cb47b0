# Psyche: build, test and run. `make run` and `make test` are all a new user needs;
# both install what is missing (Debian packages, llama.cpp) on first use.
#
#   make                 build build/bin/{elpis,mnemosyne,psyche} and the tools
#   make run             build and start psyche (the elpis demo chat until psyche exists)
#   make test            unit + integration + interop tests, then again under ASan+UBSan, and TSan
#   make test-models     write build/models/tiny-chat.gguf and tiny-embed.gguf
#   make bench           the benchmark programs (figures, not pass/fail)
#   make LLAMA_CUDA=1    build llama.cpp with CUDA (otherwise GPU layers are ignored!)
#   make LLAMA_PREFIX=/path   use an existing llama.cpp install instead of building one
#   make SAN=address,undefined BUILD=build/asan   a sanitizer build in its own tree

BUILD    ?= build
SAN      ?=
CC       ?= cc
CXX      ?= c++
OPT      ?= -O2
LLAMA_CUDA ?= 0

SRC_DIRS := common elpis mnemosyne psyche
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -fno-omit-frame-pointer -MMD -MP -Icommon

ifneq ($(SAN),)
  SANFLAGS := -fsanitize=$(SAN) -fno-sanitize-recover=all
endif

# --- llama.cpp -------------------------------------------------------------
# $(BUILD)/llama.mk records where llama.cpp lives; making it installs the
# Debian packages we need and builds llama.cpp once into a cache prefix.
ifeq ($(LLAMA_PREFIX),)
-include $(BUILD)/llama.mk
$(BUILD)/llama.mk: LLAMA_VERSION scripts/build-llama.sh scripts/setup-deps.sh
	@mkdir -p $(BUILD)
	@scripts/setup-deps.sh
	@p=$$(LLAMA_CUDA=$(LLAMA_CUDA) scripts/build-llama.sh) && echo "LLAMA_PREFIX := $$p" > $@
else
$(BUILD)/llama.mk:
	@mkdir -p $(BUILD)
	@scripts/setup-deps.sh
	@echo "# llama.cpp from LLAMA_PREFIX=$(LLAMA_PREFIX) (given on the command line)" > $@
endif
# The vocabulary files our test models are made from (llama.cpp's models/ folder).
VOCAB_DIR ?= $(LLAMA_PREFIX)/share/llama-vocab

LLAMA_INC  := -I$(LLAMA_PREFIX)/include
LLAMA_LIBS := -L$(LLAMA_PREFIX)/lib -lllama -lggml -lggml-cpu -lggml-base
ifeq ($(LLAMA_CUDA),1)
  LLAMA_LIBS += -lggml-cuda -L/usr/local/cuda/lib64 -lcudart -lcublas -lcublasLt -lcuda
endif
LLAMA_LIBS += -lstdc++ -lm -fopenmp -lpthread

include LLAMA_VERSION
CFLAGS  := $(CFLAGS_BASE) -DLLAMA_CPP_VERSION='"$(LLAMA_RELEASE) ($(LLAMA_COMMIT))"' $(SANFLAGS) $(LLAMA_INC) $(shell pkg-config --cflags libcjson 2>/dev/null) $(EXTRA_CFLAGS)
SYSLIBS := -lcjson -lsqlite3 -lncursesw -lpcre2-8 -lpthread -lm -ldl
SYSLIBS += -lmicrohttpd  # psyche serve (psyche/http.c)
SYSLIBS += -lcurl  # psyche --connect (psyche/http_remote.c)
LDFLAGS := $(SANFLAGS) -rdynamic $(EXTRA_LDFLAGS)
LIBS    := $(LLAMA_LIBS) $(SYSLIBS)

# --- sources ---------------------------------------------------------------
# Every folder becomes a static library of its objects except main.c, so the
# unit tests can link a program's logic without its main().
define objs_of
$(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out $(1)/main.c,$(wildcard $(1)/*.c)))
endef
COMMON_OBJS    := $(call objs_of,common)
ELPIS_OBJS     := $(call objs_of,elpis)
MNEMOSYNE_OBJS := $(call objs_of,mnemosyne)
PSYCHE_OBJS    := $(call objs_of,psyche)

BINS := $(BUILD)/bin/elpis
ifneq ($(wildcard mnemosyne/main.c),)
  BINS += $(BUILD)/bin/mnemosyne
endif
ifneq ($(wildcard psyche/main.c),)
  BINS += $(BUILD)/bin/psyche
endif
TOOLS := $(patsubst tools/%.c,$(BUILD)/bin/%,$(wildcard tools/*.c))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.PHONY: all run test test-unit test-integration test-interop test-san test-tsan \
        test-models bench clean distclean doctor lint

all: $(BINS) $(TOOLS)

$(BUILD)/obj/%.o: %.c $(BUILD)/llama.mk
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/lib/lib%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/lib/libcommon.a: $(COMMON_OBJS)
$(BUILD)/lib/libelpis.a: $(ELPIS_OBJS)
$(BUILD)/lib/libmnemosyne.a: $(MNEMOSYNE_OBJS)
$(BUILD)/lib/libpsyche.a: $(PSYCHE_OBJS)

$(BUILD)/bin/%: $(BUILD)/obj/%/main.o $(BUILD)/lib/lib%.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/lib/libelpis.a $(BUILD)/lib/libmnemosyne.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# A unit test named test_<prog>_*.c links <prog>'s library; test_common_* only common.
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(BUILD)/lib/libelpis.a $(BUILD)/lib/libmnemosyne.a $(BUILD)/lib/libpsyche.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# --- models for tests ------------------------------------------------------
MODELS := $(BUILD)/models/tiny-chat.gguf $(BUILD)/models/tiny-embed.gguf
test-models: $(MODELS)
$(MODELS) &: $(BUILD)/bin/mkmodel
	@mkdir -p $(BUILD)/models
	$(BUILD)/bin/mkmodel --vocab-dir $(VOCAB_DIR) --out-dir $(BUILD)/models

# --- running ---------------------------------------------------------------
run: all $(MODELS)
	@ELPIS_MODEL_PATH="$(ELPIS_MODEL_PATH)" scripts/run.sh $(BUILD)

doctor: all $(MODELS)
	$(BUILD)/bin/elpis --doctor --model $${ELPIS_MODEL_PATH:-$(BUILD)/models/tiny-chat.gguf}

# --- tests -----------------------------------------------------------------
# `make test` is what CI runs: the plain build, then sanitizer builds in their own trees.
test:
	@scripts/test.sh

test-unit: $(UNIT_TESTS)
	@tests/run-unit.sh $(BUILD)

test-integration: all $(MODELS)
	@BUILD=$(BUILD) python3 tests/integration/run.py

test-interop: all $(MODELS)
	@tests/interop/run.sh $(BUILD)

bench: all $(MODELS) $(BENCHES)
	@scripts/bench.sh $(BUILD)

lint:
	@clang-format --dry-run --Werror $(wildcard common/*.[ch] elpis/*.[ch] mnemosyne/*.[ch] psyche/*.[ch] tools/*.c)

clean:
	rm -rf build

# Keep objects of tests and tools between runs.
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
