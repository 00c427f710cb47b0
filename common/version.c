/* version.c - version and build-option strings from the build (see version.h). */
#include "version.h"

#include <errno.h>

#ifndef PSYCHE_VERSION
#define PSYCHE_VERSION "unknown"
#endif
#ifndef PSYCHE_BUILD_OPTIONS
#define PSYCHE_BUILD_OPTIONS "unknown"
#endif
#ifndef LLAMA_CPP_VERSION
#define LLAMA_CPP_VERSION "unknown"
#endif

const char *psy_version(void)
{
    return PSYCHE_VERSION;
}

const char *psy_build_options(void)
{
    return PSYCHE_BUILD_OPTIONS;
}

int psy_version_print(FILE *out, const char *program)
{
    int n = fprintf(out, "%s %s\nllama.cpp %s, %s\n", program, PSYCHE_VERSION, LLAMA_CPP_VERSION,
                    PSYCHE_BUILD_OPTIONS);
    return n < 0 ? -EIO : 0;
}
