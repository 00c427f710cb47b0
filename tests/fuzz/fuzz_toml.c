/* fuzz_toml.c - libFuzzer target: the TOML subset parser and the scalar
 * parsers. Every item handed to the callback must be well-formed (strings
 * NUL-terminated and valid UTF-8), and a string written by toml_quote must
 * parse back to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "toml.h"
#include "utf8.h"

static int check_item(void *ud, const toml_item *it, char *err, size_t errlen)
{
    (void)ud, (void)err, (void)errlen;
    if (!it->section || it->line < 1) abort();
    if (!it->key) return 0;
    if (it->kind == TOML_STRING && !utf8_valid(it->str, strlen(it->str))) abort();
    for (size_t i = 0; it->kind == TOML_STRARRAY && i < it->n; i++)
        if (!utf8_valid(it->items[i], strlen(it->items[i]))) abort();
    return 0;
}

static int take_string(void *ud, const toml_item *it, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    if (it->key && it->kind == TOML_STRING) *(char **)ud = strdup(it->str);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    char err[512];
    toml_parse(t, size, "fuzz.toml", check_item, NULL, err, sizeof err);
    long long i;
    double d;
    toml_int_parse(t, size, &i);
    toml_float_parse(t, size, &d);
    /* quote round trip for text without NUL that is valid UTF-8 */
    if (memchr(t, 0, size) || !utf8_valid(t, size)) return 0;
    char *s = strndup(t, size);
    buf doc = BUF_INIT;
    if (s && buf_puts(&doc, "k = ") == 0 && toml_quote(&doc, s) == 0) {
        char *back = NULL;
        if (toml_parse(doc.data, doc.len, NULL, take_string, &back, err, sizeof err) != 0 || !back || strcmp(back, s))
            abort();
        free(back);
    }
    buf_free(&doc);
    free(s);
    return 0;
}
