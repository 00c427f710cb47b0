/* serve_memory.h - memory in `psyche serve`: one mnemosyne child per user,
 * each with its own database, and automatic retrieval before a chat.
 *
 * Users: without API keys there is one user whose database is the terminal
 * UI's ([memory] db_path, or memories.db in the data folder). With keys,
 * each key is a user with <data folder>/serve-users/<hash of the key>.db, so
 * no request can search another key's memories. A user's mnemosyne starts on
 * its first request and is supervised like elpis afterwards. Retrieval puts
 * memories before the newest user message; storage keeps exchanges that are
 * important enough, as the terminal UI does.
 *
 * The worker and the chat runners: each use of a child holds the
 * server's mem_mu (serve_memory.c). */
#ifndef PSY_SERVE_MEMORY_H
#define PSY_SERVE_MEMORY_H

#include <stddef.h>

#include <cjson/cJSON.h>

struct psy_serve;

/* Sets up the users (nothing starts). keys: the API keys (n_keys 0: one
 * user). Returns 0 or -errno with err set. */
int psy_serve_mem_init(struct psy_serve *s, char *const *keys, size_t n_keys, char *err, size_t errlen);
void psy_serve_mem_free(struct psy_serve *s);
/* Supervises the users' children that were started (restarts). */
void psy_serve_mem_tick(struct psy_serve *s);
/* How many users' mnemosyne children are up. */
int psy_serve_mem_running(struct psy_serve *s);
/* Stops every user's mnemosyne. */
void psy_serve_mem_stop(struct psy_serve *s);
/* The memories of user (the API key's index, -1 without keys) relevant to
 * query, or NULL when memory is off, down or finds nothing. Caller frees. */
cJSON *psy_serve_mem_recall(struct psy_serve *s, int user, const char *query);
/* Automatic storage, as in the terminal UI: the exchange (the newest user
 * message and the answer) is stored in user's memories when its importance
 * (context.h's psy_importance, with the mood of emotion, which may be NULL)
 * reaches [memory] importance_threshold. Returns 1 stored, 0 not worth it
 * (or memory off), -errno when mnemosyne failed (logged). */
int psy_serve_mem_store_exchange(struct psy_serve *s, int user, const char *user_text, const char *answer,
                                 const cJSON *emotion);
/* search_memories on user's mnemosyne (started if need be): the results
 * array (caller frees; may be empty), or NULL when memory is off or down. */
cJSON *psy_serve_mem_search(struct psy_serve *s, int user, const char *query, int n);
/* Any tool of user's mnemosyne (started if need be): args consumed, *res
 * the result (caller frees). 0, -ENOTCONN (memory off or down), or
 * mcp_client_call's error with err set. */
int psy_serve_mem_call(struct psy_serve *s, int user, const char *tool, cJSON *args, cJSON **res, char *err,
                       size_t errlen);
/* Consolidation as the terminal UI does it at exit: asks user's mnemosyne
 * (started if need be) should_consolidate, and on yes runs
 * consolidate_memories with [memory] consolidate_importance and
 * consolidate_similarity; each call waits at most timeout_ms and ends when
 * *cancel (may be NULL) becomes non-zero. Returns 1 consolidated, 0 not
 * recommended, -errno (logged; -ECANCELED when cancelled). On 1, summary
 * (may be NULL) says what was done ("consolidated memories: 2 clusters, ..."). */
int psy_serve_mem_consolidate(struct psy_serve *s, int user, int timeout_ms, const int *cancel, char *summary,
                              size_t summary_len);
/* store_memory with args (consumed) on user's mnemosyne. 0 or -errno (logged). */
int psy_serve_mem_store(struct psy_serve *s, int user, cJSON *args);
/* The next user after `after` (round robin; -1 or less: from the first)
 * whose mnemosyne is running, for a dream; -2 when none. */
int psy_serve_mem_next_active(struct psy_serve *s, int after);
/* The database file of user (static storage of the table; NULL when off). */
const char *psy_serve_mem_db(struct psy_serve *s, int user);
/* FNV-1a 64 of a key as 16 hex digits (the database's name); out needs 17 bytes. */
void psy_serve_mem_key_id(const char *key, char *out);

#endif
