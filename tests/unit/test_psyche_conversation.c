/* test_psyche_conversation.c - conversations are separate objects: two of
 * them share nothing (messages, budget, staged memories, usage), and the
 * agent-wide settings that concern conversations keep their defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../psyche/agent.h"
#include "../../psyche/conv.h"
#include "../../psyche/memflow.h"
#include "../../psyche/settings.h"
#include "utf8.h"

/* One token per 4 bytes plus 4 for the template. */
static int fake_count(void *ud, const char *role, const char *text)
{
    (void)role;
    int *calls = ud;
    (*calls)++;
    return (int)strlen(text) / 4 + 4;
}

static int flushed;
static int fake_flush(void *ud, const psy_msg *msgs, size_t n)
{
    (void)ud, (void)msgs;
    flushed += (int)n;
    return 0;
}

static psy_conv *make(int context_length, int *calls)
{
    psy_conv_params p = {.context_length = context_length,
                         .max_fraction = 0.75,
                         .reserve_fraction = 0.20,
                         .min_keep = 2,
                         .count = fake_count,
                         .count_ud = calls};
    psy_conv *c = NULL;
    assert_int_equal(psy_conv_new(&c, &p), 0);
    assert_non_null(c);
    assert_int_equal(psy_conv_set_system_prompt(c, NULL, false, NULL), 0);
    return c;
}

/* Does any message of c hold text? */
static bool holds(psy_conv *c, const char *text)
{
    cJSON *msgs = psy_conv_messages(c);
    bool found = false;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(content) && strstr(content->valuestring, text)) found = true;
    }
    cJSON_Delete(msgs);
    return found;
}

static void test_messages_stay_in_their_conversation(void **state)
{
    (void)state;
    int calls_a = 0, calls_b = 0;
    psy_conv *a = make(4096, &calls_a), *b = make(4096, &calls_b);
    assert_int_equal(psy_context_add(&a->ctx, "user", "the cat is called Tom", NULL, 0), 0);
    assert_int_equal(psy_context_add(&b->ctx, "user", "the dog is called Rex", NULL, 0), 0);
    assert_true(holds(a, "Tom"));
    assert_false(holds(a, "Rex"));
    assert_true(holds(b, "Rex"));
    assert_false(holds(b, "Tom"));
    /* each counts with its own counter */
    assert_true(calls_a > 0);
    assert_true(calls_b > 0);
    psy_conv_clear(a);
    assert_false(holds(a, "Tom"));
    assert_true(holds(b, "Rex"));
    assert_int_equal(b->ctx.n, 2);
    psy_conv_free(a);
    psy_conv_free(b);
}

static void test_budgets_are_separate(void **state)
{
    (void)state;
    int calls = 0;
    psy_conv *a = make(4096, &calls), *b = make(4096, &calls);
    int before = psy_context_available(&b->ctx);
    psy_conv_set_context(a, 512, 0.75, 0.20);
    assert_int_equal(a->ctx.context_length, 512);
    assert_true(psy_context_available(&a->ctx) < before);
    assert_int_equal(b->ctx.context_length, 4096);
    assert_int_equal(psy_context_available(&b->ctx), before);
    long tokens_b = b->ctx.total_tokens;
    assert_int_equal(psy_context_add(&a->ctx, "user", "a long message that only a holds", NULL, 0), 0);
    assert_int_equal(b->ctx.total_tokens, tokens_b);
    psy_conv_free(a);
    psy_conv_free(b);
}

static void test_staged_memories_are_separate(void **state)
{
    (void)state;
    int calls = 0;
    psy_conv *a = make(256, &calls), *b = make(256, &calls);
    char text[200];
    for (int i = 0; i < 12; i++) {
        snprintf(text, sizeof text, "message %d of conversation a, long enough to need room in a small context", i);
        assert_int_equal(psy_context_add(&a->ctx, i % 2 ? "assistant" : "user", text, NULL, 0), 0);
        psy_context_compact(&a->ctx, fake_flush, NULL, NULL);
    }
    assert_true(psy_conv_staged(a) > 0);
    assert_true(flushed > 0); /* earlier compactions handed theirs on */
    assert_int_equal(psy_conv_staged(b), 0);
    assert_int_equal(b->ctx.n, 1); /* only its system prompt */
    psy_conv_clear(b);
    assert_int_equal(psy_conv_staged(b), 0);
    size_t staged_a = psy_conv_staged(a);
    psy_conv_free(b);
    assert_int_equal(psy_conv_staged(a), staged_a);
    psy_conv_free(a);
}

static void test_usage_is_counted_per_conversation(void **state)
{
    (void)state;
    int calls = 0;
    psy_conv *a = make(4096, &calls), *b = make(4096, &calls);
    psy_usage u;
    psy_conv_get_usage(a, &u);
    assert_int_equal(u.generations, 0);
    assert_int_equal(u.last_prompt_tokens, -1);
    psy_conv_note_usage(a, a->ctx.n, 120, 30);
    psy_conv_note_usage(a, a->ctx.n, 150, 20);
    psy_conv_note_usage(b, b->ctx.n, -1, -1); /* elpis did not say */
    psy_conv_get_usage(a, &u);
    assert_int_equal(u.generations, 2);
    assert_int_equal(u.prompt_tokens, 270);
    assert_int_equal(u.completion_tokens, 50);
    assert_int_equal(u.last_prompt_tokens, 150);
    psy_conv_get_usage(b, &u);
    assert_int_equal(u.generations, 1);
    assert_int_equal(u.prompt_tokens, 0);
    assert_int_equal(u.completion_tokens, 0);
    assert_int_equal(u.last_prompt_tokens, -1);
    psy_conv_free(a);
    psy_conv_free(b);
}

static void test_a_small_context_gets_a_smaller_system_prompt(void **state)
{
    (void)state;
    int calls = 0;
    psy_conv *big = make(65536, &calls), *small = make(256, &calls);
    cJSON *tools =
        cJSON_Parse("[{\"name\":\"read_file\",\"description\":\"Read a file from the workspace.\","
                    "\"inputSchema\":{\"type\":\"object\",\"properties\":{\"file_path\":{\"type\":\"string\","
                    "\"description\":\"path\"}},\"required\":[\"file_path\"]}}]");
    int lb = -1, ls = -1;
    assert_int_equal(psy_conv_set_system_prompt(big, tools, false, &lb), 0);
    assert_int_equal(psy_conv_set_system_prompt(small, tools, false, &ls), 0);
    assert_int_equal(lb, PSY_PROMPT_FULL);
    assert_true(ls > lb);
    assert_true(small->ctx.msgs[0].tokens < big->ctx.msgs[0].tokens);
    cJSON_Delete(tools);
    psy_conv_free(big);
    psy_conv_free(small);
}

/* Memory summaries and transcripts are cut by characters, never inside one. */
static void test_text_cut_keeps_whole_characters(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    psy_text_append_cut(&b, "h\xC3\xA9llo w\xC3\xB6rld", 3); /* "héllo wörld" */
    assert_string_equal(buf_str(&b), "h\xC3\xA9l...");
    buf_free(&b);
    psy_text_append_cut(&b, "\xE2\x82\xAC\xE2\x82\xAC", 5); /* shorter than the cap: whole, no dots */
    assert_string_equal(buf_str(&b), "\xE2\x82\xAC\xE2\x82\xAC");
    buf_free(&b);
    /* every cut of a multibyte text is valid UTF-8 */
    const char *t = "\xF0\x9F\x90\xB1 Tom \xE7\x8C\xAB \xC3\xBC";
    for (size_t cap = 0; cap < 12; cap++) {
        psy_text_append_cut(&b, t, cap);
        assert_true(utf8_valid(buf_str(&b), b.len));
        buf_free(&b);
    }
}

static void test_quit_summary_defaults_to_on(void **state)
{
    (void)state;
    psy_settings s;
    memset(&s, 0, sizeof s);
    const cfg_key *keys;
    assert_true(psy_settings_table(&s, &keys) > 0);
    assert_true(s.quit_summary);
}

/* ---- through a running agent, with tests/integration/fake_elpis.py as elpis */

typedef struct agent_run {
    char dir[64];
    psy_settings cfg;
    const cfg_key *keys;
    size_t nkeys;
    psy_agent *a;
    bool summarising; /* the quit path said "Summarising the conversation..." */
} agent_run;

static void set(agent_run *r, const char *name, const char *value)
{
    char err[256];
    int rc = cfg_set(r->keys, r->nkeys, name, value, "test", err, sizeof err);
    if (rc) fail_msg("%s: %s", name, err);
}

static void agent_up(agent_run *r, bool quit_summary)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "/tmp/psyche-conv-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    char path[128], cmd[256];
    snprintf(path, sizeof path, "%s/script.json", r->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"responses\": [{\"content\": \"Alpha answered.\", \"when\": \"alpha\"},"
          " {\"content\": \"Beta answered.\", \"when\": \"beta\"}],"
          " \"background_default\": \"a short summary\", \"context_length\": 4096}",
          f);
    fclose(f);
    r->nkeys = psy_settings_table(&r->cfg, &r->keys);
    char err[256];
    assert_int_equal(cfg_load(r->keys, r->nkeys, NULL, false, "PSYCHE_TEST_UNUSED", err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, "python3,tests/integration/fake_elpis.py,%s", path);
    set(r, "children.elpis_command", cmd);
    set(r, "memory.enabled", "false");
    set(r, "idle.enabled", "false");
    set(r, "paths.state_dir", r->dir);
    set(r, "workspace.dir", r->dir);
    set(r, "workspace.sandbox", "false");
    r->cfg.quit_summary = quit_summary;
    assert_int_equal(psy_agent_new(&r->a, &r->cfg, err, sizeof err), 0);
    assert_int_equal(psy_agent_start(r->a), 0);
}

/* Waits (at most 60 s) for an event of kind; returns its text (caller frees) or NULL. */
static char *wait_for(agent_run *r, psy_event_kind kind)
{
    for (int waited = 0; waited < 60000;) {
        psy_event *ev;
        while ((ev = psy_agent_next_event(r->a))) {
            if (ev->kind == PSY_EV_INFO && ev->text && strstr(ev->text, "Summarising")) r->summarising = true;
            if (ev->kind == kind) {
                char *t = strdup(ev->text ? ev->text : "");
                psy_event_free(ev);
                return t;
            }
            psy_event_free(ev);
        }
        struct pollfd pf = {.fd = psy_agent_fd(r->a), .events = POLLIN};
        poll(&pf, 1, 100);
        waited += 100;
    }
    fail_msg("no %s event within 60 s", psy_event_kind_name(kind));
    return NULL;
}

static void agent_down(agent_run *r)
{
    psy_agent_quit(r->a);
    free(wait_for(r, PSY_EV_QUIT));
    psy_agent_free(r->a);
    cfg_free(r->keys, r->nkeys);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    assert_int_equal(system(cmd), 0);
}

static void test_two_conversations_through_the_agent(void **state)
{
    (void)state;
    agent_run r;
    agent_up(&r, true);
    psy_agent_submit(r.a, "tell me about alpha");
    char *t = wait_for(&r, PSY_EV_ANSWER);
    assert_string_equal(t, "Alpha answered.");
    free(t);
    psy_conv *other = NULL;
    assert_int_equal(psy_agent_conv_new(r.a, &other), 0);
    assert_int_equal(psy_agent_submit_to(r.a, other, "and beta?"), 0);
    t = wait_for(&r, PSY_EV_ANSWER);
    assert_string_equal(t, "Beta answered.");
    free(t);
    psy_conv *own = psy_agent_conv(r.a);
    assert_true(holds(own, "alpha") && holds(own, "Alpha answered."));
    assert_false(holds(own, "beta") || holds(own, "Beta answered."));
    assert_true(holds(other, "beta") && holds(other, "Beta answered."));
    assert_false(holds(other, "alpha") || holds(other, "Alpha answered."));
    psy_usage u_own, u_other;
    psy_conv_get_usage(own, &u_own);
    psy_conv_get_usage(other, &u_other);
    assert_int_equal(u_own.turns, 1);
    assert_int_equal(u_other.turns, 1);
    assert_int_equal(u_own.generations, 1);
    assert_int_equal(u_other.generations, 1);
    assert_true(u_other.last_prompt_tokens > 0);
    assert_int_equal(psy_agent_conv_free(r.a, other), 0);
    agent_down(&r);
    assert_true(r.summarising); /* quit_summary on (the default): the conversation is summarised */
}

static void test_quit_summary_off_skips_the_summary(void **state)
{
    (void)state;
    agent_run r;
    agent_up(&r, false);
    psy_agent_submit(r.a, "alpha once more");
    free(wait_for(&r, PSY_EV_ANSWER));
    agent_down(&r);
    assert_false(r.summarising);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_stay_in_their_conversation),
        cmocka_unit_test(test_budgets_are_separate),
        cmocka_unit_test(test_staged_memories_are_separate),
        cmocka_unit_test(test_usage_is_counted_per_conversation),
        cmocka_unit_test(test_a_small_context_gets_a_smaller_system_prompt),
        cmocka_unit_test(test_text_cut_keeps_whole_characters),
        cmocka_unit_test(test_quit_summary_defaults_to_on),
        cmocka_unit_test(test_two_conversations_through_the_agent),
        cmocka_unit_test(test_quit_summary_off_skips_the_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
