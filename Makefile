# Psyche: build, test, lint, install. Owns the build graph; the scripts under
# scripts/ do the work that is not compiling (dependencies, llama.cpp, tests).
# `make help` lists the goals. Only goals that compile something install
# missing Debian packages or build llama.cpp; clean, help, lint, format and
# uninstall never do.

BUILD    ?= build
SAN      ?=
CC       ?= cc
CXX      ?= c++
OPT      ?= -O2
LLAMA_CUDA ?= 0
LLAMA_RPC  ?= 0
PREFIX   ?= /usr/local
DESTDIR  ?=
V        ?= 0

# Parallel by default: one job per core unless the command line says -j.
NPROC := $(shell nproc 2>/dev/null || echo 2)
ifeq ($(filter -j%,$(MAKEFLAGS)),)
  MAKEFLAGS += -j$(NPROC)
endif
MAKEFLAGS += --no-print-directory

# Short "CC file.c" lines; V=1 prints the full command lines.
ifeq ($(V),1)
  Q :=
  say = @true
else
  Q := @
  say = @printf '  %-6s %s\n' $(1) $(2)
endif

.DEFAULT_GOAL := all

# Goals that must never install packages or build llama.cpp.
QUIET_GOALS := clean distclean help lint format format-check tidy shellcheck uninstall test test-deb test-build \
               config-docs
GOALS := $(or $(MAKECMDGOALS),all)
NEEDS_LLAMA := $(filter-out $(QUIET_GOALS),$(GOALS))

# --- llama.cpp -------------------------------------------------------------
# $(BUILD)/llama.mk records where llama.cpp lives. Only goals that compile
# make it: that installs the Debian packages we need ($(BUILD)/deps.stamp)
# and builds llama.cpp once into a cache prefix (scripts/build-llama.sh).
# Other goals read it if it is there (lint wants llama.h) and never make it.
ifeq ($(LLAMA_PREFIX),)
  ifneq ($(NEEDS_LLAMA),)
    include $(BUILD)/llama.mk
$(BUILD)/llama.mk: LLAMA_VERSION scripts/build-llama.sh | $(BUILD)/deps.stamp
	$(Q)p=$$(LLAMA_CUDA=$(LLAMA_CUDA) LLAMA_RPC=$(LLAMA_RPC) scripts/build-llama.sh) && \
	  echo "LLAMA_PREFIX := $$p" > $@
  else
    -include $(wildcard $(BUILD)/llama.mk)
  endif
endif

$(BUILD)/deps.stamp: scripts/setup-deps.sh
	@mkdir -p $(dir $@)
	$(Q)scripts/setup-deps.sh
	@touch $@

# The vocabulary files our test models are made from (llama.cpp's models/ folder).
VOCAB_DIR ?= $(LLAMA_PREFIX)/share/llama-vocab

LLAMA_INC  := -I$(LLAMA_PREFIX)/include
LLAMA_LIBS := -L$(LLAMA_PREFIX)/lib -lllama -lggml -lggml-cpu -lggml-base
ifeq ($(LLAMA_CUDA),1)
  LLAMA_LIBS += -lggml-cuda -L/usr/local/cuda/lib64 -lcudart -lcublas -lcublasLt -lcuda
endif
ifeq ($(LLAMA_RPC),1)
  LLAMA_LIBS += -lggml-rpc
endif
LLAMA_LIBS += -lstdc++ -lm -fopenmp -lpthread

# --- version ---------------------------------------------------------------
# VERSION holds the release; git describe adds the commit when built from git.
# Only the sources that mention PSYCHE_VERSION rebuild when it changes.
include LLAMA_VERSION
PSYCHE_RELEASE := $(strip $(file <VERSION))
# safe.directory: a 'sudo make install' in a user's checkout must see the same version.
GIT_REV := $(shell git -c safe.directory='*' describe --always --dirty=-modified 2>/dev/null)
PSYCHE_VERSION := $(PSYCHE_RELEASE)$(if $(GIT_REV),+g$(GIT_REV))
PSYCHE_BUILD_OPTIONS := cuda=$(if $(filter 1,$(LLAMA_CUDA)),on,off) rpc=$(if $(filter 1,$(LLAMA_RPC)),on,off)$(if $(SAN), san=$(SAN))

# --- flags -----------------------------------------------------------------
SRC_DIRS := common elpis mnemosyne psyche
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -fno-omit-frame-pointer -MMD -MP -Icommon

ifneq ($(SAN),)
  SANFLAGS := -fsanitize=$(SAN) -fno-sanitize-recover=all
endif

# One system library per line so additions do not collide.
SYSLIBS := -lcjson
SYSLIBS += -lsqlite3
SYSLIBS += -lncursesw
SYSLIBS += -lpcre2-8
SYSLIBS += -lcurl
SYSLIBS += -lmicrohttpd
SYSLIBS += -lpthread -lm -ldl

CFLAGS  := $(CFLAGS_BASE) -DLLAMA_CPP_VERSION='"$(LLAMA_RELEASE) ($(LLAMA_COMMIT))"' \
           -DPSYCHE_BUILD_OPTIONS='"$(PSYCHE_BUILD_OPTIONS)"' $(SANFLAGS) $(LLAMA_INC) \
           $(shell pkg-config --cflags libcjson 2>/dev/null) $(EXTRA_CFLAGS)
LDFLAGS := $(SANFLAGS) -rdynamic $(EXTRA_LDFLAGS)
LIBS     = $(LLAMA_LIBS) $(SYSLIBS)

# Changing the compiler or any flag rebuilds everything: the stamp's content
# is the command line, and it is rewritten only when that changes.
FLAGS_STAMP := $(BUILD)/flags.stamp
FLAGS_NOW   := $(CC) $(CFLAGS) | $(LDFLAGS) | $(LIBS)
$(FLAGS_STAMP): FORCE
	@mkdir -p $(dir $@)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(subst ','\'',$(FLAGS_NOW))' ]; then \
	   printf '%s\n' '$(subst ','\'',$(FLAGS_NOW))' > $@; fi

VERSION_STAMP := $(BUILD)/version.stamp
$(VERSION_STAMP): FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = '$(PSYCHE_VERSION)' ] || printf '%s\n' '$(PSYCHE_VERSION)' > $@

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

PROGRAMS := elpis mnemosyne psyche
BINS := $(foreach p,$(PROGRAMS),$(if $(wildcard $(p)/main.c),$(BUILD)/bin/$(p)))
TOOLS := $(patsubst tools/%.c,$(BUILD)/bin/%,$(wildcard tools/*.c))
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
VERSIONED_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(shell grep -l PSYCHE_VERSION $(addsuffix /*.c,$(SRC_DIRS)) tools/*.c 2>/dev/null))

.PHONY: all run test test-unit test-integration test-interop test-build test-install test-deb test-security test-security-fallback \
        test-models bench clean distclean doctor lint format format-check tidy shellcheck \
        help install install-strip uninstall deb man config-docs FORCE

all: $(BINS) $(TOOLS)

# Objects wait for the dependencies and llama.cpp (order-only: a newer script
# does not rebuild them) and rebuild when the flags change.
$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP) | $(BUILD)/deps.stamp
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(VERSIONED_OBJS): $(VERSION_STAMP)
$(VERSIONED_OBJS): CFLAGS += -DPSYCHE_VERSION='"$(PSYCHE_VERSION)"'

$(BUILD)/lib/lib%.a:
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/lib/libcommon.a: $(COMMON_OBJS)
$(BUILD)/lib/libelpis.a: $(ELPIS_OBJS)
$(BUILD)/lib/libmnemosyne.a: $(MNEMOSYNE_OBJS)
$(BUILD)/lib/libpsyche.a: $(PSYCHE_OBJS)

$(BUILD)/bin/%: $(BUILD)/obj/%/main.o $(BUILD)/lib/lib%.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bin/%: $(BUILD)/obj/tools/%.o $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The sandbox's inner layer runs inside bubblewrap, where the llama.cpp cache
# (under $HOME) is not mounted: it links only the system libraries it needs.
$(BUILD)/bin/psyche-sandbox-exec: $(BUILD)/obj/tools/psyche-sandbox-exec.o $(BUILD)/lib/libpsyche.a \
                                  $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcjson -lpthread -lm

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/lib/libelpis.a $(BUILD)/lib/libmnemosyne.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# A unit test named test_<prog>_*.c links <prog>'s library; test_common_* only common.
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(BUILD)/lib/libelpis.a $(BUILD)/lib/libmnemosyne.a \
                       $(BUILD)/lib/libpsyche.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# The security suite's driver: psyche's tools on stdin/stdout (tests/security/toolhost.c).
$(BUILD)/tests/toolhost: $(BUILD)/obj/tests/security/toolhost.o $(BUILD)/lib/libpsyche.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# --- models for tests ------------------------------------------------------
MODELS := $(BUILD)/models/tiny-chat.gguf $(BUILD)/models/tiny-embed.gguf
test-models: $(MODELS)
$(MODELS) &: $(BUILD)/bin/mkmodel
	@mkdir -p $(BUILD)/models
	$(call say,GEN,$(BUILD)/models)
	$(Q)$(BUILD)/bin/mkmodel --vocab-dir $(VOCAB_DIR) --out-dir $(BUILD)/models >/dev/null

# --- running ---------------------------------------------------------------
run: all $(MODELS)
	@ELPIS_MODEL_PATH="$(ELPIS_MODEL_PATH)" scripts/run.sh $(BUILD)

doctor: all $(MODELS)
	$(BUILD)/bin/elpis --doctor --model $${ELPIS_MODEL_PATH:-$(BUILD)/models/tiny-chat.gguf}

# --- tests -----------------------------------------------------------------
# `make test` is what CI runs (scripts/test.sh): the plain build, then
# sanitizer builds in their own trees; each stage below is one of its lines.
test:
	@scripts/test.sh

test-unit: $(UNIT_TESTS) $(MODELS)
	@tests/run-unit.sh $(BUILD)

test-integration: all $(MODELS)
	@BUILD=$(BUILD) python3 tests/integration/run.py

# The tool boundary attacked (tests/security): with bubblewrap where it works, and with it made unavailable.
test-security: all $(BUILD)/tests/toolhost
	@BUILD=$(BUILD) python3 tests/security/run.py

test-security-fallback: all $(BUILD)/tests/toolhost
	@BUILD=$(BUILD) PSYCHE_BWRAP=/nonexistent/bwrap python3 tests/security/run.py --fallback

test-interop: all $(MODELS)
	@tests/interop/run.sh $(BUILD)

test-build:
	@tests/build/test_make.sh

test-install: all
	@tests/install/test_install.sh $(BUILD)

test-deb:
	@tests/install/test_deb.sh

bench: all $(MODELS) $(BENCHES)
	@scripts/bench.sh $(BUILD)

# --- style -----------------------------------------------------------------
# lint = clang-format check + clang-tidy (.clang-tidy) + shellcheck. None of
# them builds anything; clang-tidy needs llama.h, so after a first `make`.
FORMAT_SRCS := $(wildcard $(addsuffix /*.[ch],$(SRC_DIRS)) tools/*.c bench/*.c tests/unit/*.[ch] tests/fuzz/*.c)
TIDY_SRCS   := $(wildcard $(addsuffix /*.c,$(SRC_DIRS)) tools/*.c bench/*.c)
SHELL_SRCS  := $(wildcard scripts/*.sh tests/*.sh tests/*/*.sh)

lint: format-check tidy shellcheck

format-check:
	$(call say,FORMAT,check)
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)

format:
	$(Q)clang-format -i $(FORMAT_SRCS)

tidy:
	$(call say,TIDY,$(words $(TIDY_SRCS)) files)
	$(Q)scripts/tidy.sh "$(LLAMA_PREFIX)" $(TIDY_SRCS)

shellcheck:
	$(call say,SHCHECK,$(words $(SHELL_SRCS)) scripts)
	$(Q)shellcheck -x $(SHELL_SRCS)

# --- docs ------------------------------------------------------------------
# docs/configuration.md and man/psyche.toml.5 come from the programs' own tables.
config-docs:
	@scripts/gen-config-docs.sh $(BUILD)

# --- install ---------------------------------------------------------------
# scripts/install.sh holds the one list of installed files (programs,
# psyche-mkmodel and its two vocab files, default configs, man pages,
# completions, the systemd user unit, docs); uninstall removes that list.
install: all
	@scripts/install.sh install "$(DESTDIR)" "$(PREFIX)" "$(BUILD)" "$(VOCAB_DIR)"

install-strip: all
	@STRIP=1 scripts/install.sh install "$(DESTDIR)" "$(PREFIX)" "$(BUILD)" "$(VOCAB_DIR)"

uninstall:
	@scripts/install.sh uninstall "$(DESTDIR)" "$(PREFIX)"

deb:
	@scripts/build-deb.sh

# --- cleaning and help -----------------------------------------------------
clean:
	rm -rf $(BUILD)

distclean: clean
	@p=$$(scripts/build-llama.sh --print-prefix) && echo "rm -rf $$p" && rm -rf "$$p"
	rm -rf tests/interop/node_modules

help:
	@echo 'make                  build $(BUILD)/bin/{elpis,mnemosyne,psyche} and the tools (parallel)'
	@echo 'make run              build and start psyche on the configured model (or the test model)'
	@echo 'make test             the whole suite as CI runs it (scripts/test.sh); test-unit, test-integration,'
	@echo '                      test-interop, test-build, test-install, test-deb run one stage'
	@echo 'make test-models      write $(BUILD)/models/tiny-chat.gguf and tiny-embed.gguf'
	@echo 'make bench            the benchmark programs (figures, not pass/fail)'
	@echo 'make doctor           elpis --doctor on ELPIS_MODEL_PATH or the test model'
	@echo 'make lint             clang-format check, clang-tidy, shellcheck (builds nothing)'
	@echo 'make format           rewrite the C sources with clang-format'
	@echo 'make install          install under PREFIX=$(PREFIX) (DESTDIR= for staging); make uninstall'
	@echo 'make deb              build ../psyche_<version>_<arch>.deb with dpkg-buildpackage'
	@echo 'make clean            remove $(BUILD); make distclean also removes the llama.cpp build cache'
	@echo 'Variables: BUILD=dir  OPT=-O2  SAN=address,undefined  EXTRA_CFLAGS=  V=1 (full command lines)'
	@echo '           LLAMA_CUDA=1  LLAMA_RPC=1  LLAMA_PREFIX=/path (an existing llama.cpp install)'

# Allocation-failure walk and fuzz targets (owned by common; see those files).
include tests/alloc/alloc.mk
include tests/fuzz/fuzz.mk

# Keep objects of tests and tools between runs.
.SECONDARY:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
