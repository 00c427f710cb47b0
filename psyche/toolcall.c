/* toolcall.c - the tool-call parser and the streaming stop check; see toolcall.h.
 *
 * The JSON object of a block is delimited by scanning balanced braces while
 * skipping JSON strings, not by the next fence: a create_file call whose
 * content is Markdown holds ``` inside a string, and must not be cut there. */
#include "toolcall.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the first tool_call block lies. Offsets into the text. */
typedef struct block {
    size_t open;   /* first backtick of the opening fence */
    size_t body;   /* first byte after the info string's line */
    size_t js, je; /* the balanced JSON object [js, je), when have_json */
    bool have_json;
    bool closed;    /* the closing fence was seen */
    size_t end;     /* just past the closing fence when closed, else len */
    size_t bad_end; /* end of the body (for error messages) when !have_json */
} block;

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

/* End (exclusive) of the balanced JSON value opening with text[i] == '{',
 * or 0 when the text ends first. Strings and their escapes are skipped. */
static size_t scan_object(const char *t, size_t len, size_t i)
{
    int depth = 0;
    bool in_str = false;
    for (; i < len; i++) {
        char c = t[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') in_str = true;
        else if (c == '{' || c == '[') depth++;
        else if (c == '}' || c == ']') {
            if (--depth == 0) return i + 1;
        }
    }
    return 0;
}

static size_t find3(const char *t, size_t len, size_t from)
{
    for (size_t i = from; i + 3 <= len; i++)
        if (t[i] == '`' && t[i + 1] == '`' && t[i + 2] == '`') return i;
    return (size_t)-1;
}

/* Past a fence starting at f: all its backticks. */
static size_t fence_end(const char *t, size_t len, size_t f)
{
    while (f < len && t[f] == '`') f++;
    return f;
}

/* A fence at the start of a line (only spaces before it) at or after from. */
static size_t find_line_fence(const char *t, size_t len, size_t from)
{
    for (size_t f = find3(t, len, from); f != (size_t)-1; f = find3(t, len, f + 3)) {
        size_t k = f;
        while (k > 0 && (t[k - 1] == ' ' || t[k - 1] == '\t')) k--;
        if (k == 0 || t[k - 1] == '\n') return f;
    }
    return (size_t)-1;
}

/* A block without valid JSON ends at the closing fence c ((size_t)-1: none,
 * the block runs to the end of the text). */
static void bad_block_ends(block *b, const char *t, size_t len, size_t c)
{
    if (c != (size_t)-1) {
        b->closed = true;
        b->end = fence_end(t, len, c);
        b->bad_end = c;
    } else {
        b->bad_end = len;
    }
}

/* Finds the first opening fence with info string tool_call. */
static bool find_block(const char *t, size_t len, block *b)
{
    static const char info[] = "tool_call";
    const size_t ilen = sizeof info - 1;
    memset(b, 0, sizeof *b);
    size_t f = find3(t, len, 0);
    while (f != (size_t)-1) {
        size_t k = fence_end(t, len, f);
        while (k < len && (t[k] == ' ' || t[k] == '\t')) k++;
        if (k + ilen <= len && strncasecmp(t + k, info, ilen) == 0 &&
            (k + ilen == len || !(isalnum((unsigned char)t[k + ilen]) || t[k + ilen] == '_' || t[k + ilen] == '-'))) {
            b->open = f;
            b->body = k + ilen;
            break;
        }
        f = find3(t, len, fence_end(t, len, f));
    }
    if (f == (size_t)-1) return false;

    /* Extra words on the info line ("tool_call json") are skipped unless the
     * object starts on that same line. */
    size_t p = b->body;
    size_t nl = p;
    while (nl < len && t[nl] != '\n' && t[nl] != '{') nl++;
    if (nl < len && t[nl] == '\n') p = nl + 1;
    while (p < len && is_ws(t[p])) p++;
    b->body = p;
    b->end = len;
    if (p < len && t[p] == '{') {
        size_t e = scan_object(t, len, p);
        if (e) {
            b->have_json = true;
            b->js = p;
            b->je = e;
            size_t c = find3(t, len, e);
            if (c != (size_t)-1) {
                b->closed = true;
                b->end = fence_end(t, len, c);
            }
            return true;
        }
        /* Unbalanced: a fence at a line start ends the block (JSON strings
         * cannot hold a raw newline, so that fence is not inside one). */
        bad_block_ends(b, t, len, find_line_fence(t, len, p));
        return true;
    }
    bad_block_ends(b, t, len, find3(t, len, p));
    return true;
}

bool psy_toolcall_stream_done(const char *text, size_t len, size_t *end)
{
    block b;
    if (!text || !find_block(text, len, &b) || !b.closed) return false;
    if (end) *end = b.end;
    return true;
}

/* True when a JSON string in t[0..n) holds the escape \u0000, which cJSON
 * would turn into a silent truncation of the string. */
static bool has_nul_escape(const char *t, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            if (t[i] == '"') in_str = true;
            continue;
        }
        if (t[i] == '"') {
            in_str = false;
        } else if (t[i] == '\\') {
            if (i + 5 < n && t[i + 1] == 'u' && memcmp(t + i + 2, "0000", 4) == 0) return true;
            i++;
        }
    }
    return false;
}

/* Up to 40 bytes of t around off, quoted-safe for a message. */
static void snippet(const char *t, size_t n, size_t off, char *out, size_t outlen)
{
    size_t a = off > 20 ? off - 20 : 0, b = off + 20 < n ? off + 20 : n;
    size_t j = 0;
    for (size_t i = a; i < b && j + 1 < outlen; i++) {
        unsigned char c = (unsigned char)t[i];
        out[j++] = (c == '\n' || c == '\r' || c == '\t') ? ' ' : (char)c;
    }
    out[j] = 0;
}

#define FORMAT_HINT                                                                                                    \
    " Send the call again as a ```tool_call block holding one JSON object: "                                           \
    "{\"name\": \"<tool>\", \"arguments\": {...}}."

/* Turns a parsed JSON value into a call. Returns 1, -EBADMSG (err set) or -ENOMEM. */
static int take_call(cJSON *root, psy_toolcall *out, char *err, size_t errlen)
{
    if (!cJSON_IsObject(root)) {
        snprintf(err, errlen, "The tool_call block must hold a JSON object." FORMAT_HINT);
        return -EBADMSG;
    }
    cJSON *holder = root;
    cJSON *fn = cJSON_GetObjectItemCaseSensitive(root, "function");
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "name")) && cJSON_IsObject(fn)) holder = fn;
    cJSON *name = cJSON_GetObjectItemCaseSensitive(holder, "name");
    if (!cJSON_IsString(name) || !name->valuestring[0]) {
        snprintf(err, errlen, "The tool_call JSON has no \"name\" string naming the tool." FORMAT_HINT);
        return -EBADMSG;
    }
    cJSON *args = cJSON_GetObjectItemCaseSensitive(holder, "arguments");
    if (!args || cJSON_IsNull(args)) args = cJSON_GetObjectItemCaseSensitive(holder, "parameters");
    cJSON *copy = NULL;
    if (!args || cJSON_IsNull(args)) {
        copy = cJSON_CreateObject();
    } else if (cJSON_IsObject(args)) {
        copy = cJSON_Duplicate(args, true);
    } else if (cJSON_IsString(args)) {
        const char *s = args->valuestring;
        size_t sl = strlen(s);
        while (sl && is_ws(s[sl - 1])) sl--;
        while (sl && is_ws(*s)) s++, sl--;
        copy = sl ? cJSON_ParseWithLength(s, sl) : cJSON_CreateObject();
        if (!cJSON_IsObject(copy)) {
            cJSON_Delete(copy);
            snprintf(err, errlen, "\"arguments\" of %s must be a JSON object." FORMAT_HINT, name->valuestring);
            return -EBADMSG;
        }
    } else {
        snprintf(err, errlen, "\"arguments\" of %s must be a JSON object." FORMAT_HINT, name->valuestring);
        return -EBADMSG;
    }
    if (!copy) return -ENOMEM;
    out->name = strdup(name->valuestring);
    if (!out->name) {
        cJSON_Delete(copy);
        return -ENOMEM;
    }
    out->arguments = copy;
    return 1;
}

/* Parses t[0..n) as one JSON value; on a syntax error, err says where. */
static int parse_json(const char *t, size_t n, cJSON **root, char *err, size_t errlen)
{
    if (has_nul_escape(t, n)) {
        snprintf(err, errlen, "The tool_call JSON contains \\u0000; NUL characters are not allowed in tool arguments.");
        return -EBADMSG;
    }
    const char *endp = NULL;
    *root = cJSON_ParseWithLengthOpts(t, n, &endp, false);
    if (!*root) {
        size_t off = endp && endp >= t && endp <= t + n ? (size_t)(endp - t) : 0;
        char near[48];
        snippet(t, n, off, near, sizeof near);
        snprintf(err, errlen, "Invalid JSON in the tool_call block at byte %zu (near '%s')." FORMAT_HINT, off, near);
        return -EBADMSG;
    }
    return 0;
}

void psy_toolcall_clear(psy_toolcall *tc)
{
    if (!tc) return;
    free(tc->name);
    cJSON_Delete(tc->arguments);
    memset(tc, 0, sizeof *tc);
}

/* The raw-JSON fallback: the first object with a "name" string that either
 * opens the text or has "arguments"/"parameters". At most 64 candidates are
 * tried so that pathological text stays linear-ish. */
static int parse_fallback(const char *t, size_t len, psy_toolcall *out)
{
    size_t first = 0;
    while (first < len && is_ws(t[first])) first++;
    int tries = 0;
    for (size_t i = first; i < len && tries < 64; i++) {
        if (t[i] != '{') continue;
        tries++;
        size_t e = scan_object(t, len, i);
        if (!e) continue;
        if (has_nul_escape(t + i, e - i)) continue;
        cJSON *root = cJSON_ParseWithLength(t + i, e - i);
        if (!root) continue;
        bool named = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "name"));
        bool has_args = cJSON_HasObjectItem(root, "arguments") || cJSON_HasObjectItem(root, "parameters");
        if (named && (has_args || i == first)) {
            char err[256];
            int rc = take_call(root, out, err, sizeof err);
            cJSON_Delete(root);
            if (rc == -ENOMEM) return rc;
            if (rc == 1) {
                out->start = i;
                out->end = e;
                return 1;
            }
        } else {
            cJSON_Delete(root);
        }
        i = e - 1; /* do not look inside an object that is not a call */
    }
    return 0;
}

int psy_toolcall_parse(const char *text, size_t len, psy_toolcall *out, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) err = dummy, errlen = sizeof dummy;
    err[0] = 0;
    memset(out, 0, sizeof *out);
    if (!text) return 0;
    block b;
    if (!find_block(text, len, &b)) return parse_fallback(text, len, out);

    out->start = b.open;
    out->end = b.end;
    out->fenced = true;
    if (!b.have_json) {
        bool opened = b.body < len && text[b.body] == '{';
        if (opened) {
            snprintf(err, errlen,
                     "The JSON object in the tool_call block is incomplete (unbalanced braces)." FORMAT_HINT);
        } else {
            snprintf(err, errlen, "The tool_call block does not hold a JSON object." FORMAT_HINT);
        }
        return -EBADMSG;
    }
    cJSON *root;
    int rc = parse_json(text + b.js, b.je - b.js, &root, err, errlen);
    if (rc) return rc;
    rc = take_call(root, out, err, errlen);
    cJSON_Delete(root);
    if (rc != 1) {
        size_t s = out->start, e = out->end;
        psy_toolcall_clear(out);
        out->start = s, out->end = e, out->fenced = true;
    }
    return rc;
}
