/* store_int.h - what the store's files share and nobody else sees: the
 * mem_store struct, transaction and error helpers, the schema migrations and
 * the in-memory vector copy. Names carry the mem__ prefix. */
#ifndef MEM_STORE_INT_H
#define MEM_STORE_INT_H

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "words.h"

/* In-memory int8 copy of the current model's vectors, sorted by seq, so the
 * vector leg does not read every BLOB from SQLite. Rows are immutable per
 * seq (AUTOINCREMENT never reuses one); only status changes. */
typedef struct mem_vindex {
    int dim;
    size_t n, cap;
    int64_t *seq;
    uint8_t *status;
    int8_t *q;    /* n * dim, each vector scaled by 127 / its largest |component| */
    float *scale; /* n: the factor back to the float vector */
} mem_vindex;

struct mem_store {
    sqlite3 *db;
    mem_store_params p;
    char *path;
    char *model_path; /* the embedding GGUF in use, "" for hashed */
    char **low_trust; /* copies of p.low_trust_sources */
    size_t n_low_trust;
    mem_embedder *emb;
    char err[1024];
    double fixed_now;
    int schema_version;
    bool vectors_checked; /* stale vectors re-embedded this session */
    bool vx_loaded;
    int64_t data_version; /* PRAGMA data_version when the copy was last synced */
    int64_t vx_epoch;     /* meta.vector_epoch when the copy was loaded */
    mem_vindex vx;
};

/* Latest schema version (schema.c). */
#define MEM_SCHEMA_VERSION 4

/* --- store.c --- */
int mem__set_err(mem_store *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Maps a SQLite result to -errno and records "what: sqlite message". */
int mem__sql_err(mem_store *s, int sqlrc, const char *what);
int mem__exec(mem_store *s, const char *sql);
int mem__begin_write(mem_store *s); /* BEGIN IMMEDIATE */
int mem__begin_read(mem_store *s);  /* BEGIN (deferred) */
int mem__commit(mem_store *s);
void mem__rollback(mem_store *s);
int mem__prepare(mem_store *s, const char *sql, sqlite3_stmt **st);
/* Columns read by mem__row_to_record, in order, for "SELECT <cols> FROM memories". */
extern const char mem__record_cols[];
int mem__row_to_record(sqlite3_stmt *st, int col0, mem_record *r);
bool mem__is_low_trust(const mem_store *s, const char *source);
/* Makes sure every stored vector is from the current embedder (re-embeds
 * the others once per session) and that the in-memory copy is in sync. */
int mem__vectors_ready(mem_store *s); /* vindex.c */

/* --- records.c: what import.c shares with the single-record calls --- */
/* Validates a whole record as an import gives it (id, texts, type, source,
 * status, times, JSON fields, emotion). */
int mem__check_record(mem_store *s, const mem_record *r);
/* Emotion clamped to [-1, 1], quadrant derived when missing or bad. */
int mem__check_emotion(mem_store *s, const mem_emotion *e, mem_emotion *out);
/* First n characters of text (a character boundary), malloc'd. */
char *mem__prefix_chars(const char *text, int n);
/* Inside a write transaction: a new row and its vector (*seq set), or every
 * column of the row with r->id rewritten and, with vec, its vector replaced. */
int mem__insert_row(mem_store *s, const mem_record *r, const float *vec, int64_t *seq);
int mem__update_row(mem_store *s, const mem_record *r, int64_t seq, const float *vec);
/* The row of id, read inside the current transaction; -ENOENT. */
int mem__get_locked(mem_store *s, const char *id, mem_record *r, int64_t *seq);
/* The summary after a content change (see mem_store_edit); malloc'd, NULL on out of memory. */
char *mem__changed_summary(mem_store *s, const char *old_content, const char *old_summary, const char *new_content,
                           const char *given);

/* --- search.c: what the update detection shares --- */
#define MEM_MAX_TERMS 16
typedef struct mem_term {
    char text[MEM_WORD_MAX + 2];   /* as typed, lower-cased: what FTS5 matches (it stems itself) */
    char folded[MEM_WORD_MAX + 2]; /* plural folded: what the match share compares */
    size_t folded_len;
    int64_t df; /* documents containing it, counted up to the row budget + 1 */
    double idf;
} mem_term;
/* The distinct non-stop words of text (at most MEM_MAX_TERMS); returns the count. */
int mem__query_terms(const char *text, mem_term *terms);
/* Inside a read transaction: the BM25 leg's top k seqs for text among mask. */
int mem__bm25_top(mem_store *s, const char *text, unsigned mask, int k, int64_t *seq, int *n);
/* Inside a read transaction: the vector leg's top k seqs and exact cosines
 * (seq and sc must hold max(2k, 20)). */
int mem__vector_top(mem_store *s, const float *qv, unsigned mask, int k, int64_t *seq, float *sc, size_t *n);

/* --- updates.c --- */
/* Before a store's write transaction: the id of the active, not yet
 * superseded memory that `content` (embedded as vec) restates, or "" (see
 * mem_retrieval_params.update_similarity). */
int mem__find_restated(mem_store *s, const char *content, const float *vec, char *old_id);
/* Inside the write transaction of new_id's insert: links new_id to old_id
 * when old_id is still active and not superseded; *linked says so. */
int mem__link_update(mem_store *s, const char *old_id, const char *new_id, bool *linked);

/* Inside the delete's write transaction: update links to the deleted id go. */
int mem__unlink_deleted(mem_store *s, const char *id);

/* --- schema.c --- */
/* Applies the migrations up to `target` in one transaction each. Refuses a
 * database newer than MEM_SCHEMA_VERSION (-EPROTO). */
int mem__migrate(sqlite3 *db, int target, int *version, char *err, size_t errlen);
int mem__schema_version(sqlite3 *db, int *version);
int mem__meta_get(sqlite3 *db, const char *key, char *out, size_t outlen); /* -ENOENT */
int mem__meta_set(sqlite3 *db, const char *key, const char *value);

/* --- vindex.c --- */
/* Frees the copy's arrays (inline: the store's close needs it, and the store
 * layer calls nothing above it). */
static inline void mem__vx_free(mem_vindex *vx)
{
    free(vx->seq);
    free(vx->status);
    free(vx->q);
    free(vx->scale);
    memset(vx, 0, sizeof *vx);
}
/* (Re)builds the copy from the database: every vector of `model`. */
int mem__vx_load(mem_store *s);
/* Brings the copy up to date after other connections' commits. */
int mem__vx_sync(mem_store *s);
int mem__vx_add(mem_vindex *vx, int64_t seq, mem_status st, const float *v);
void mem__vx_set_status(mem_vindex *vx, int64_t seq, mem_status st);
void mem__vx_remove(mem_vindex *vx, int64_t seq);
/* This process committed a change of seq: keeps the copy exact, if loaded.
 * vec: the row's (new) vector with its status; NULL: only its status
 * changed; status MEM_VX_REMOVED: the row is gone. The one place that knows
 * how the copy follows our own writes (others' come through mem__vx_sync). */
#define MEM_VX_REMOVED (-1)
void mem__vx_note(mem_store *s, int64_t seq, int status, const float *vec);
/* Every row changed (forget): the copy is dropped and reloaded at the next search. */
void mem__vx_drop(mem_store *s);
/* Inside a write transaction where the vector of an existing seq changed:
 * the other processes reload their copies (meta.vector_epoch + 1). */
int mem__bump_vector_epoch(mem_store *s);
/* Preselection: top k by approximate (int8) cosine among statuses in mask;
 * writes seqs and scores, returns the count. */
size_t mem__vx_top(const mem_vindex *vx, const float *q, unsigned mask, size_t k, int64_t *seq, float *score);
/* Exact float32 cosines of seq[0..n) from the table, then sorted best first. */
int mem__vx_exact(mem_store *s, const float *q, int64_t *seq, float *score, size_t n);

#endif
