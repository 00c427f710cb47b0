/* test_psyche_openai.c - the OpenAI wire format of psyche serve
 * (psyche/openai.c): request parsing and each validation error with its
 * param, system-prompt merging, response/chunk/error/model-list shapes, and
 * stop sequences found across streamed pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../psyche/openai.h"

static int parse(const char *body, psy_chat_req *r, char *err, const char **param)
{
    return psy_oai_parse_chat(body, strlen(body), r, err, 512, param);
}

static void test_parse_full_request(void **state)
{
    (void)state;
    psy_chat_req r;
    char err[512];
    const char *param;
    const char *body =
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"No emoji.\"}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
        "{\"role\":\"assistant\",\"content\":null},{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"temperature\":0.5,\"top_p\":0.9,"
        "\"max_tokens\":10,\"max_completion_tokens\":20,\"stop\":[\"X\",\"YY\"],\"n\":1,\"user\":\"ann\","
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],\"unknown_field\":1}";
    assert_int_equal(parse(body, &r, err, &param), 0);
    assert_string_equal(r.model, "gpt-4o");
    assert_string_equal(r.system, "Be brief.\n\nNo emoji.");
    assert_int_equal(cJSON_GetArraySize(r.messages), 3); /* system and developer moved out */
    cJSON *first = cJSON_GetArrayItem(r.messages, 0);
    assert_string_equal(cJSON_GetObjectItem(first, "content")->valuestring, "a\nb");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(r.messages, 1), "content")->valuestring, "");
    assert_true(r.stream && r.include_usage && r.has_temperature && r.has_top_p);
    assert_true(r.temperature == 0.5 && r.top_p == 0.9);
    assert_int_equal(r.max_tokens, 20); /* max_completion_tokens wins */
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "YY");
    assert_string_equal(r.user, "ann");
    assert_non_null(r.tools);
    psy_chat_req_free(&r);
}

static void test_parse_defaults(void **state)
{
    (void)state;
    psy_chat_req r;
    char err[512];
    const char *param;
    assert_int_equal(parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":\"END\"}",
                           &r, err, &param),
                     0);
    assert_false(r.stream || r.include_usage || r.has_temperature || r.has_top_p);
    assert_int_equal(r.max_tokens, -1);
    assert_null(r.system);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "END");
    psy_chat_req_free(&r);
}

/* Each bad body is refused with the field it names. */
static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *param, *words;
    } cases[] = {
        {"{bad", NULL, "not a JSON object"},
        {"[1]", NULL, "not a JSON object"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model", "model is required"},
        {"{\"model\":\"m\"}", "messages", "non-empty array"},
        {"{\"model\":\"m\",\"messages\":[]}", "messages", "non-empty array"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages",
         "messages[0] needs a role"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages", "string or an array"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", "messages",
         "only text content parts"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"s\"}]}", "messages",
         "only system messages"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n", "only n=1"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":3}", "temperature",
         "from 0 to 2"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_p\":\"a\"}", "top_p",
         "from 0 to 1"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}", "max_tokens",
         "positive integer"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_completion_tokens\":1.5}",
         "max_completion_tokens", "positive integer"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\","
         "\"e\"]}",
         "stop", "at most 4"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":\"\"}", "stop", "non-empty"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}", "stream",
         "true or false"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":3}",
         "stream_options", "include_usage"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}", "tools", "array"},
        {"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"user\":7}", "user", "string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        psy_chat_req r;
        char err[512] = "";
        const char *param = "unset";
        int rc = parse(cases[i].body, &r, err, &param);
        if (rc != -EINVAL || !strstr(err, cases[i].words) ||
            (cases[i].param ? !param || strcmp(param, cases[i].param) : param != NULL))
            fail_msg("case %zu (%s): rc %d, err \"%s\", param %s", i, cases[i].body, rc, err, param ? param : "NULL");
        assert_null(r.messages); /* nothing left to free */
    }
}

static void test_elpis_messages_merge_system(void **state)
{
    (void)state;
    psy_chat_req r;
    char err[512];
    const char *param;
    assert_int_equal(parse("{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Talk like a pirate.\"},"
                           "{\"role\":\"user\",\"content\":\"hi\"}]}",
                           &r, err, &param),
                     0);
    cJSON *m = psy_oai_elpis_messages("You are Psyche.", &r);
    assert_int_equal(cJSON_GetArraySize(m), 2);
    const char *sys = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "content")->valuestring;
    assert_non_null(strstr(sys, "You are Psyche."));
    assert_non_null(strstr(sys, "Talk like a pirate.")); /* the client's prompt is kept, not dropped */
    assert_true(strstr(sys, "You are Psyche.") < strstr(sys, "Talk like a pirate.")); /* stable prefix first */
    cJSON_Delete(m);
    m = psy_oai_elpis_messages(NULL, &r); /* no Psyche prompt: the client's alone */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "content")->valuestring, "Talk like a pirate.");
    cJSON_Delete(m);
    psy_chat_req_free(&r);
    assert_int_equal(parse("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r, err, &param),
                     0);
    m = psy_oai_elpis_messages(NULL, &r); /* no system message at all */
    assert_int_equal(cJSON_GetArraySize(m), 1);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "role")->valuestring, "user");
    cJSON_Delete(m);
    psy_chat_req_free(&r);
}

/* A tools round trip: the client sends back the assistant's call and the
 * tool's result; elpis sees both as plain text messages. */
static void test_tool_messages(void **state)
{
    (void)state;
    psy_chat_req r;
    char err[512];
    const char *param;
    const char *body =
        "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"parameters\":{\"type\":\"object\"}}}],\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"-3 C\"}]}";
    assert_int_equal(parse(body, &r, err, &param), 0);
    assert_non_null(r.tools);
    assert_int_equal(cJSON_GetArraySize(r.messages), 3);
    cJSON *a = cJSON_GetArrayItem(r.messages, 1);
    assert_string_equal(cJSON_GetObjectItem(a, "content")->valuestring,
                        "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}");
    cJSON *t = cJSON_GetArrayItem(r.messages, 2);
    assert_string_equal(cJSON_GetObjectItem(t, "role")->valuestring, "user");
    assert_string_equal(cJSON_GetObjectItem(t, "content")->valuestring, "[Tool result for call call_1]\n-3 C");
    psy_chat_req_free(&r);

    /* tool_choice "none": the tools are not offered */
    assert_int_equal(parse("{\"model\":\"m\",\"tool_choice\":\"none\",\"tools\":[{\"type\":\"function\","
                           "\"function\":{\"name\":\"f\"}}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                           &r, err, &param),
                     0);
    assert_null(r.tools);
    psy_chat_req_free(&r);

    static const char *const bad_bodies[] = {
        "{\"model\":\"m\",\"tools\":[{\"type\":\"function\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"tools\":[{\"type\":\"retrieval\",\"function\":{\"name\":\"f\"}}],"
        "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{}}]}]}",
    };
    static const char *const bad_params[] = {"tools", "tools", "messages", "messages"};
    for (size_t i = 0; i < 4; i++) {
        param = NULL;
        if (parse(bad_bodies[i], &r, err, &param) != -EINVAL || !param || strcmp(param, bad_params[i]))
            fail_msg("bad body %zu accepted or wrong param (%s): %s", i, param ? param : "NULL", err);
    }
}

static void test_tool_call_output(void **state)
{
    (void)state;
    cJSON *calls = cJSON_Parse("[{\"id\":\"call_9\",\"type\":\"function\",\"function\":{\"name\":\"f\","
                               "\"arguments\":\"{\\\"a\\\":1}\"}}]");
    psy_oai_usage u = {1, 2, 0};
    cJSON *c = psy_oai_completion("id", 1, "m", "ignored", calls, "tool_calls", &u);
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
    cJSON *msg = cJSON_GetObjectItem(ch, "message");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(msg, "content")));
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(msg, "tool_calls"), 0), "id")->valuestring,
        "call_9");
    assert_string_equal(cJSON_GetObjectItem(ch, "finish_reason")->valuestring, "tool_calls");
    cJSON_Delete(c);
    /* streaming: the head chunk names the call, the next carries its arguments, both at index 0 */
    cJSON *call = cJSON_GetArrayItem(calls, 0);
    c = psy_oai_tool_chunk("id", 1, "m", 0, call, true);
    char *s =
        cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0), "delta"));
    assert_string_equal(s, "{\"tool_calls\":[{\"index\":0,\"id\":\"call_9\",\"type\":\"function\","
                           "\"function\":{\"name\":\"f\",\"arguments\":\"\"}}]}");
    free(s);
    cJSON_Delete(c);
    c = psy_oai_tool_chunk("id", 1, "m", 0, call, false);
    s = cJSON_PrintUnformatted(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0), "delta"));
    assert_string_equal(s, "{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]}");
    free(s);
    cJSON_Delete(c);
    cJSON_Delete(calls);
}

static void test_error_objects(void **state)
{
    (void)state;
    static const struct {
        int status;
        const char *type;
    } cases[] = {
        {400, "invalid_request_error"}, {401, "authentication_error"}, {404, "not_found_error"},
        {413, "invalid_request_error"}, {429, "rate_limit_error"},     {503, "server_error"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = psy_oai_error_json(cases[i].status, "msg", i ? NULL : "n", i ? "c" : NULL);
        cJSON *o = cJSON_Parse(s);
        cJSON *e = cJSON_GetObjectItem(o, "error");
        assert_string_equal(cJSON_GetObjectItem(e, "message")->valuestring, "msg");
        assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, cases[i].type);
        assert_true(i ? cJSON_IsNull(cJSON_GetObjectItem(e, "param"))
                      : cJSON_IsString(cJSON_GetObjectItem(e, "param")));
        assert_true(i ? cJSON_IsString(cJSON_GetObjectItem(e, "code")) : cJSON_IsNull(cJSON_GetObjectItem(e, "code")));
        cJSON_Delete(o);
        free(s);
    }
}

static void test_completion_and_chunks(void **state)
{
    (void)state;
    psy_oai_usage u = {.prompt_tokens = 70, .completion_tokens = 8, .cached_tokens = 69};
    cJSON *c = psy_oai_completion("id1", 5, "m", "hello", NULL, "length", &u);
    assert_string_equal(cJSON_GetObjectItem(c, "object")->valuestring, "chat.completion");
    cJSON *ch0 = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0);
    assert_string_equal(cJSON_GetObjectItem(ch0, "finish_reason")->valuestring, "length");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(ch0, "message"), "content")->valuestring, "hello");
    cJSON *us = cJSON_GetObjectItem(c, "usage");
    assert_int_equal(cJSON_GetObjectItem(us, "total_tokens")->valueint, 78);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(us, "prompt_tokens_details"), "cached_tokens")->valueint,
                     69);
    cJSON_Delete(c);

    c = psy_oai_chunk("id1", 5, "m", "assistant", "", NULL, NULL);
    char *sse = psy_oai_sse(c);
    assert_true(!strncmp(sse, "data: {", 7) && !strcmp(sse + strlen(sse) - 3, "}\n\n"));
    free(sse);
    cJSON *d = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0), "delta");
    assert_string_equal(cJSON_GetObjectItem(d, "role")->valuestring, "assistant");
    assert_true(
        cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "choices"), 0), "finish_reason")));
    cJSON_Delete(c);
    c = psy_oai_chunk("id1", 5, "m", NULL, NULL, NULL, &u); /* the usage chunk: no choices */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(c, "choices")), 0);
    assert_non_null(cJSON_GetObjectItem(c, "usage"));
    cJSON_Delete(c);
    c = psy_oai_models("psyche", 7);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(c, "data"), 0), "id")->valuestring,
                        "psyche");
    cJSON_Delete(c);
    assert_string_equal(psy_oai_finish_reason("context_full"), "length");
    assert_string_equal(psy_oai_finish_reason("length"), "length");
    assert_string_equal(psy_oai_finish_reason("stop"), "stop");
    assert_string_equal(psy_oai_finish_reason(NULL), "stop");
}

static void test_find_stop(void **state)
{
    (void)state;
    char *stops[] = {"END", "\n\nUser:"};
    size_t cut = 99, safe = 99;
    assert_false(psy_oai_find_stop("hello", 5, stops, 2, &cut, &safe));
    assert_int_equal(safe, 5);
    assert_false(psy_oai_find_stop("hello EN", 8, stops, 2, &cut, &safe));
    assert_int_equal(safe, 6); /* "EN" may become END: held back */
    assert_true(psy_oai_find_stop("hello END more", 14, stops, 2, &cut, &safe));
    assert_int_equal(cut, 6);
    assert_false(psy_oai_find_stop("a\n\nUs", 5, stops, 2, &cut, &safe));
    assert_int_equal(safe, 1);
    assert_true(psy_oai_find_stop("x\n\nUser: END", 12, stops, 2, &cut, &safe));
    assert_int_equal(cut, 1); /* the earliest of several */
    assert_false(psy_oai_find_stop("ab\xc3", 3, NULL, 0, &cut, &safe));
    assert_int_equal(safe, 2); /* never split a UTF-8 character */
    assert_false(psy_oai_find_stop("", 0, stops, 2, &cut, &safe));
    assert_int_equal(safe, 0);
}

/* psy_oai_tool_safe over the whole text (from 0). */
static size_t tool_safe(const char *text) { return psy_oai_tool_safe(text, strlen(text), 0); }

static void test_tool_safe(void **state)
{
    (void)state;
    /* prose streams; a brace that cannot open JSON does not stop it */
    assert_int_equal(tool_safe("Hello there"), 11);
    assert_int_equal(tool_safe("a {brace} here"), 14);
    assert_int_equal(tool_safe(""), 0);
    /* an answer that opens with a call, finished or not, is held whole */
    assert_int_equal(tool_safe("{"), 0);
    assert_int_equal(tool_safe("  {\"na"), 2);
    assert_int_equal(tool_safe("{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}"), 0);
    assert_int_equal(tool_safe("{\"name\": \"a}b\""), 0); /* a brace in a string does not end it */
    /* a finished object without a name is text; one holding a call is not */
    assert_int_equal(tool_safe("{\"x\": 1} and more"), 17);
    assert_int_equal(tool_safe("{\"x\": {\"name\": \"t\"}}"), 0);
    assert_int_equal(tool_safe("{\"x\": \"\\\"name\\\": \\\"t\\\"\"} ok"), 27); /* "name" inside a string */
    assert_int_equal(tool_safe("{\"name\": 3} ok"), 14);                        /* a name that is no string */
    /* prose, then a call: the prose goes, the call is held */
    assert_int_equal(tool_safe("Let me look. {\"name\": \"recall_memory\"}"), 13);
    /* openers of chat templates, whole or in part, hold what follows */
    assert_int_equal(tool_safe("<tool"), 0);
    assert_int_equal(tool_safe("ok <tool_call>\n{\"name\": \"t\"}</tool_call>"), 3);
    assert_int_equal(tool_safe("```json\n{\"na"), 0);
    assert_int_equal(tool_safe("```json\n{\"a\": 1}\n``` done"), 25); /* a JSON example, not a call */
    assert_int_equal(tool_safe("```json\n{\"a\": 1}\n```"), 17);      /* "```" may still become "```json" */
    assert_int_equal(tool_safe("<b>bold</b>"), 11);
    /* from: the scan starts where the last one held */
    assert_int_equal(psy_oai_tool_safe("abc {\"name\"", 11, 4), 4);
    assert_int_equal(psy_oai_tool_safe("abc {\"name\"", 11, 3), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_full_request), cmocka_unit_test(test_parse_defaults),
        cmocka_unit_test(test_parse_errors),       cmocka_unit_test(test_elpis_messages_merge_system),
        cmocka_unit_test(test_tool_messages),      cmocka_unit_test(test_tool_call_output),
        cmocka_unit_test(test_error_objects),      cmocka_unit_test(test_completion_and_chunks),
        cmocka_unit_test(test_find_stop),          cmocka_unit_test(test_tool_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
