/* version.h - the one place that knows the build's version strings.
 *
 * The Makefile passes PSYCHE_VERSION (VERSION file + git describe),
 * LLAMA_CPP_VERSION and PSYCHE_BUILD_OPTIONS ("cuda=off rpc=off") to this
 * file only, so a new commit recompiles one object, not the tree. */
#ifndef PSY_VERSION_H
#define PSY_VERSION_H

#include <stdio.h>

/* "0.1.0+g3210ad7", or "0.1.0" outside git. Static storage, never freed. */
const char *psy_version(void);

/* "cuda=off rpc=off": the llama.cpp backends this binary was built with. */
const char *psy_build_options(void);

/* Prints "<program> <version>\nllama.cpp <version>, <options>\n" to out: what
 * every --version prints. Returns 0 or -EIO when the write fails. */
int psy_version_print(FILE *out, const char *program);

#endif
