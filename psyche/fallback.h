/* fallback.h - memories that could not reach mnemosyne wait in a JSONL file
 * (one store_memory argument object per line) and are imported when it is
 * back. Part of the memory flow (memflow.h); no other psyche/ file below it. */
#ifndef PSY_FALLBACK_H
#define PSY_FALLBACK_H

#include <cjson/cJSON.h>

#include "mcp_client.h"

/* Appends args as one line (flushed and fsynced). Returns 0 or -errno. */
int psy_fallback_append(const char *path, const cJSON *args);
/* Stores every line through mnemosyne's store_memory; lines that fail stay in
 * the file (rewritten atomically), the file is removed when all went in. A
 * line whose exact content mnemosyne already holds (the store landed, its
 * answer was lost) is counted as imported, not stored twice.
 * *imported / *failed count lines. Returns 0 (also when there is no file) or -errno. */
int psy_fallback_import(const char *path, mcp_client *c, int timeout_ms, int *imported, int *failed);
/* Lines waiting in the fallback file (0 when there is none). */
int psy_fallback_count(const char *path);

#endif
