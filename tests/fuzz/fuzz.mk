# tests/fuzz/fuzz.mk - libFuzzer targets (included by the Makefile).
#
#   make fuzz                          build the targets into $(BUILD)/fuzz/
#   make test-fuzz                     build and run each for FUZZ_SECONDS (default 15)
#
# The targets are built with clang (libFuzzer) and their own copies of the
# objects they test, instrumented with -fsanitize=fuzzer-no-link,address,undefined;
# the gcc objects of the normal build are not mixed in.

FUZZ_CC      ?= clang-14
FUZZ_TARGETS := jsonrpc toml toolcall utf8 openai
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror -Wno-unused-parameter -Icommon \
                $(shell pkg-config --cflags libcjson 2>/dev/null) \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_LDFLAGS := -fsanitize=fuzzer,address,undefined
FUZZ_LIBS    := -lcjson -lpthread -lm
FUZZ_COMMON  := $(patsubst common/%.c,$(FUZZ_DIR)/obj/common/%.o,$(wildcard common/*.c))

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_DIR)/libcommon.a: $(FUZZ_COMMON)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz_toolcall: $(FUZZ_DIR)/obj/psyche/toolcall.o
$(FUZZ_DIR)/fuzz_openai: $(FUZZ_DIR)/obj/psyche/openai.o
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libcommon.a
	$(FUZZ_CC) $(FUZZ_LDFLAGS) -o $@ $(filter %.o,$^) $(FUZZ_DIR)/libcommon.a $(FUZZ_LIBS)

.PHONY: fuzz test-fuzz
fuzz: $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_TARGETS))

test-fuzz: fuzz
	@tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_DIR)/obj -name '*.d' 2>/dev/null)
