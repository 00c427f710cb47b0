/* record.c - the memory record itself, with no connection: ids (UUID test
 * and name-based UUIDs), statuses, types and sources, freeing, and a row of
 * "SELECT <mem__record_cols>" turned into a record. The bottom layer: it
 * calls nothing else in mnemosyne. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

const char *const mem_memory_types[] = {"episodic", "semantic", "procedural", "emotional", NULL};
const char *const mem_sources[] = {"user", "assistant", "tool", "dream", "summary", "compaction", "import", NULL};
static const char *const status_names[] = {"short_term", "long_term", "archived"};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], s)) return true;
    return false;
}

bool mem_memory_type_valid(const char *t) { return t && in_list(mem_memory_types, t); }
bool mem_source_valid(const char *s) { return s && in_list(mem_sources, s); }

bool mem_id_is_uuid(const char *id)
{
    if (!id || strlen(id) != 36) return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? id[i] != '-' : !isxdigit((unsigned char)id[i])) return false;
    }
    return true;
}

static uint64_t fnv1a64(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void mem_id_from_name(const char *name, char *out)
{
    uint64_t h1 = fnv1a64(name, 0xcbf29ce484222325ULL);
    uint64_t h2 = fnv1a64(name, h1 ^ 0x9e3779b97f4a7c15ULL);
    unsigned char b[16];
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(h1 >> (56 - 8 * i));
        b[8 + i] = (unsigned char)(h2 >> (56 - 8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x80); /* version 8: custom (name-based) */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 9562 variant */
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

const char *mem_status_name(mem_status s) { return (unsigned)s < 3 ? status_names[s] : "unknown"; }

int mem_status_parse(const char *s, mem_status *out)
{
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, status_names[i])) {
            *out = (mem_status)i;
            return 0;
        }
    return -EINVAL;
}

void mem_record_clear(mem_record *r)
{
    free(r->content);
    free(r->summary);
    free(r->tags);
    free(r->metadata);
    free(r->lineage);
    memset(r, 0, sizeof *r);
}

void mem_records_free(mem_record *r, size_t n)
{
    if (!r) return;
    for (size_t i = 0; i < n; i++) mem_record_clear(&r[i]);
    free(r);
}

/* ------------------------------------------------------------- rows */

const char mem__record_cols[] =
    "id, content, summary, memory_type, status, created_at, last_accessed, access_count, valence, arousal, "
    "quadrant, salience, importance, tags, metadata, source, trust, superseded_by, lineage, archived_at, "
    "archive_reason, supersedes";

static char *col_dup(sqlite3_stmt *st, int i, const char *def)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    return strdup(t ? t : def);
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    snprintf(out, outlen, "%s", t ? t : "");
}

int mem__row_to_record(sqlite3_stmt *st, int c, mem_record *r)
{
    memset(r, 0, sizeof *r);
    col_copy(st, c + 0, r->id, sizeof r->id);
    r->content = col_dup(st, c + 1, "");
    r->summary = col_dup(st, c + 2, "");
    col_copy(st, c + 3, r->memory_type, sizeof r->memory_type);
    const char *status = (const char *)sqlite3_column_text(st, c + 4);
    if (mem_status_parse(status, &r->status)) r->status = MEM_SHORT_TERM;
    r->created_at = sqlite3_column_double(st, c + 5);
    r->last_accessed = sqlite3_column_double(st, c + 6);
    r->access_count = sqlite3_column_int64(st, c + 7);
    if (sqlite3_column_type(st, c + 8) != SQLITE_NULL) {
        r->emotion.present = true;
        r->emotion.valence = sqlite3_column_double(st, c + 8);
        r->emotion.arousal = sqlite3_column_double(st, c + 9);
        col_copy(st, c + 10, r->emotion.quadrant, sizeof r->emotion.quadrant);
    }
    r->salience = sqlite3_column_double(st, c + 11);
    r->importance = sqlite3_column_double(st, c + 12);
    r->tags = col_dup(st, c + 13, "[]");
    r->metadata = col_dup(st, c + 14, "{}");
    col_copy(st, c + 15, r->source, sizeof r->source);
    col_copy(st, c + 16, r->trust, sizeof r->trust);
    col_copy(st, c + 17, r->superseded_by, sizeof r->superseded_by);
    r->lineage = col_dup(st, c + 18, "[]");
    r->archived_at = sqlite3_column_double(st, c + 19);
    col_copy(st, c + 20, r->archive_reason, sizeof r->archive_reason);
    col_copy(st, c + 21, r->supersedes, sizeof r->supersedes);
    if (!r->content || !r->summary || !r->tags || !r->metadata || !r->lineage) {
        mem_record_clear(r);
        return -ENOMEM;
    }
    return 0;
}
