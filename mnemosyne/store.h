/* store.h - Mnemosyne's memory store: one SQLite file (WAL), hybrid search,
 * reversible consolidation, provenance.
 *
 * The store owns the database connection, the embedder and an in-memory copy
 * of the vectors. It is used by one thread (the MCP/protocol thread in the
 * server, main() in the subcommands); two processes may share one file, each
 * with its own store: SQLite's locks and the busy timeout serialise writers,
 * and each store notices the other's commits (PRAGMA data_version) and
 * refreshes its vector copy.
 *
 * Durability: every call that writes is one transaction (BEGIN IMMEDIATE ...
 * COMMIT); with synchronous = FULL (default) an acknowledged call survives
 * power loss, with NORMAL it survives a process crash but the last
 * transactions may roll back on power loss.
 *
 * Errors: every function returns 0 or a negative errno; the message is in
 * mem_store_errmsg() (what was wrong and what to do). A call that fails
 * changes nothing. -EINVAL is bad input, -ENOENT an unknown id, -EBUSY the
 * file stayed locked beyond the busy timeout ("database is busy, try
 * again"), -EIO a database error.
 *
 * The write lock is held only for SQL: embeddings are computed before a
 * transaction starts, and bulk writes (import, re-embedding) commit in
 * chunks, so another process never waits for long. */
#ifndef MEM_STORE_H
#define MEM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "embed.h"
#include "scoring.h"

typedef struct mem_store mem_store;

typedef enum { MEM_SHORT_TERM = 0, MEM_LONG_TERM = 1, MEM_ARCHIVED = 2 } mem_status;
#define MEM_STATUS_BIT(s) (1u << (unsigned)(s))
#define MEM_STATUS_ACTIVE (MEM_STATUS_BIT(MEM_SHORT_TERM) | MEM_STATUS_BIT(MEM_LONG_TERM))
#define MEM_STATUS_ALL 7u

#define MEM_ID_LEN 40 /* a UUID and its NUL fit */
#define MEM_MAX_TAGS 64
#define MEM_MAX_TAG_BYTES 256
#define MEM_MAX_METADATA_BYTES 16384
#define MEM_MAX_QUERY_BYTES 8192
#define MEM_MAX_RESULTS 100
#define MEM_IMPORT_CHUNK 1000 /* rows per import transaction */

/* Ids of new memories are random UUIDs (8-4-4-4-12 hex digits). Lookups
 * accept any id (files from before this rule keep theirs); an import maps a
 * non-UUID id to mem_id_from_name's UUID. */
bool mem_id_is_uuid(const char *id);
/* A name-based UUID (RFC 9562 version 8: FNV-1a of the name, the version and
 * variant bits set): the same name always gives the same id. out: 37 bytes. */
void mem_id_from_name(const char *name, char *out);

const char *mem_status_name(mem_status s);
int mem_status_parse(const char *s, mem_status *out); /* 0 or -EINVAL */

/* Valid memory types and sources, NULL-terminated, for messages and schemas. */
extern const char *const mem_memory_types[];
extern const char *const mem_sources[];
bool mem_memory_type_valid(const char *t);
bool mem_source_valid(const char *s);

typedef struct mem_emotion {
    bool present;
    double valence, arousal; /* [-1, 1] */
    char quadrant[24];
} mem_emotion;

/* What a search score is made of (search results only; see docs/mnemosyne.md
 * "What a score means"). Ranks count from 1; 0 = the leg did not return it. */
typedef struct mem_score {
    int bm25_rank, vector_rank;
    double rrf;                /* weighted RRF of the ranks / the best possible, [0, 1]: relative to this query */
    double cosine;             /* exact cosine of query and memory embeddings, [-1, 1] */
    double match;              /* IDF-weighted share of the query's words the memory contains, [0, 1] */
    double focus;              /* mem_match_focus (the share of the memory's words that are query words) relative to the
                                  highest among this query's matching candidates, [0.5, 1] */
    double relevance;          /* rrf * strength, strength = weighted mean of max(cosine, 0) and match: absolute */
    double recency;            /* quality recency, [0, 1] */
    double importance;         /* recomputed now, [0, 1] */
    double length, type, role; /* the quality factors (mem_quality_factors); 1 with quality off */
    double quality;            /* the score after the quality formula, before mood and superseded; = relevance
                                  with quality off */
    double mood;               /* mood similarity when the query gave an emotion, else -1 */
    double mood_weight;        /* the weight of mood in the re-rank; 0 when there was none */
    bool superseded;           /* a newer memory restates this one */
    double superseded_factor;  /* what the score was multiplied by for that: superseded_factor or 1 */
} mem_score;

/* A memory as stored. Strings are malloc'd and owned by the record. */
typedef struct mem_record {
    char id[MEM_ID_LEN];
    char *content;
    char *summary;
    char memory_type[16];
    mem_status status;
    double created_at, last_accessed; /* epoch seconds */
    int64_t access_count;
    mem_emotion emotion;
    double salience;
    double importance;
    char *tags;     /* JSON array of strings */
    char *metadata; /* JSON object */
    char source[16];
    char trust[8];                  /* "high" or "low" */
    char superseded_by[MEM_ID_LEN]; /* the memory that replaces this one: the promoted one when archived by
                                       consolidation, a newer restatement (status unchanged) otherwise; "" */
    char supersedes[MEM_ID_LEN];    /* the older memory this one restates (a knowledge update), "" */
    char *lineage;                  /* JSON array of the ids consolidated into this one */
    double archived_at;             /* 0 unless archived */
    char archive_reason[16];        /* "consolidated", "stale", "" */
    double relevance;               /* search results only: the final score, best first */
    mem_score score;                /* search results only: its components */
} mem_record;

void mem_record_clear(mem_record *r); /* frees the strings, zeroes the record */
void mem_records_free(mem_record *r, size_t n);

/* Consolidation settings ([consolidation]). */
typedef struct mem_consolidation_params {
    double importance_threshold; /* 0.6 */
    double similarity_threshold; /* 0.85 */
    double min_age_hours;        /* 1 */
    int max_batch_size;          /* 50 */
    int buffer_threshold;        /* 100 */
    double stale_days;           /* 30; 0 = never archive stale memories */
} mem_consolidation_params;

typedef struct mem_store_params {
    const char *path;             /* database file; parent directories are created (not when read_only) */
    bool read_only;               /* open an existing file read-only: nothing is created or written, the WAL switch,
                                     the FTS5 check (it takes the write lock), migrations and re-embedding are skipped;
                                     a file whose folder is read-only too is opened immutable */
    bool must_exist;              /* refuse a missing (or empty) file with -ENOENT instead of creating it: the
                                     commands that change existing memories (implied by read_only) */
    bool synchronous_full;        /* true: FULL, false: NORMAL */
    int busy_timeout_ms;          /* 5000 */
    int64_t full_check_max_bytes; /* integrity_check up to this size, quick_check above; 64 MiB */
    size_t max_content_bytes;     /* 65536 */
    int summary_chars;            /* default summary = first N characters, 500 */
    mem_embed_params embed;       /* model_path "" = the database's model, else hashed */
    const char *const *low_trust_sources; /* NULL = {"dream", "tool", "import"} */
    size_t n_low_trust_sources;
    mem_retrieval_params retrieval;
    mem_consolidation_params consolidation;
} mem_store_params;

void mem_store_default_params(mem_store_params *p);

/* Opens (creating if needed) the database. An existing file is checked with
 * PRAGMA integrity_check (quick_check above full_check_max_bytes) BEFORE
 * anything is written; a failure returns -EIO with the findings in err and
 * the file untouched. Then WAL, synchronous, busy timeout, and the schema
 * migrations (a file from a newer Mnemosyne is refused with -EPROTO). */
int mem_store_open(const mem_store_params *p, mem_store **out, char *err, size_t errlen);
void mem_store_close(mem_store *s);
const char *mem_store_errmsg(const mem_store *s);
const char *mem_store_path(const mem_store *s);
int mem_store_schema_version(mem_store *s);
/* The embedder the store uses (created by mem_store_open). */
mem_embedder *mem_store_embedder(mem_store *s);
/* The parameters the store runs with (strings borrowed from the store). */
const mem_store_params *mem_store_params_of(const mem_store *s);

/* Tests: pretend the wall clock reads `now` (0 = the real clock). */
void mem_store_set_time(mem_store *s, double now);
double mem_store_now(const mem_store *s);

/* A new memory. NULL/0 fields take their defaults. */
typedef struct mem_new {
    const char *content;     /* required, non-blank, valid UTF-8, <= max_content_bytes */
    const char *summary;     /* default: first summary_chars characters of content */
    const char *memory_type; /* default "episodic" */
    const char *const *tags; /* n_tags strings */
    size_t n_tags;
    const mem_emotion *emotion; /* NULL = none */
    const char *source;         /* default "user" */
    const char *metadata;       /* JSON object text, default {} */
} mem_new;

/* Stores a memory; fills out (may be NULL) with the stored record. When it
 * restates an attribute of the same subject as a current memory (see
 * updates.c), it supersedes it: out->supersedes names the older one. */
int mem_store_add(mem_store *s, const mem_new *m, mem_record *out);

int mem_store_get(mem_store *s, const char *id, mem_record *out);
/* Deletes for good (the user asked). *deleted says whether the id existed. */
int mem_store_delete(mem_store *s, const char *id, bool *deleted);
/* Archives a memory a person deleted (archive_reason "deleted"): out of
 * every default search, restorable with mem_store_restore. -ENOENT,
 * -EALREADY when it is archived already. */
int mem_store_archive(mem_store *s, const char *id);
/* Deletes every memory for good, in one transaction; *forgotten counts them. */
int mem_store_forget_all(mem_store *s, int64_t *forgotten);
/* Undoes an archiving: the memory goes back to short-term (the only status
 * consolidation and stale archiving take memories from), superseded_by is
 * cleared and its id leaves the lineage of the memory that superseded it.
 * -ENOENT, -EINVAL if not archived. */
int mem_store_restore(mem_store *s, const char *id);

/* Removes a knowledge-update link (see updates.c): id may be the newer
 * memory or the older one; both sides are cleared in one transaction.
 * -ENOENT when id is in no such link. */
int mem_store_unlink(mem_store *s, const char *id, bool *unlinked);

/* An edit by a person: NULL fields stay as they are. A new content is
 * re-embedded (before the transaction) and, unless a summary is given,
 * gets a new default summary when the old one was the default (the start
 * of the old content, perhaps cut shorter and ended with "..."); a summary that says something else is
 * kept (summary "" asks for the default). Provenance (source, trust), times
 * and status are kept. -ENOENT, -EINVAL (nothing to change, bad text or
 * type), -EBUSY; a failed edit changes nothing. */
typedef struct mem_edit {
    const char *content;
    const char *summary;
    const char *const *tags; /* with set_tags: the new tags (n_tags may be 0) */
    size_t n_tags;
    bool set_tags;
    const char *memory_type;
} mem_edit;
int mem_store_edit(mem_store *s, const char *id, const mem_edit *e, mem_record *out);
/* Non-archived memories created in the last `hours`, newest first. */
int mem_store_recent(mem_store *s, double hours, int limit, mem_record **out, size_t *n);
/* Marks memories as returned to a user: access_count+1, last_accessed = now,
 * importance recomputed. One transaction. */
int mem_store_touch(mem_store *s, const char *const *ids, size_t n);

typedef struct mem_stats {
    int64_t total, short_term, long_term, archived;
    int64_t db_bytes; /* database + WAL */
    char embedding_model[300];
    int embedding_dim;
    int schema_version;
} mem_stats;
int mem_store_stats(mem_store *s, mem_stats *st);

/* Calls cb for every memory (all statuses) in store order; a non-zero
 * return stops and is returned. */
int mem_store_foreach(mem_store *s, int (*cb)(const mem_record *r, void *ud), void *ud);

/* Import options; mem_import_default_opts() gives the safe defaults. */
typedef struct mem_import_opts {
    bool keep_trust; /* false: every imported record becomes low-trust (default) */
    bool replace;    /* true: a record whose id is present replaces it (re-embedded); false: skipped */
    bool any_ids;    /* true: ids are kept as given; false (default): a non-UUID id becomes
                        mem_id_from_name(id), in superseded_by and lineage too, and the record's
                        metadata keeps it as "original_id" */
} mem_import_opts;
void mem_import_default_opts(mem_import_opts *o);

typedef struct mem_import_result {
    size_t imported; /* new rows */
    size_t replaced; /* present rows replaced (replace) */
    size_t skipped;  /* present rows left alone (no replace) */
} mem_import_result;

/* Inserts records as given (id, times, status, provenance...). Validates
 * every record first: one bad record imports nothing (-EINVAL naming its
 * index). Writes in transactions of MEM_IMPORT_CHUNK rows, each embedded
 * before its transaction starts, so the write lock is never held for long;
 * when a later chunk fails (busy, disk full) the earlier ones stay and res
 * counts them: running the same import again completes it. */
int mem_store_import_ex(mem_store *s, const mem_record *recs, size_t n, const mem_import_opts *o,
                        mem_import_result *res);
/* mem_store_import_ex with any_ids (ids as given: programs that load their
 * own synthetic ids, such as the benchmarks) and no replace. */
int mem_store_import(mem_store *s, const mem_record *recs, size_t n, bool keep_trust, size_t *imported,
                     size_t *skipped);

/* --- search (search.c) --- */
#define MEM_N_RESULTS_DEFAULT (-1) /* n_results: the configured default_n_results */
typedef struct mem_query {
    const char *text;     /* required */
    int n_results;        /* 1..100, default MEM_N_RESULTS_DEFAULT */
    bool use_bm25;        /* lexical leg, default true */
    bool use_vector;      /* vector leg, default true */
    int quality;          /* -1 = config, 0 off, 1 on */
    unsigned status_mask; /* default MEM_STATUS_ACTIVE (archived excluded) */
    bool has_emotion;
    double valence, arousal;
    double emotion_weight; /* < 0 = config default */
    bool touch;            /* count the returned memories as accessed, default true */
} mem_query;

void mem_query_default(mem_query *q);
/* Results best first, relevance in [0, 1]; *out is malloc'd (mem_records_free). */
int mem_store_search(mem_store *s, const mem_query *q, mem_record **out, size_t *n);

/* --- consolidation (consolidate.c) --- */
typedef struct mem_cluster_summary {
    char promoted_id[MEM_ID_LEN];
    char (*source_ids)[MEM_ID_LEN]; /* every member, the promoted one first */
    size_t cluster_size;
    double avg_importance;
} mem_cluster_summary;

typedef struct mem_consolidation_report {
    int clusters_formed;
    int memories_promoted;
    int memories_archived; /* superseded by a promoted memory */
    int memories_skipped;  /* in clusters below the importance threshold */
    int memories_stale;    /* archived as stale */
    int total_processed;
    double duration_seconds;
    mem_cluster_summary *clusters; /* promoted clusters only */
    size_t n_clusters;
} mem_consolidation_report;

void mem_consolidation_report_free(mem_consolidation_report *r);

/* Thresholds < 0 take the configured ones; others must lie in [0, 1]. */
int mem_store_consolidate(mem_store *s, double importance_threshold, double similarity_threshold,
                          mem_consolidation_report *r);
int mem_store_should_consolidate(mem_store *s, bool *yes, char *reason, size_t reasonlen, int64_t *short_term,
                                 int64_t *long_term);

#endif
