/* test_psyche_model_config.c - psyche/model_config.c: setting [model] path
 * in psyche.toml changes only that key (comments, other keys and sections
 * kept), adds the key or the section when missing, quotes what needs
 * quoting, and refuses a broken config or a non-string path untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../psyche/model_config.h"

static char *set(const char *text, const char *value, int want_rc)
{
    char *out = NULL, err[512] = "";
    int rc = psy_model_config_set_path(text, strlen(text), "psyche.toml", value, &out, err, sizeof err);
    assert_int_equal(rc, want_rc);
    if (rc) {
        assert_null(out);
        assert_true(strlen(err) > 0);
    }
    return out;
}

static void test_replaces_only_the_key(void **state)
{
    (void)state;
    const char *in = "# my settings\n"
                     "[model]\n"
                     "# the chat model\n"
                     "path = \"/old/model.gguf\"\n"
                     "\n"
                     "[idle]\n"
                     "enabled = false # quiet\n";
    char *out = set(in, "/new/model.gguf", 0);
    assert_string_equal(out, "# my settings\n"
                             "[model]\n"
                             "# the chat model\n"
                             "path = \"/new/model.gguf\"\n"
                             "\n"
                             "[idle]\n"
                             "enabled = false # quiet\n");
    free(out);
}

static void test_adds_the_key_under_an_existing_section(void **state)
{
    (void)state;
    char *out = set("[model]\nctx = 0\n[idle]\nenabled = true", "/m.gguf", 0);
    assert_string_equal(out, "[model]\npath = \"/m.gguf\"\nctx = 0\n[idle]\nenabled = true");
    free(out);
}

static void test_appends_a_section(void **state)
{
    (void)state;
    char *out = set("[idle]\nenabled = true", "/m.gguf", 0); /* no final newline */
    assert_string_equal(out, "[idle]\nenabled = true\n\n[model]\npath = \"/m.gguf\"\n");
    free(out);
    out = set("", "/m.gguf", 0); /* a new config */
    assert_string_equal(out, "[model]\npath = \"/m.gguf\"\n");
    free(out);
}

static void test_a_path_key_of_another_section_is_left_alone(void **state)
{
    (void)state;
    char *out = set("[workspace]\npath = \"/w\"\n", "/m.gguf", 0);
    assert_string_equal(out, "[workspace]\npath = \"/w\"\n\n[model]\npath = \"/m.gguf\"\n");
    free(out);
}

static void test_quotes_what_needs_quoting(void **state)
{
    (void)state;
    char *out = set("", "/a \"b\"\\c.gguf", 0);
    char *back = NULL, err[256];
    assert_int_equal(psy_model_config_get_path(out, strlen(out), "x", &back, err, sizeof err), 0);
    assert_string_equal(back, "/a \"b\"\\c.gguf");
    free(back);
    free(out);
}

static void test_refuses_broken_configs(void **state)
{
    (void)state;
    set("[model\npath = 1\n", "/m.gguf", -EINVAL);                 /* does not parse */
    set("[model]\npath = 3\n", "/m.gguf", -EINVAL);                /* not a string */
    set("[model]\npath = [\"a\",\n \"b\"]\n", "/m.gguf", -EINVAL); /* an array over two lines */
}

static void test_get_path(void **state)
{
    (void)state;
    char *p = (char *)1, err[256];
    const char *t = "[model]\nctx = 1\n";
    assert_int_equal(psy_model_config_get_path(t, strlen(t), "x", &p, err, sizeof err), 0);
    assert_null(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replaces_only_the_key),
        cmocka_unit_test(test_adds_the_key_under_an_existing_section),
        cmocka_unit_test(test_appends_a_section),
        cmocka_unit_test(test_a_path_key_of_another_section_is_left_alone),
        cmocka_unit_test(test_quotes_what_needs_quoting),
        cmocka_unit_test(test_refuses_broken_configs),
        cmocka_unit_test(test_get_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
