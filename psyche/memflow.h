/* memflow.h - how memories flow between a conversation and mnemosyne:
 * retrieval, storage (with the fallback file when mnemosyne cannot take a
 * memory), the storage of compacted messages, important exchanges, the one
 * summary builder (compaction and the quit summary), and the memory tools.
 *
 * Layer: above links.h and generate.h (and fallback.h); below the
 * activities. Agent thread only. A memory is never silently lost: when
 * mnemosyne cannot take it, it goes to the fallback file and is imported
 * when mnemosyne is back. */
#ifndef PSY_MEMFLOW_H
#define PSY_MEMFLOW_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "context.h"
#include "links.h"

/* Characters of each message a summary transcript keeps. */
#define PSY_SUMMARY_MSG_CHARS 500
/* Characters of a memory's default summary (its first words). */
#define PSY_MEM_SUMMARY_CHARS 100

typedef struct psy_memflow {
    psy_links *l;            /* not owned */
    const psy_settings *cfg; /* not owned */
    char *fallback_path;     /* owned */
    int fallback_pending;    /* lines in the fallback file (counted at start and import) */
    bool turn_untrusted;     /* this turn's context holds tool output or low-trust memories */
    bool user_asked;         /* this turn's user message asked to remember something */
} psy_memflow;

/* Where psy_mem_store put a memory. */
typedef enum { PSY_MEM_STORED = 0, PSY_MEM_FALLBACK = 1 } psy_mem_where;

/* Sets up the memory flow; the fallback file is [memory] fallback_file or
 * <state_dir>/fallback-memories.jsonl. Returns 0 or -ENOMEM. */
int psy_memflow_init(psy_memflow *m, psy_links *l, const psy_settings *cfg, const char *state_dir);
void psy_memflow_free(psy_memflow *m);

/* Builds store_memory arguments with the current emotion (caller frees). */
cJSON *psy_mem_args(psy_memflow *m, const char *content, const char *summary, const char *type, const char *source,
                    const char *const *tags);
/* Stores one memory (args owned) in mnemosyne, or the fallback file when it
 * is down, failed or refused it (nothing is lost: a refused one stays in the
 * file and is reported at each import). Returns 0 with *where set (may be
 * NULL), or -errno when even the fallback file failed (logged). */
int psy_mem_store(psy_memflow *m, cJSON *args, psy_mem_where *where);
/* search_memories with the current emotion: 0 with *results (an array,
 * caller frees), -ENOTCONN when mnemosyne is down, another -errno (logged).
 * Low-trust results mark the turn untrusted (psy_mem_turn_untrusted). */
int psy_mem_search(psy_memflow *m, const char *query, int n, cJSON **results);
/* Imports the fallback file (when mnemosyne is up) and reports it. */
void psy_mem_import_fallback(psy_memflow *m);

/* A context's flush callback (ud = the memflow): stores staged messages
 * through the storage filter. 0 when they are taken care of. */
int psy_mem_flush(void *ud, const psy_msg *msgs, size_t n);
/* A context's summarize callback (ud = the memflow). */
char *psy_mem_summarize(void *ud, const psy_msg *msgs, size_t n);
/* The one summary builder: a transcript of first[] then second[] (system
 * messages left out except an earlier summary; each message cut at
 * PSY_SUMMARY_MSG_CHARS characters) summarised on elpis's background
 * sequence. accept_partial: a timed-out generation's text counts. Returns 0
 * with *out (malloc'd, not empty) or -errno with err set. */
int psy_mem_summary(psy_memflow *m, const psy_msg *first, size_t n_first, const psy_msg *second, size_t n_second,
                    bool accept_partial, char **out, char *err, size_t errlen);
/* Stores a conversation summary as a semantic memory; emits what happened. */
void psy_mem_store_summary(psy_memflow *m, const char *text);

/* Importance of an exchange; stores it when over the threshold. */
void psy_mem_consider_exchange(psy_memflow *m, const char *user_text, const char *answer, int tools_used,
                               const char *tool_results);
/* The recall_memory and store_memory tools; return the {success, ...}
 * result (caller frees). */
cJSON *psy_mem_tool(psy_memflow *m, const char *name, const cJSON *args);

/* Provenance (issue 8 item 5). A user turn begins: user_text (NULL for an
 * activity with no user message) says whether the user asked to remember. */
void psy_mem_turn_begin(psy_memflow *m, const char *user_text);
/* The turn's context now holds tool output or low-trust memories. */
void psy_mem_turn_untrusted(psy_memflow *m);
/* The source a memory made by the model in this turn gets: "tool" (low
 * trust) when the context held untrusted text and the user did not ask to
 * remember, else own. */
const char *psy_mem_source(const psy_memflow *m, const char *own);
/* Whether text asks to remember something ("remember", "don't forget",
 * "note that", "keep in mind", "store/save this", case-insensitive). */
bool psy_mem_user_asks_to_remember(const char *text);

/* Appends s cut to max_chars characters (never a split UTF-8 character),
 * with "..." when it was cut. */
void psy_text_append_cut(buf *out, const char *s, size_t max_chars);

#endif
