# tests/alloc/alloc.mk - the allocation-failure walk (included by the Makefile).
#
#   make test-alloc                                   the walk in the plain build
#   make SAN=address,undefined BUILD=build/asan test-alloc   with leak checking (what `make test` runs)
#
# The test links our objects with --wrap so every malloc/calloc/realloc/
# strdup/strndup in them goes through tests/alloc/failmalloc.c.

ALLOC_TEST := $(BUILD)/tests/alloc/test_alloc_failure
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup

$(ALLOC_TEST): $(BUILD)/obj/tests/alloc/test_alloc_failure.o $(BUILD)/obj/tests/alloc/failmalloc.o \
               $(BUILD)/lib/libmnemosyne.a $(BUILD)/lib/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(ALLOC_WRAP) -o $@ $^ $(LIBS)

.PHONY: test-alloc
test-alloc: $(ALLOC_TEST)
	@$(ALLOC_TEST)
