/* test_mnemosyne_store.c - unit tests of the memory store's records and
 * file handling: every field of a stored memory, each bad input (and that
 * it changes nothing), delete, recent, access counting, stats, export and
 * import, schema migrations from an old file, refusing a newer file, the
 * integrity check at open (no writes to a damaged file), WAL/synchronous,
 * and two stores on one file. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "../../mnemosyne/jsonio.h"
#include "../../mnemosyne/store_int.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../mnemosyne/store.h"
#include "log.h"
#include "util.h"

#include "mnemosyne_fixture.h"


/* --------------------------------------------------------------- fields */

static void test_open_wal_and_schema(void **state)
{
    tctx *t = *state;
    assert_int_equal(mem_store_schema_version(t->s), MEM_SCHEMA_VERSION);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(t->s->db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(t->s->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1); /* NORMAL, as the test asked */
    sqlite3_finalize(st);
    /* default params ask for FULL */
    mem_store_params p;
    mem_store_default_params(&p);
    assert_true(p.synchronous_full);
    mem_store_close(t->s);
    t->p.synchronous_full = true;
    assert_int_equal(t_open(t), 0);
    assert_int_equal(sqlite3_prepare_v2(t->s->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2); /* FULL */
    sqlite3_finalize(st);
}

static void test_open_creates_directories(void **state)
{
    tctx *t = *state;
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/a/b/c/mem.db", t->dir);
    mem_store_params p = t->p;
    p.path = path;
    mem_store *s2;
    assert_int_equal(mem_store_open(&p, &s2, err, sizeof err), 0);
    mem_store_close(s2);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    p.path = "";
    assert_int_equal(mem_store_open(&p, &s2, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "db_path"));
}

static void test_add_fields(void **state)
{
    tctx *t = *state;
    char content[700];
    /* 598 ASCII bytes then a 2-byte character: the 500-character summary cuts before it */
    memset(content, 'a', 598);
    memcpy(content + 598, "\xc3\xa9 tail", 8);
    content[606] = '\0';
    const char *tags[] = {"pref", "user"};
    mem_emotion e = {.present = true, .valence = -0.2, .arousal = 0.6};
    mem_new m = {.content = content,
                 .memory_type = "semantic",
                 .tags = tags,
                 .n_tags = 2,
                 .emotion = &e,
                 .source = "assistant",
                 .metadata = "{\"k\":1}"};
    mem_record r;
    assert_int_equal(mem_store_add(t->s, &m, &r), 0);
    assert_int_equal(strlen(r.id), 36);
    mem_record g;
    assert_int_equal(mem_store_get(t->s, r.id, &g), 0);
    assert_string_equal(g.content, content);
    assert_int_equal(strlen(g.summary), 500);
    assert_string_equal(g.memory_type, "semantic");
    assert_int_equal(g.status, MEM_SHORT_TERM);
    assert_near(g.created_at, T0, 1e-6);
    assert_near(g.last_accessed, T0, 1e-6);
    assert_int_equal(g.access_count, 0);
    assert_true(g.emotion.present);
    assert_near(g.emotion.valence, -0.2, 1e-12);
    assert_string_equal(g.emotion.quadrant, "frustrated"); /* derived */
    assert_near(g.salience, 0.74, 1e-12);
    assert_near(g.importance, 0.4 * 0.74 + 0.3, 1e-12);
    assert_string_equal(g.tags, "[\"pref\",\"user\"]");
    assert_string_equal(g.metadata, "{\"k\":1}");
    assert_string_equal(g.source, "assistant");
    assert_string_equal(g.trust, "high");
    assert_string_equal(g.superseded_by, "");
    assert_string_equal(g.lineage, "[]");
    mem_record_clear(&r);
    mem_record_clear(&g);

    /* defaults, low trust, a given quadrant kept, clamped emotion */
    mem_emotion e2 = {.present = true, .valence = 3, .arousal = -2, .quadrant = "melancholy"};
    mem_new m2 = {
        .content = "a dream about flying over the sea", .summary = "flying", .source = "dream", .emotion = &e2};
    assert_int_equal(mem_store_add(t->s, &m2, &r), 0);
    assert_int_equal(mem_store_get(t->s, r.id, &g), 0);
    assert_string_equal(g.memory_type, "episodic");
    assert_string_equal(g.summary, "flying");
    assert_string_equal(g.trust, "low");
    assert_near(g.emotion.valence, 1, 0);
    assert_near(g.emotion.arousal, -1, 0);
    assert_string_equal(g.emotion.quadrant, "melancholy");
    assert_near(g.salience, 1.0, 1e-12);
    mem_record_clear(&r);
    mem_record_clear(&g);
    /* no emotion: salience 0.5, importance 0.5 */
    mem_new m3 = {.content = "plain fact"};
    assert_int_equal(mem_store_add(t->s, &m3, &r), 0);
    assert_false(r.emotion.present);
    assert_near(r.importance, 0.5, 1e-12);
    assert_string_equal(r.source, "user");
    mem_record_clear(&r);
    assert_int_equal(mem_store_get(t->s, "no-such-id", &g), -ENOENT);
}

/* Each bad input fails with -EINVAL, a message naming the problem, and no change. */
static void test_bad_inputs(void **state)
{
    tctx *t = *state;
    t_add(t->s, "one good memory", NULL, NAN, 0, NULL);
    char *big = malloc(65538);
    memset(big, 'x', 65537);
    big[65537] = '\0';
    const char *empty_tag[] = {""};
    const char *bad_tag[] = {"ok", "\xff\xfe"};
    const char *many[70];
    for (int i = 0; i < 70; i++) many[i] = "t";
    mem_emotion nan_emo = {.present = true, .valence = NAN, .arousal = 0};
    struct {
        mem_new m;
        const char *want;
    } cases[] = {
        {{.content = NULL}, "content is required"},
        {{.content = ""}, "content is empty"},
        {{.content = " \n\t "}, "content is empty"},
        {{.content = big}, "over the limit of 65536 bytes"},
        {{.content = "bad \xc3\x28 utf8"}, "content is not valid UTF-8"},
        {{.content = "overlong \xc0\xaf"}, "not valid UTF-8"},
        {{.content = "surrogate \xed\xa0\x80"}, "not valid UTF-8"},
        {{.content = "ok", .summary = "\xff"}, "summary is not valid UTF-8"},
        {{.content = "ok", .memory_type = "dreamy"}, "valid types: episodic, semantic, procedural, emotional"},
        {{.content = "ok", .source = "oracle"}, "valid sources: user, assistant"},
        {{.content = "ok", .tags = empty_tag, .n_tags = 1}, "tag 0 is empty"},
        {{.content = "ok", .tags = bad_tag, .n_tags = 2}, "tag 1 is not valid UTF-8"},
        {{.content = "ok", .tags = many, .n_tags = 70}, "at most 64"},
        {{.content = "ok", .metadata = "[1,2]"}, "metadata must be a JSON object"},
        {{.content = "ok", .metadata = "{oops"}, "metadata must be a JSON object"},
        {{.content = "ok", .emotion = &nan_emo}, "finite"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = mem_store_add(t->s, &cases[i].m, NULL);
        if (rc != -EINVAL) fail_msg("case %zu: rc %d, want -EINVAL", i, rc);
        if (!strstr(mem_store_errmsg(t->s), cases[i].want))
            fail_msg("case %zu: message '%s' lacks '%s'", i, mem_store_errmsg(t->s), cases[i].want);
        assert_int_equal(t_count(t->s, 3), 1);
    }
    /* exactly at the limit is fine */
    big[65536] = '\0';
    mem_new ok = {.content = big};
    assert_int_equal(mem_store_add(t->s, &ok, NULL), 0);
    assert_int_equal(t_count(t->s, 3), 2);
    /* a smaller configured limit */
    mem_store_close(t->s);
    t->p.max_content_bytes = 100;
    assert_int_equal(t_open(t), 0);
    big[101] = '\0';
    assert_int_equal(mem_store_add(t->s, &ok, NULL), -EINVAL);
    assert_non_null(strstr(mem_store_errmsg(t->s), "limit of 100 bytes"));
    free(big);
}

/* archive, restore and purge share one way into a row (begin_on): every
 * refusal names the memory and leaves no transaction open behind it. */
static void test_archive_restore_purge(void **state)
{
    tctx *t = *state;
    char id[MEM_ID_LEN];
    const char *unknown = "00000000-0000-4000-8000-000000000000";
    t_add(t->s, "the spare key is under the blue flowerpot", NULL, NAN, 0, id);
    assert_int_equal(mem_store_archive(t->s, unknown), -ENOENT);
    assert_non_null(strstr(mem_store_errmsg(t->s), unknown));
    assert_int_equal(mem_store_restore(t->s, id), -EINVAL); /* short-term, not archived */
    assert_int_equal(mem_store_archive(t->s, id), 0);
    assert_int_equal(t_count(t->s, 2), 1);
    assert_int_equal(mem_store_archive(t->s, id), -EALREADY);
    assert_non_null(strstr(mem_store_errmsg(t->s), "purge"));
    assert_int_equal(mem_store_restore(t->s, id), 0);
    assert_int_equal(t_count(t->s, 0), 1);
    bool deleted;
    assert_int_equal(mem_store_delete(t->s, unknown, &deleted), 0);
    assert_false(deleted);
    /* no refusal above left a write transaction open: new writes still work */
    t_add(t->s, "a later memory", NULL, NAN, 0, NULL);
    assert_int_equal(mem_store_delete(t->s, id, &deleted), 0);
    assert_true(deleted);
    assert_int_equal(t_count(t->s, 3), 1);
    assert_int_equal(mem_store_archive(t->s, id), -ENOENT);
}

static void test_delete(void **state)
{
    tctx *t = *state;
    char id[MEM_ID_LEN];
    t_add(t->s, "something to forget: the zebra password", NULL, NAN, 0, id);
    t_add(t->s, "something to keep", NULL, NAN, 0, NULL);
    bool deleted;
    assert_int_equal(mem_store_delete(t->s, id, &deleted), 0);
    assert_true(deleted);
    assert_int_equal(t_count(t->s, 3), 1);
    assert_int_equal(mem_store_delete(t->s, id, &deleted), 0);
    assert_false(deleted);
    assert_int_equal(mem_store_delete(t->s, "", &deleted), -EINVAL);
    char longid[80];
    memset(longid, 'x', 79);
    longid[79] = 0;
    assert_int_equal(mem_store_delete(t->s, longid, &deleted), -EINVAL);
    /* gone from the lexical index too */
    mem_query q;
    mem_query_default(&q);
    q.text = "zebra password";
    mem_record *res;
    size_t n;
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    for (size_t i = 0; i < n; i++) assert_string_not_equal(res[i].id, id);
    mem_records_free(res, n);
    /* FTS stays consistent with the table */
    assert_int_equal(
        sqlite3_exec(t->s->db, "INSERT INTO memories_fts(memories_fts) VALUES('integrity-check')", NULL, NULL, NULL),
        SQLITE_OK);
}

static void test_recent(void **state)
{
    tctx *t = *state;
    char ids[4][MEM_ID_LEN];
    for (int i = 0; i < 4; i++) {
        mem_store_set_time(t->s, T0 - (3 - i) * 3600.0 * 10); /* 30 h, 20 h, 10 h, 0 h ago */
        char c[32];
        snprintf(c, sizeof c, "memory number %d", i);
        t_add(t->s, c, NULL, NAN, 0, ids[i]);
    }
    mem_store_set_time(t->s, T0);
    mem_record *r;
    size_t n;
    assert_int_equal(mem_store_recent(t->s, 24, 20, &r, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(r[0].id, ids[3]); /* newest first */
    assert_string_equal(r[2].id, ids[1]);
    mem_records_free(r, n);
    assert_int_equal(mem_store_recent(t->s, 100, 2, &r, &n), 0);
    assert_int_equal(n, 2);
    mem_records_free(r, n);
    assert_int_equal(mem_store_recent(t->s, 0, 2, &r, &n), -EINVAL);
    assert_int_equal(mem_store_recent(t->s, -1, 2, &r, &n), -EINVAL);
    assert_int_equal(mem_store_recent(t->s, 24, 0, &r, &n), -EINVAL);
    assert_int_equal(mem_store_recent(t->s, 24, 1001, &r, &n), -EINVAL);
}

static void test_touch_counts_access(void **state)
{
    tctx *t = *state;
    char id[MEM_ID_LEN];
    t_add(t->s, "the cat is called Miso", NULL, 0.5, 0.5, id);
    const char *ids[] = {id};
    for (int i = 0; i < 3; i++) {
        mem_store_set_time(t->s, T0 + 86400.0 * 2 + i);
        assert_int_equal(mem_store_touch(t->s, ids, 1), 0);
    }
    mem_record g;
    assert_int_equal(mem_store_get(t->s, id, &g), 0);
    assert_int_equal(g.access_count, 3);
    assert_near(g.last_accessed, T0 + 86400.0 * 2 + 2, 1e-6);
    /* 0.4*0.75 + 0.3*(1 - 2/365) + 0.3*0.3 */
    assert_near(g.importance, 0.3 + 0.3 * (1 - 2.0 / 365) + 0.09, 1e-9);
    mem_record_clear(&g);
    const char *unknown[] = {"nope"};
    assert_int_equal(mem_store_touch(t->s, unknown, 1), 0); /* unknown ids are ignored */
}

static void test_stats_and_should_consolidate(void **state)
{
    tctx *t = *state;
    mem_store_close(t->s);
    t->p.consolidation.buffer_threshold = 3;
    assert_int_equal(t_open(t), 0);
    bool yes;
    char reason[128];
    int64_t st, lt;
    assert_int_equal(mem_store_should_consolidate(t->s, &yes, reason, sizeof reason, &st, &lt), 0);
    assert_false(yes);
    assert_string_equal(reason, "Buffer size (0) below threshold (3)");
    for (int i = 0; i < 3; i++) t_add(t->s, "a memory", NULL, NAN, 0, NULL);
    assert_int_equal(mem_store_should_consolidate(t->s, &yes, reason, sizeof reason, &st, &lt), 0);
    assert_true(yes);
    assert_int_equal(st, 3);
    assert_int_equal(lt, 0);
    assert_string_equal(reason, "Buffer size (3) exceeds threshold (3)");
    mem_stats s;
    assert_int_equal(mem_store_stats(t->s, &s), 0);
    assert_int_equal(s.total, 3);
    assert_true(s.db_bytes > 0);
    assert_string_equal(s.embedding_model, "hashed-ngram-v1/256");
    assert_int_equal(s.embedding_dim, 256);
}

/* ------------------------------------------------------- export/import */

typedef struct dump {
    cJSON *arr;
} dump;

static int dump_one(const mem_record *r, void *ud)
{
    cJSON_AddItemToArray(((dump *)ud)->arr, mem_record_to_json(r, MEM_JSON_FULL));
    return 0;
}

/* issue 9: timestamps keep their milliseconds through export (ISO 8601) and import. */
static void test_export_keeps_milliseconds(void **state)
{
    tctx *t = *state;
    mem_store_set_time(t->s, T0 + 0.123);
    mem_new m = {.content = "stored at a time with milliseconds"};
    mem_record r;
    assert_int_equal(mem_store_add(t->s, &m, &r), 0);
    r.last_accessed = T0 + 7.456;
    r.archived_at = T0 + 9.789;
    cJSON *o = mem_record_to_json(&r, MEM_JSON_FULL);
    char *text = cJSON_PrintUnformatted(o);
    assert_non_null(strstr(text, ".123+00:00"));
    cJSON *back = cJSON_Parse(text);
    mem_record r2;
    char err[256];
    assert_int_equal(mem_record_from_json(back, T0, &r2, err, sizeof err), 0);
    assert_near(r2.created_at, T0 + 0.123, 5e-4);
    assert_near(r2.last_accessed, T0 + 7.456, 5e-4);
    assert_near(r2.archived_at, T0 + 9.789, 5e-4);
    mem_record_clear(&r2);
    cJSON_Delete(back);
    free(text);
    cJSON_Delete(o);
    mem_record_clear(&r);
}

static void test_export_import(void **state)
{
    tctx *t = *state;
    const char *tags[] = {"x"};
    mem_emotion e = {.present = true, .valence = 0.4, .arousal = -0.3, .quadrant = "calm"};
    mem_new m = {.content = "exported memory about gardens",
                 .tags = tags,
                 .n_tags = 1,
                 .emotion = &e,
                 .metadata = "{\"a\":\"b\"}",
                 .source = "assistant"};
    char id[MEM_ID_LEN];
    mem_record r;
    assert_int_equal(mem_store_add(t->s, &m, &r), 0);
    snprintf(id, sizeof id, "%s", r.id);
    mem_record_clear(&r);
    const char *ids[] = {id};
    assert_int_equal(mem_store_touch(t->s, ids, 1), 0);
    t_add(t->s, "second one", "procedural", NAN, 0, NULL);
    dump d = {cJSON_CreateArray()};
    assert_int_equal(mem_store_foreach(t->s, dump_one, &d), 0);
    assert_int_equal(cJSON_GetArraySize(d.arr), 2);

    /* into a second database */
    tctx t2;
    t_mkdir(&t2);
    assert_int_equal(t_open(&t2), 0);
    mem_record recs[2];
    char err[256];
    for (int i = 0; i < 2; i++)
        assert_int_equal(mem_record_from_json(cJSON_GetArrayItem(d.arr, i), T0, &recs[i], err, sizeof err), 0);
    size_t imp, skip;
    assert_int_equal(mem_store_import(t2.s, recs, 2, true, &imp, &skip), 0);
    assert_int_equal(imp, 2);
    assert_int_equal(skip, 0);
    mem_record g;
    assert_int_equal(mem_store_get(t2.s, id, &g), 0);
    assert_string_equal(g.content, "exported memory about gardens");
    assert_string_equal(g.tags, "[\"x\"]");
    assert_string_equal(g.metadata, "{\"a\":\"b\"}");
    assert_string_equal(g.emotion.quadrant, "calm");
    assert_near(g.emotion.valence, 0.4, 1e-9);
    assert_int_equal(g.access_count, 1);
    assert_near(g.created_at, T0, 1e-3);
    assert_string_equal(g.source, "assistant");
    assert_string_equal(g.trust, "high");
    mem_record_clear(&g);
    /* again: everything skipped */
    assert_int_equal(mem_store_import(t2.s, recs, 2, true, &imp, &skip), 0);
    assert_int_equal(imp, 0);
    assert_int_equal(skip, 2);
    /* searchable after import (FTS and vectors) */
    mem_query q;
    mem_query_default(&q);
    q.text = "gardens";
    mem_record *res;
    size_t n;
    assert_int_equal(mem_store_search(t2.s, &q, &res, &n), 0);
    assert_true(n >= 1);
    assert_string_equal(res[0].id, id);
    mem_records_free(res, n);
    mem_store_close(t2.s);

    /* without keep_trust everything becomes low-trust; a bad record imports nothing */
    tctx t3;
    t_mkdir(&t3);
    assert_int_equal(t_open(&t3), 0);
    snprintf(recs[1].memory_type, sizeof recs[1].memory_type, "bogus");
    assert_int_equal(mem_store_import(t3.s, recs, 2, false, &imp, &skip), -EINVAL);
    assert_non_null(strstr(mem_store_errmsg(t3.s), "record 2"));
    assert_int_equal(t_count(t3.s, 3), 0);
    snprintf(recs[1].memory_type, sizeof recs[1].memory_type, "procedural");
    assert_int_equal(mem_store_import(t3.s, recs, 2, false, &imp, &skip), 0);
    assert_int_equal(mem_store_get(t3.s, id, &g), 0);
    assert_string_equal(g.trust, "low");
    mem_record_clear(&g);
    mem_store_close(t3.s);
    for (int i = 0; i < 2; i++) mem_record_clear(&recs[i]);
    cJSON_Delete(d.arr);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", t2.dir, t3.dir);
    assert_int_equal(system(cmd), 0);
}

static void test_record_from_json_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "[]",
        "{}",
        "{\"content\":5}",
        "{\"content\":\"x\",\"status\":\"gone\"}",
        "{\"content\":\"x\",\"memory_type\":\"nope\"}",
        "{\"content\":\"x\",\"created_at\":\"yesterday\"}",
        "{\"content\":\"x\",\"emotional_context\":{\"valence\":\"high\"}}",
        "{\"content\":\"x\",\"trust\":\"medium\"}",
        "{\"content\":\"x\",\"access_count\":-1}",
        "{\"content\":\"x\",\"source\":\"oracle\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *o = cJSON_Parse(bad[i]);
        mem_record r;
        char err[256] = "";
        if (mem_record_from_json(o, T0, &r, err, sizeof err) != -EINVAL) fail_msg("accepted %s", bad[i]);
        assert_true(err[0] != '\0');
        cJSON_Delete(o);
    }
    cJSON *o = cJSON_Parse("{\"content\":\"hello\",\"created_at\":\"2026-01-01T00:00:00+02:00\"}");
    mem_record r;
    char err[256];
    assert_int_equal(mem_record_from_json(o, T0, &r, err, sizeof err), 0);
    assert_int_equal(strlen(r.id), 36); /* a new id */
    assert_string_equal(r.source, "import");
    assert_string_equal(r.memory_type, "episodic");
    assert_near(r.created_at, 1767218400.0, 1e-6);
    mem_record_clear(&r);
    cJSON_Delete(o);
}


/* ------------------------------------------------------ edit and replace */

static int64_t count_hits(mem_store *s, const char *text, bool bm25, bool vector)
{
    mem_query q;
    mem_query_default(&q);
    q.text = text;
    q.use_bm25 = bm25;
    q.use_vector = vector;
    q.touch = false;
    mem_record *res;
    size_t n;
    if (mem_store_search(s, &q, &res, &n)) fail_msg("search: %s", mem_store_errmsg(s));
    mem_records_free(res, n);
    return (int64_t)n;
}

static void test_edit(void **state)
{
    tctx *t = *state;
    char id[MEM_ID_LEN];
    t_add(t->s, "the planning meeting is on Monday at the harbour office", "episodic", 0.5, 0.5, id);
    mem_record before;
    assert_int_equal(mem_store_get(t->s, id, &before), 0);
    /* a second store whose vector copy is loaded before the edit */
    mem_store *b;
    char err[512];
    assert_int_equal(mem_store_open(&t->p, &b, err, sizeof err), 0);
    mem_store_set_time(b, T0);
    for (int i = 0; i < 60; i++) {
        char c[96];
        snprintf(c, sizeof c, "the library on Thursday lends filler book number %d", i);
        t_add(t->s, c, NULL, NAN, 0, NULL);
    }
    assert_true(count_hits(b, "filler book", false, true) > 0);

    mem_edit e = {.content = "the planning meeting moved to Wednesday at the quayside library"};
    mem_record r;
    assert_int_equal(mem_store_edit(t->s, id, &e, &r), 0);
    assert_string_equal(r.content, e.content);
    assert_string_equal(r.summary, e.content); /* the old summary was the default: it follows */
    /* provenance, times and status are the memory's own */
    assert_string_equal(r.source, before.source);
    assert_string_equal(r.trust, before.trust);
    assert_near(r.created_at, before.created_at, 1e-6);
    assert_int_equal(r.status, before.status);
    assert_near(r.emotion.valence, 0.5, 1e-9);
    mem_record_clear(&r);
    /* the lexical index and the vector follow the new text */
    assert_int_equal(count_hits(t->s, "harbour", true, false), 0);
    assert_int_equal(count_hits(t->s, "quayside", true, false), 1);
    mem_query q;
    mem_query_default(&q);
    q.text = "quayside wednesday planning";
    q.use_bm25 = false;
    q.n_results = 1;
    q.touch = false;
    mem_record *res;
    size_t n;
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(res[0].id, id);
    mem_records_free(res, n);
    /* the other process's vector copy is reloaded, not left with the old vector */
    assert_int_equal(mem_store_search(b, &q, &res, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(res[0].id, id);
    mem_records_free(res, n);
    mem_store_close(b);

    /* a hand-written summary is kept when the content changes; tags and type */
    const char *tags[] = {"work", "meetings"};
    mem_edit e2 = {.summary = "meeting moved", .tags = tags, .n_tags = 2, .set_tags = true, .memory_type = "semantic"};
    assert_int_equal(mem_store_edit(t->s, id, &e2, NULL), 0);
    mem_edit e3 = {.content = "the planning meeting is on Friday at the quayside library"};
    assert_int_equal(mem_store_edit(t->s, id, &e3, &r), 0);
    assert_string_equal(r.summary, "meeting moved");
    assert_string_equal(r.tags, "[\"work\",\"meetings\"]");
    assert_string_equal(r.memory_type, "semantic");
    mem_record_clear(&r);
    assert_int_equal(count_hits(t->s, "meetings", true, false), 1); /* tags are indexed */

    /* bad edits change nothing */
    int64_t total = t_count(t->s, 3);
    mem_edit bad[] = {{.content = "  "}, {.content = "bad \xff"}, {.memory_type = "dream"}, {0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mem_store_edit(t->s, id, &bad[i], NULL), -EINVAL);
    assert_non_null(strstr(mem_store_errmsg(t->s), "nothing to change"));
    assert_int_equal(mem_store_edit(t->s, "00000000-0000-4000-8000-000000000000", &e, NULL), -ENOENT);
    assert_int_equal(mem_store_get(t->s, id, &r), 0);
    assert_string_equal(r.content, e3.content);
    mem_record_clear(&r);
    assert_int_equal(t_count(t->s, 3), total);
    mem_record_clear(&before);
}

static void test_import_replace(void **state)
{
    tctx *t = *state;
    char id[MEM_ID_LEN];
    t_add(t->s, "the rowing boat is painted red", NULL, NAN, 0, id);
    const char *ids[] = {id};
    assert_int_equal(mem_store_touch(t->s, ids, 1), 0);
    mem_record r;
    assert_int_equal(mem_store_get(t->s, id, &r), 0);
    free(r.content);
    r.content = strdup("the rowing boat is painted blue since spring");
    mem_import_opts o;
    mem_import_default_opts(&o);
    o.keep_trust = true;
    mem_import_result res;
    /* without replace: left alone */
    assert_int_equal(mem_store_import_ex(t->s, &r, 1, &o, &res), 0);
    assert_int_equal(res.skipped, 1);
    assert_int_equal(res.imported + res.replaced, 0);
    assert_int_equal(count_hits(t->s, "blue", true, false), 0);
    /* with replace: the row is rewritten, re-indexed and re-embedded */
    o.replace = true;
    assert_int_equal(mem_store_import_ex(t->s, &r, 1, &o, &res), 0);
    assert_int_equal(res.replaced, 1);
    assert_int_equal(res.imported + res.skipped, 0);
    assert_int_equal(t_count(t->s, 3), 1);
    assert_int_equal(count_hits(t->s, "blue", true, false), 1);
    assert_int_equal(count_hits(t->s, "red", true, false), 0);
    mem_record g;
    assert_int_equal(mem_store_get(t->s, id, &g), 0);
    assert_string_equal(g.content, "the rowing boat is painted blue since spring");
    assert_string_equal(g.summary, g.content); /* the default summary followed the content */
    assert_int_equal(g.access_count, 1);
    assert_string_equal(g.trust, "high");
    mem_record_clear(&g);
    /* replacing without keep_trust lowers the trust: an imported file is not the user's word */
    o.keep_trust = false;
    assert_int_equal(mem_store_import_ex(t->s, &r, 1, &o, &res), 0);
    assert_int_equal(mem_store_get(t->s, id, &g), 0);
    assert_string_equal(g.trust, "low");
    mem_record_clear(&g);
    mem_record_clear(&r);
}

/* ------------------------------------------------------ ids on import */

static void set_rec(mem_record *r, const char *id, const char *content)
{
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", id);
    r->content = strdup(content);
    r->tags = strdup("[]");
    r->metadata = strdup("{\"k\":1}");
    r->lineage = strdup("[]");
    snprintf(r->memory_type, sizeof r->memory_type, "episodic");
    snprintf(r->source, sizeof r->source, "user");
    snprintf(r->trust, sizeof r->trust, "high");
    r->created_at = r->last_accessed = T0;
}

static void test_import_ids_become_uuids(void **state)
{
    tctx *t = *state;
    assert_true(mem_id_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950e"));
    assert_true(mem_id_is_uuid("0F8FAD5B-D9CB-469F-A165-70867728950E"));
    assert_false(mem_id_is_uuid("0f8fad5b-d9cb-469f-a165-70867728950"));
    assert_false(mem_id_is_uuid("0f8fad5bxd9cb-469f-a165-70867728950e"));
    assert_false(mem_id_is_uuid("0g8fad5b-d9cb-469f-a165-70867728950e"));
    assert_false(mem_id_is_uuid("old-1"));
    assert_false(mem_id_is_uuid(""));
    char a[37], a2[37], b[37];
    mem_id_from_name("chroma-1", a);
    mem_id_from_name("chroma-1", a2);
    mem_id_from_name("chroma-2", b);
    assert_true(mem_id_is_uuid(a));
    assert_string_equal(a, a2); /* deterministic: a second import finds the same rows */
    assert_string_not_equal(a, b);
    assert_int_equal(a[14], '8');           /* version 8 */
    assert_non_null(strchr("89ab", a[19])); /* RFC 9562 variant */

    char uuid[37];
    uuid4(uuid);
    mem_record recs[3];
    set_rec(&recs[0], "chroma-1", "the promoted memory about lanterns");
    set_rec(&recs[1], "chroma-2", "an archived memory about lanterns");
    set_rec(&recs[2], uuid, "a memory that already has a proper id");
    recs[0].status = MEM_LONG_TERM;
    free(recs[0].lineage);
    recs[0].lineage = strdup("[\"chroma-2\",\""
                             "0f8fad5b-d9cb-469f-a165-70867728950e"
                             "\"]");
    recs[1].status = MEM_ARCHIVED;
    snprintf(recs[1].superseded_by, sizeof recs[1].superseded_by, "chroma-1");
    snprintf(recs[1].archive_reason, sizeof recs[1].archive_reason, "consolidated");
    recs[1].archived_at = T0;
    mem_import_opts o;
    mem_import_default_opts(&o);
    o.keep_trust = true;
    mem_import_result res;
    assert_int_equal(mem_store_import_ex(t->s, recs, 3, &o, &res), 0);
    assert_int_equal(res.imported, 3);
    mem_record g;
    assert_int_equal(mem_store_get(t->s, "chroma-1", &g), -ENOENT);
    assert_int_equal(mem_store_get(t->s, a, &g), 0);
    assert_string_equal(g.content, "the promoted memory about lanterns");
    cJSON *md = cJSON_Parse(g.metadata);
    assert_string_equal(cJSON_GetObjectItem(md, "original_id")->valuestring, "chroma-1");
    assert_int_equal(cJSON_GetObjectItem(md, "k")->valueint, 1);
    cJSON_Delete(md);
    char want[128];
    snprintf(want, sizeof want, "[\"%s\",\"0f8fad5b-d9cb-469f-a165-70867728950e\"]", b);
    assert_string_equal(g.lineage, want); /* references follow their memories */
    mem_record_clear(&g);
    assert_int_equal(mem_store_get(t->s, b, &g), 0);
    assert_string_equal(g.superseded_by, a);
    mem_record_clear(&g);
    assert_int_equal(mem_store_get(t->s, uuid, &g), 0);
    assert_string_equal(g.metadata, "{\"k\":1}"); /* a UUID is kept as it is */
    mem_record_clear(&g);
    /* the same file again: every id is found, nothing doubles */
    assert_int_equal(mem_store_import_ex(t->s, recs, 3, &o, &res), 0);
    assert_int_equal(res.imported, 0);
    assert_int_equal(res.skipped, 3);
    assert_int_equal(t_count(t->s, 3), 3);
    for (int i = 0; i < 3; i++) mem_record_clear(&recs[i]);
}

/* ------------------------------------------------- the write lock, briefly */

static int count_commit(void *ud)
{
    (*(int *)ud)++;
    return 0;
}

static void test_import_in_chunks(void **state)
{
    tctx *t = *state;
    t_add(t->s, "first", NULL, NAN, 0, NULL); /* the embedding model is recorded: later commits are the import's */
    size_t n = 2 * MEM_IMPORT_CHUNK + 500;
    mem_record *recs = calloc(n, sizeof *recs);
    for (size_t i = 0; i < n; i++) {
        char id[37], c[64];
        uuid4(id);
        snprintf(c, sizeof c, "bulk memory %zu about chunked imports", i);
        set_rec(&recs[i], id, c);
    }
    int commits = 0;
    sqlite3_commit_hook(t->s->db, count_commit, &commits);
    mem_import_opts o;
    mem_import_default_opts(&o);
    mem_import_result res;
    assert_int_equal(mem_store_import_ex(t->s, recs, n, &o, &res), 0);
    sqlite3_commit_hook(t->s->db, NULL, NULL);
    assert_int_equal(res.imported, n);
    assert_int_equal(commits, 3); /* one transaction per MEM_IMPORT_CHUNK rows, not one for all */
    assert_int_equal(t_count(t->s, 3), (int64_t)n + 1);
    assert_int_equal(count_hits(t->s, "2499", true, false), 1); /* the last chunk is indexed too */
    mem_records_free(recs, n);
}

static void test_busy_is_a_clean_error(void **state)
{
    tctx *t = *state;
    mem_store_close(t->s);
    t->p.busy_timeout_ms = 50;
    assert_int_equal(t_open(t), 0);
    char id[MEM_ID_LEN];
    t_add(t->s, "stored before the lock", NULL, NAN, 0, id);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(t->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    mem_new m = {.content = "stored while another process writes"};
    assert_int_equal(mem_store_add(t->s, &m, NULL), -EBUSY);
    assert_non_null(strstr(mem_store_errmsg(t->s), "database is busy, try again"));
    assert_non_null(strstr(mem_store_errmsg(t->s), "50 ms"));
    mem_edit e = {.content = "edited while locked"};
    assert_int_equal(mem_store_edit(t->s, id, &e, NULL), -EBUSY);
    mem_record r;
    set_rec(&r, "locked-import", "imported while locked");
    mem_import_opts o;
    mem_import_default_opts(&o);
    mem_import_result res;
    assert_int_equal(mem_store_import_ex(t->s, &r, 1, &o, &res), -EBUSY);
    assert_non_null(strstr(mem_store_errmsg(t->s), "database is busy, try again"));
    /* reads still work while the other writes (WAL) */
    assert_int_equal(t_count(t->s, 3), 1);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    mem_record g;
    assert_int_equal(mem_store_get(t->s, id, &g), 0);
    assert_string_equal(g.content, "stored before the lock"); /* nothing changed */
    mem_record_clear(&g);
    assert_int_equal(mem_store_add(t->s, &m, NULL), 0);
    assert_int_equal(mem_store_import_ex(t->s, &r, 1, &o, &res), 0);
    assert_int_equal(t_count(t->s, 3), 3);
    mem_record_clear(&r);
}

/* ----------------------------------------------------------- migrations */

static void test_migrate_from_v1(void **state)
{
    tctx *t = *state;
    mem_store_close(t->s);
    t->s = NULL;
    unlink(t->path);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    int v;
    char err[256];
    assert_int_equal(mem__migrate(db, 1, &v, err, sizeof err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(mem__schema_version(db, &v), SQLITE_OK);
    assert_int_equal(v, 1);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO memories(id, content, summary, memory_type, status, created_at,"
                                  " last_accessed) VALUES ('old-1', 'an old memory about lighthouses', 'old',"
                                  " 'semantic', 'long_term', 1700000000, 1700000000)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(t_open(t), 0);
    assert_int_equal(mem_store_schema_version(t->s), MEM_SCHEMA_VERSION);
    mem_record g;
    assert_int_equal(mem_store_get(t->s, "old-1", &g), 0);
    assert_string_equal(g.source, "user");
    assert_string_equal(g.trust, "high");
    assert_string_equal(g.lineage, "[]");
    assert_int_equal(g.status, MEM_LONG_TERM);
    mem_record_clear(&g);
    /* the FTS index was rebuilt and the vector computed on first use */
    mem_query q;
    mem_query_default(&q);
    q.text = "lighthouses";
    q.use_vector = false;
    mem_record *res;
    size_t n;
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    assert_int_equal(n, 1);
    mem_records_free(res, n);
    q.use_vector = true;
    q.use_bm25 = false;
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    assert_int_equal(n, 1);
    mem_records_free(res, n);
    /* one row per applied migration */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(t->s->db, "SELECT count(*) FROM schema_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), MEM_SCHEMA_VERSION);
    sqlite3_finalize(st);
}

static void test_newer_schema_refused(void **state)
{
    tctx *t = *state;
    assert_int_equal(sqlite3_exec(t->s->db, "INSERT INTO schema_version VALUES (99, 0)", NULL, NULL, NULL), SQLITE_OK);
    mem_store_close(t->s);
    t->s = NULL;
    char err[512];
    assert_int_equal(mem_store_open(&t->p, &t->s, err, sizeof err), -EPROTO);
    assert_non_null(strstr(err, "schema version 99"));
    assert_non_null(strstr(err, "newer mnemosyne"));
    assert_null(t->s);
}

/* ------------------------------------------------------------ integrity */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

static void corrupt_and_check(tctx *t, const char *table)
{
    for (int i = 0; i < 200; i++)
        t_add(t->s, "filler memory with enough text to fill several pages of the file", NULL, NAN, 0, NULL);
    sqlite3_stmt *st;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT rootpage FROM sqlite_master WHERE name = '%s'", table);
    assert_int_equal(sqlite3_prepare_v2(t->s->db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int page = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    mem_store_close(t->s); /* checkpoints the WAL into the file */
    t->s = NULL;
    int fd = open(t->path, O_RDWR);
    assert_true(fd >= 0);
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)(0xA5 ^ (i * 7));
    assert_int_equal(pwrite(fd, junk, sizeof junk, (off_t)(page - 1) * 4096), (ssize_t)sizeof junk);
    close(fd);
    size_t n1, n2;
    char *before = slurp(t->path, &n1);
    char err[1024];
    int rc = mem_store_open(&t->p, &t->s, err, sizeof err);
    assert_true(rc < 0);
    assert_null(t->s);
    assert_non_null(strstr(err, t->path));
    assert_non_null(strstr(err, "othing was written"));
    char *after = slurp(t->path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
}

static void test_integrity_failure_index(void **state) { corrupt_and_check(*state, "memories_status_created"); }
static void test_integrity_failure_table(void **state) { corrupt_and_check(*state, "memories"); }

/* PRAGMA integrity_check sees only valid b-trees; a damaged FTS5 index needs its own check. */
static void test_fts_damage_refused(void **state)
{
    tctx *t = *state;
    for (int i = 0; i < 300; i++) {
        char c[96];
        snprintf(c, sizeof c, "memory %d with words to index: lantern harbour kettle %d", i, i * 7);
        t_add(t->s, c, NULL, NAN, 0, NULL);
    }
    mem_store_close(t->s);
    t->s = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM memories_fts_data WHERE id = (SELECT min(id) FROM memories_fts_data"
                                  " WHERE id > 10)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok"); /* the b-trees are fine */
    sqlite3_finalize(st);
    sqlite3_close(db); /* checkpoints into the file */
    size_t n1, n2;
    char *before = slurp(t->path, &n1);
    char err[1024];
    assert_int_equal(mem_store_open(&t->p, &t->s, err, sizeof err), -EIO);
    assert_null(t->s);
    assert_non_null(strstr(err, "FTS5 integrity-check"));
    assert_non_null(strstr(err, "othing was written"));
    assert_non_null(strstr(err, "'rebuild'"));
    assert_non_null(strstr(err, t->path));
    char *after = slurp(t->path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
    /* the advice works: after a rebuild the file opens and searches */
    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO memories_fts(memories_fts) VALUES ('rebuild')", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(t_open(t), 0);
    assert_int_equal(count_hits(t->s, "kettle", true, false), 10);
}

static void test_not_a_database(void **state)
{
    tctx *t = *state;
    mem_store_close(t->s);
    t->s = NULL;
    FILE *f = fopen(t->path, "wb");
    for (int i = 0; i < 1000; i++) fputs("this is not sqlite ", f);
    fclose(f);
    size_t n1, n2;
    char *before = slurp(t->path, &n1);
    char err[1024];
    assert_int_equal(mem_store_open(&t->p, &t->s, err, sizeof err), -EIO);
    assert_non_null(strstr(err, "not a SQLite database"));
    char *after = slurp(t->path, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    free(before);
    free(after);
}

static void test_quick_check_for_large_files(void **state)
{
    tctx *t = *state;
    t_add(t->s, "x", NULL, NAN, 0, NULL);
    mem_store_close(t->s);
    t->p.full_check_max_bytes = 1; /* everything is "large" */
    assert_int_equal(t_open(t), 0);
    assert_int_equal(t_count(t->s, 3), 1);
}

/* ------------------------------------------------------- two processes */

static void test_two_stores_one_file(void **state)
{
    tctx *t = *state;
    mem_store *b;
    char err[512];
    assert_int_equal(mem_store_open(&t->p, &b, err, sizeof err), 0);
    mem_store_set_time(b, T0);
    char ida[MEM_ID_LEN], idb[MEM_ID_LEN];
    t_add(t->s, "alpha wrote about volcanoes", NULL, NAN, 0, ida);
    mem_query q;
    mem_query_default(&q);
    mem_record *res;
    size_t n;
    /* b sees a's memory in both legs */
    q.text = "volcanoes";
    q.use_bm25 = false;
    q.quality = 0; /* rank by relevance alone: the length factor would favour the longer text */
    assert_int_equal(mem_store_search(b, &q, &res, &n), 0);
    assert_int_equal(n, 1);
    mem_records_free(res, n);
    /* b writes; a (whose vector copy is loaded) notices */
    t_add(b, "beta wrote about glaciers", NULL, NAN, 0, idb);
    q.text = "glaciers";
    assert_int_equal(mem_store_search(t->s, &q, &res, &n), 0);
    assert_true(n >= 1);
    assert_string_equal(res[0].id, idb);
    mem_records_free(res, n);
    /* a deletes; b's copy drops it */
    bool del;
    assert_int_equal(mem_store_delete(t->s, idb, &del), 0);
    assert_int_equal(mem_store_search(b, &q, &res, &n), 0);
    for (size_t i = 0; i < n; i++) assert_string_not_equal(res[i].id, idb);
    mem_records_free(res, n);
    assert_int_equal(t_count(b, 3), 1);
    mem_store_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_wal_and_schema, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_open_creates_directories, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_add_fields, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bad_inputs, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_delete, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_archive_restore_purge, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_recent, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_touch_counts_access, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_should_consolidate, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_export_import, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_export_keeps_milliseconds, t_setup, t_teardown),
        cmocka_unit_test(test_record_from_json_errors),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_integrity_failure_index, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_integrity_failure_table, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_fts_damage_refused, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_edit, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_import_replace, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_import_ids_become_uuids, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_import_in_chunks, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_busy_is_a_clean_error, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_quick_check_for_large_files, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_two_stores_one_file, t_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
