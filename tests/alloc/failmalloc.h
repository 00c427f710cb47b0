/* failmalloc.h - the allocation-failure hook of the test suite, in SQLite's
 * spirit: count allocations and make the Nth one fail.
 *
 * Every allocation is seen: our own code through the linker (the test is
 * linked with -Wl,--wrap=malloc,calloc,realloc,strdup,strndup, so every
 * call in our objects and static libraries goes through __wrap_*), cJSON
 * through cJSON_InitHooks and SQLite through SQLITE_CONFIG_MALLOC
 * (failmalloc_install, before SQLite is first used). Allocations inside
 * other shared libraries (libc's own) are not counted.
 *
 * Not thread-safe beyond atomic counting: arm it around code that runs on
 * one thread, as the allocation-failure walk does. */
#ifndef FAILMALLOC_H
#define FAILMALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Installs the cJSON and SQLite hooks; call first thing in main. 0 or -EINVAL. */
int failmalloc_install(void);

/* From now on, count allocations and fail the one with index n (0 = the
 * next); with persistent, every later one fails too. */
void failmalloc_arm(long n, bool persistent);

/* Stops counting and failing; returns how many allocations were counted. */
long failmalloc_disarm(void);

/* Whether an allocation was failed since the last arm. */
bool failmalloc_fired(void);

#endif
