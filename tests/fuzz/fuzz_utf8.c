/* fuzz_utf8.c - libFuzzer target: common/utf8.c. Decoding, validation,
 * counting and cutting must agree with each other: a cut is a prefix on a
 * character boundary, a sanitised copy is valid, a valid text re-encodes
 * to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool valid = utf8_valid(s, size);
    size_t chars = utf8_count(s, size), cols = utf8_width(s, size);
    if (chars > size || cols > 2 * chars) abort();
    /* decode everything; re-encode when valid */
    buf re = BUF_INIT;
    size_t i = 0, k = 0;
    while (i < size) {
        uint32_t cp;
        ssize_t l = utf8_decode(s + i, size - i, &cp);
        if (l > 0) {
            char b[UTF8_MAX_SEQ];
            size_t n = utf8_encode(cp, b);
            if ((ssize_t)n != l || memcmp(b, s + i, n)) abort();
            buf_append(&re, b, n);
            i += (size_t)l;
        } else {
            if (valid) abort();
            i++;
        }
        k++;
    }
    if (k != chars || (valid && (re.len != size || (size && memcmp(re.data, s, size))))) abort();
    buf_free(&re);
    /* cuts */
    for (size_t max = 0; max <= size && max < 64; max++) {
        size_t b = utf8_truncate_bytes(s, size, max), c = utf8_truncate_chars(s, size, max),
               w = utf8_truncate_width(s, size, max);
        if (b > max || b > size || c > size || w > size) abort();
        if (valid && (!utf8_valid(s, b) || !utf8_valid(s, c) || !utf8_valid(s, w))) abort();
        if (utf8_count(s, c) != (max < chars ? max : chars)) abort();
        if (utf8_width(s, w) > max) abort();
    }
    size_t p = utf8_complete_prefix(s, size);
    if (p > size || (valid && p != size)) abort();
    /* sanitise, in one piece and in two */
    buf out = BUF_INIT;
    size_t used;
    if (utf8_append_sanitized(&out, s, size, true, &used) == 0 && (used != size || !utf8_valid(out.data, out.len)))
        abort();
    buf_free(&out);
    return 0;
}
