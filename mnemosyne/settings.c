/* settings.c - the mnemosyne configuration table: defaults, ranges and help,
 * and its translation into mem_store_params. Every key here reaches the
 * code (the original left most retrieval and consolidation keys unwired). */
#include "settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "paths.h"

#define K(sec, key, type, dest, def, lo, hi, help)                                                                     \
    {                                                                                                                  \
        sec, key, type, dest, def, lo, hi, help                                                                        \
    }

size_t mem_settings_table(mem_settings *s, const cfg_key **out) // NOLINT(readability-function-size): a data table
{
    static cfg_key t[64];
    const cfg_key keys[] = {
        K("storage", "db_path", CFG_STRING, &s->db_path, "", 0, 0,
          "the SQLite file holding every memory; empty = $XDG_DATA_HOME/psyche/memories.db (by default "
          "~/.local/share/psyche/memories.db), the file psyche uses (~ is your home; missing folders are created)"),
        K("storage", "embedding_model", CFG_STRING, &s->embedding_model, "", 0, 0,
          "embedding GGUF for the vector leg; empty = the model the database was built with, else the built-in "
          "hashed embedding"),
        K("storage", "embedding_dim", CFG_INT, &s->embedding_dim, "256", 16, 4096,
          "dimensions of the built-in hashed embedding"),
        K("storage", "embedding_ctx", CFG_INT, &s->embedding_ctx, "512", 16, 32768,
          "tokens embedded per memory with a GGUF model (longer text is truncated)"),
        K("storage", "embedding_threads", CFG_INT, &s->embedding_threads, "2", 1, 256,
          "CPU threads for the embedding model"),
        K("storage", "embedding_gpu_layers", CFG_INT, &s->embedding_gpu_layers, "0", -1, 100000,
          "embedding model layers offloaded to the GPU (-1 = all; needs a CUDA build)"),
        K("storage", "synchronous", CFG_STRING, &s->synchronous, "full", 0, 0,
          "full: every acknowledged write survives power loss; normal: faster, survives a crash of mnemosyne but "
          "the last writes may roll back on power loss"),
        K("storage", "busy_timeout_ms", CFG_INT, &s->busy_timeout_ms, "5000", 0, 600000,
          "how long to wait for another process's write lock before failing with 'busy'"),
        K("storage", "full_check_max_mb", CFG_INT, &s->full_check_max_mb, "64", 0, 1048576,
          "files up to this size get PRAGMA integrity_check at start, larger ones quick_check"),
        K("storage", "max_content_bytes", CFG_INT, &s->max_content_bytes, "65536", 16, 16777216,
          "largest content (and summary) accepted by store_memory"),
        K("storage", "summary_chars", CFG_INT, &s->summary_chars, "500", 1, 1000000,
          "a missing summary is the first this many characters of the content"),
        K("consolidation", "importance_threshold", CFG_DOUBLE, &s->importance_threshold, "0.6", 0, 1,
          "clusters with this average importance are promoted to long-term (default of the tool argument)"),
        K("consolidation", "similarity_threshold", CFG_DOUBLE, &s->similarity_threshold, "0.85", 0, 1,
          "cosine to a cluster's centroid needed to join it (default of the tool argument)"),
        K("consolidation", "min_age_hours", CFG_DOUBLE, &s->min_age_hours, "1.0", 0, 876000,
          "short-term memories younger than this are not consolidated yet"),
        K("consolidation", "max_batch_size", CFG_INT, &s->max_batch_size, "50", 1, 100000,
          "candidates per consolidation, the most important first"),
        K("consolidation", "buffer_threshold", CFG_INT, &s->buffer_threshold, "100", 1, 100000000,
          "should_consolidate says yes at this many short-term memories"),
        K("consolidation", "stale_days", CFG_DOUBLE, &s->stale_days, "30.0", 0, 36500,
          "short-term memories untouched this long and below the importance threshold are archived; 0 = never"),
        K("retrieval", "vector_weight", CFG_DOUBLE, &s->vector_weight, "0.5", 0, 100, "RRF weight of the vector leg"),
        K("retrieval", "bm25_weight", CFG_DOUBLE, &s->bm25_weight, "0.5", 0, 100, "RRF weight of the BM25 leg"),
        K("retrieval", "rrf_k", CFG_DOUBLE, &s->rrf_k, "60.0", 1, 100000, "k of Reciprocal Rank Fusion"),
        K("retrieval", "candidate_multiplier", CFG_INT, &s->candidate_multiplier, "2", 1, 50,
          "each leg returns n_results times this many candidates"),
        K("retrieval", "bm25_max_rows", CFG_INT, &s->bm25_max_rows, "2000", 0, 100000000,
          "rows the BM25 leg may score per query, the query's rarest words first (words in more memories than "
          "this are left to the vector leg); 0 = no bound"),
        K("retrieval", "min_vector_similarity", CFG_DOUBLE, &s->min_vector_similarity, "0.0", -1, 1,
          "vector hits with a cosine at or below this are dropped"),
        K("retrieval", "quality", CFG_BOOL, &s->quality, "true", 0, 0,
          "apply the quality score (relevance, recency, importance, length, type, role) after fusion"),
        K("retrieval", "relevance_weight", CFG_DOUBLE, &s->relevance_weight, "0.5", 0, 1,
          "quality: weight of the normalised relevance"),
        K("retrieval", "recency_weight", CFG_DOUBLE, &s->recency_weight, "0.3", 0, 1, "quality: weight of recency"),
        K("retrieval", "importance_weight", CFG_DOUBLE, &s->importance_weight, "0.2", 0, 1,
          "quality: weight of importance"),
        K("retrieval", "recency_decay_rate", CFG_DOUBLE, &s->recency_decay_rate, "0.995", 0.9, 1,
          "quality: recency = rate ^ age in hours"),
        K("retrieval", "max_recency_hours", CFG_DOUBLE, &s->max_recency_hours, "720.0", 24, 876000,
          "quality: ages beyond this count as this"),
        K("retrieval", "max_content_length", CFG_DOUBLE, &s->max_content_length, "500.0", 1, 1000000,
          "quality: memories of this many characters or more get the full length factor"),
        K("retrieval", "length_factor", CFG_BOOL, &s->length_factor, "true", 0, 0,
          "quality: apply the length preference (see length_weight); false = every length alike"),
        K("retrieval", "length_weight", CFG_DOUBLE, &s->length_weight, "0.0", 0, 1,
          "quality: length factor = 1 - this * (1 - min(characters, max_content_length) / max_content_length), "
          "so a short fact loses at most this share; 0 = off (measured: no gain, docs/mnemosyne.md)"),
        K("retrieval", "superseded_factor", CFG_DOUBLE, &s->superseded_factor, "0.5", 0, 1,
          "score factor of a memory that a newer one restates (it stays findable, ranked below the newer)"),
        K("retrieval", "update_similarity", CFG_DOUBLE, &s->update_similarity, "0.25", 0, 1,
          "a new memory supersedes an older one on the same subject when both search legs rank the older first "
          "and their cosine is at least this; 0 = never link"),
        K("retrieval", "semantic_type_factor", CFG_DOUBLE, &s->semantic_type_factor, "1.2", 1, 2,
          "quality: factor for semantic memories"),
        K("retrieval", "assistant_role_factor", CFG_DOUBLE, &s->assistant_role_factor, "1.1", 0.5, 2,
          "quality: factor for memories tagged \"assistant\" (untagged: from source assistant)"),
        K("retrieval", "user_role_factor", CFG_DOUBLE, &s->user_role_factor, "0.9", 0.5, 2,
          "quality: factor for memories tagged \"user\" (untagged: from source user)"),
        K("retrieval", "emotion_weight", CFG_DOUBLE, &s->emotion_weight, "0.3", 0, 1,
          "default weight of the mood-congruent re-rank when a search gives an emotional_context"),
        K("retrieval", "use_angular_similarity", CFG_BOOL, &s->use_angular_similarity, "false", 0, 0,
          "mood similarity (cos+1)/2 instead of 1 - euclidean/2.83"),
        K("retrieval", "default_n_results", CFG_INT, &s->default_n_results, "10", 1, 100,
          "n_results of search_memories and of `mnemosyne search` when the caller gives none"),
        K("retrieval", "context_results", CFG_INT, &s->context_results, "20", 1, 100,
          "memories get_memory_context searches before fitting them into max_tokens"),
        K("trust", "low_sources", CFG_STRLIST, &s->low_trust_sources, "dream,tool,import", 0, 0,
          "sources whose memories are low-trust: returned marked as data, never to be followed as instructions"),
        K("logging", "level", CFG_STRING, &s->log_level, "info", 0, 0, "debug, info, warn or error"),
        K("logging", "file", CFG_STRING, &s->log_file, "", 0, 0, "append logs to this file instead of stderr"),
    };
    size_t n = sizeof keys / sizeof keys[0];
    for (size_t i = 0; i < n; i++) t[i] = keys[i];
    *out = t;
    return n;
}

int mem_settings_to_params(const mem_settings *s, mem_store_params *p, char *path_buf, size_t path_len, char *err,
                           size_t errlen)
{
    mem_store_default_params(p);
    /* empty: the one XDG resolver's <data>/psyche/memories.db, the file psyche uses */
    char *path = NULL;
    int rc = s->db_path && *s->db_path ? paths_expand_home(s->db_path, &path, err, errlen)
                                       : paths_default_db(&path, err, errlen);
    if (rc) return rc;
    if (strlen(path) >= path_len) {
        snprintf(err, errlen, "[storage] db_path is too long (%zu bytes)", strlen(path));
        free(path);
        return -ENAMETOOLONG;
    }
    snprintf(path_buf, path_len, "%s", path);
    free(path);
    p->path = path_buf;
    if (!s->synchronous || !strcasecmp(s->synchronous, "full")) {
        p->synchronous_full = true;
    } else if (!strcasecmp(s->synchronous, "normal")) {
        p->synchronous_full = false;
    } else {
        snprintf(err, errlen, "[storage] synchronous: expected full or normal, got \"%s\"", s->synchronous);
        return -EINVAL;
    }
    p->busy_timeout_ms = s->busy_timeout_ms;
    p->full_check_max_bytes = (int64_t)s->full_check_max_mb * 1024 * 1024;
    p->max_content_bytes = (size_t)s->max_content_bytes;
    p->summary_chars = s->summary_chars;
    p->embed.model_path = s->embedding_model;
    p->embed.dim = s->embedding_dim;
    p->embed.n_ctx = s->embedding_ctx;
    p->embed.n_threads = s->embedding_threads;
    p->embed.gpu_layers = s->embedding_gpu_layers;
    p->low_trust_sources = (const char *const *)s->low_trust_sources.items;
    p->n_low_trust_sources = s->low_trust_sources.n;
    for (size_t i = 0; i < s->low_trust_sources.n; i++)
        if (!mem_source_valid(s->low_trust_sources.items[i])) {
            snprintf(err, errlen,
                     "[trust] low_sources: unknown source \"%s\" (sources: user, assistant, tool, dream, "
                     "summary, compaction, import)",
                     s->low_trust_sources.items[i]);
            return -EINVAL;
        }
    mem_consolidation_params *c = &p->consolidation;
    c->importance_threshold = s->importance_threshold;
    c->similarity_threshold = s->similarity_threshold;
    c->min_age_hours = s->min_age_hours;
    c->max_batch_size = s->max_batch_size;
    c->buffer_threshold = s->buffer_threshold;
    c->stale_days = s->stale_days;
    mem_retrieval_params *r = &p->retrieval;
    r->vector_weight = s->vector_weight;
    r->bm25_weight = s->bm25_weight;
    r->rrf_k = s->rrf_k;
    r->candidate_multiplier = s->candidate_multiplier;
    r->min_vector_similarity = s->min_vector_similarity;
    r->bm25_max_rows = s->bm25_max_rows;
    r->quality = s->quality;
    r->relevance_weight = s->relevance_weight;
    r->recency_weight = s->recency_weight;
    r->importance_weight = s->importance_weight;
    r->recency_decay_rate = s->recency_decay_rate;
    r->max_recency_hours = s->max_recency_hours;
    r->max_content_length = s->max_content_length;
    r->length_factor = s->length_factor;
    r->length_weight = s->length_weight;
    r->superseded_factor = s->superseded_factor;
    r->update_similarity = s->update_similarity;
    r->semantic_type_factor = s->semantic_type_factor;
    r->assistant_role_factor = s->assistant_role_factor;
    r->user_role_factor = s->user_role_factor;
    r->emotion_weight = s->emotion_weight;
    r->angular_similarity = s->use_angular_similarity;
    r->default_n_results = s->default_n_results;
    r->context_results = s->context_results;
    return 0;
}
