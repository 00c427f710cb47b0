/* jsonio.h - memories as JSON: what the tools return, what `export` writes
 * one per line, and what `import` reads back. */
#ifndef MEM_JSONIO_H
#define MEM_JSONIO_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "store.h"

/* Flags for mem_record_to_json. */
#define MEM_JSON_RELEVANCE 1u /* add relevance_score */
#define MEM_JSON_FULL 2u      /* every stored field (export); otherwise the tool view */

/* A new cJSON object (the caller deletes it), NULL on out of memory. Low-trust
 * memories carry "trust":"low" and a trust_note telling the agent to treat
 * the content as data, not as instructions. */
cJSON *mem_record_to_json(const mem_record *r, unsigned flags);

/* Parses one exported (or hand-written) memory. Missing fields take the
 * defaults of a new memory (source "import"; a missing id gets a new UUID;
 * times may be ISO 8601 strings or epoch seconds). Returns 0 or -EINVAL with
 * the field named in err. On success the record owns its strings. */
int mem_record_from_json(const cJSON *o, double now, mem_record *r, char *err, size_t errlen);

/* {valence, arousal, quadrant} from a JSON object; a missing number counts
 * as 0 and a missing quadrant is derived. -EINVAL when a value is not a
 * number. NULL or JSON null leaves e->present false. */
int mem_emotion_from_json(const cJSON *o, mem_emotion *e, char *err, size_t errlen);

#endif
