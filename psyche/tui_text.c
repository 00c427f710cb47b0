/* tui_text.c - the TUI's pure text logic: UTF-8 and display width (thin
 * wrappers over common/utf8.h for wide characters), cleaning text for the
 * screen (common/termsafe.h), wrapping by display width, the centred emotion
 * bars, slash command parsing and the Ctrl+C double-press clock.
 *
 * No curses and no agent here: everything is unit-tested without a terminal
 * (tests/unit/test_psyche_tui.c). Widths come from common/utf8's table;
 * only the check for characters the terminal cannot show at all uses the C
 * library's wcwidth, so the process needs a UTF-8 LC_CTYPE (tui.c makes sure
 * it has one). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include "termsafe.h"
#include "utf8.h"
#include "tui.h"

#define REPLACEMENT UTF8_REPLACEMENT

/* ---------------------------------------------------------------- UTF-8 */

size_t psy_tui_utf8_next(const char *s, size_t n, wchar_t *out)
{
    uint32_t cp;
    ssize_t k = utf8_decode(s, n, &cp); /* U+FFFD for a bad or incomplete sequence */
    *out = (wchar_t)cp;
    return k > 0 ? (size_t)k : 1;
}

size_t psy_tui_utf8_put(wchar_t wc, char *out) { return utf8_encode((uint32_t)wc, out); }

int psy_tui_char_width(wchar_t c)
{
    if (c < 0x80) return 1; /* controls are drawn as U+FFFD, one cell */
    return utf8_cp_width((uint32_t)c);
}

int psy_tui_width(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n;) {
        wchar_t c;
        i += psy_tui_utf8_next(s + i, n - i, &c);
        w += psy_tui_char_width(c);
    }
    return w;
}

size_t psy_tui_fit(const char *s, size_t n, int width, int *used)
{
    int w = 0;
    size_t i = 0;
    while (i < n) {
        wchar_t c;
        size_t k = psy_tui_utf8_next(s + i, n - i, &c);
        int cw = psy_tui_char_width(c);
        if (w + cw > width) break;
        w += cw;
        i += k;
    }
    if (used) *used = w;
    return i;
}

char *psy_tui_sanitize(const char *s, size_t n)
{
    char *clean = NULL; /* escape sequences and controls removed whole (common/termsafe) */
    if (term_safe_dup(s, n, &clean)) return NULL;
    n = strlen(clean);
    /* worst case: a tab becomes 4 spaces */
    char *out = malloc(n * 4 + 1);
    if (!out) {
        free(clean);
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        wchar_t c;
        size_t k = psy_tui_utf8_next(clean + i, n - i, &c);
        if (c == '\t') {
            memcpy(out + o, "    ", 4);
            o += 4;
        } else if (c != '\n' && c >= 0x80 && wcwidth(c) < 0) {
            o += psy_tui_utf8_put(REPLACEMENT, out + o); /* the terminal cannot show it */
        } else {
            memcpy(out + o, clean + i, k);
            o += k;
        }
        i += k;
    }
    out[o] = 0;
    free(clean);
    return out;
}

/* ------------------------------------------------------------- wrapping */

static void emit(psy_tui_line *out, size_t cap, size_t *count, size_t off, size_t len, int width)
{
    if (*count < cap) {
        out[*count].off = off;
        out[*count].len = len;
        out[*count].width = width;
    }
    (*count)++;
}

static size_t skip_spaces(const char *s, size_t n, size_t pos)
{
    while (pos < n && s[pos] == ' ') pos++;
    return pos;
}

size_t psy_tui_wrap(const char *s, size_t n, int width, psy_tui_line *out, size_t cap)
{
    size_t count = 0, pos = 0;
    if (width < 1) width = 1;
    for (;;) {
        size_t start = pos, brk_end = 0;
        int w = 0, brk_w = 0;
        bool have_brk = false, broke = false;
        while (pos < n && s[pos] != '\n') {
            wchar_t c;
            size_t k = psy_tui_utf8_next(s + pos, n - pos, &c);
            if (c == ' ') {
                if (pos == start || s[pos - 1] != ' ') {
                    have_brk = true;
                    brk_end = pos;
                    brk_w = w;
                }
                if (w + 1 > width) { /* the space run overflows: break at its start */
                    emit(out, cap, &count, start, brk_end - start, brk_w);
                    pos = skip_spaces(s, n, pos);
                    if (pos < n && s[pos] == '\n') pos++; /* the break already ends the line */
                    broke = true;
                    break;
                }
                w += 1;
                pos += k;
                continue;
            }
            int cw = psy_tui_char_width(c);
            if (w + cw > width) {
                if (have_brk && brk_end > start) {
                    emit(out, cap, &count, start, brk_end - start, brk_w);
                    pos = skip_spaces(s, n, brk_end);
                } else if (pos == start) { /* a character wider than the line: take it anyway */
                    emit(out, cap, &count, start, k, cw);
                    pos += k;
                } else {
                    emit(out, cap, &count, start, pos - start, w);
                }
                broke = true;
                break;
            }
            w += cw;
            pos += k;
        }
        if (broke) {
            if (pos >= n) break;
            continue;
        }
        emit(out, cap, &count, start, pos - start, w);
        if (pos >= n) break;
        pos++; /* the '\n'; text ending in '\n' ends with an empty line */
    }
    return count;
}

/* ----------------------------------------------------------------- bars */

int psy_tui_bar(double v, int width, char *out)
{
    if (width < 3) width = 3;
    if (!(v == v)) v = 0; /* NaN */
    if (v > 1) v = 1;
    if (v < -1) v = -1;
    int half = (width - 1) / 2;
    int k = (int)((v < 0 ? -v : v) * half + 0.5);
    if (k > half) k = half;
    memset(out, '.', (size_t)width);
    out[half] = '|';
    for (int i = 1; i <= k; i++) out[v < 0 ? half - i : half + i] = v < 0 ? '-' : '+';
    out[width] = 0;
    return v < 0 ? -k : k;
}

/* ------------------------------------------------------------- commands */

static const struct {
    const char *name;
    psy_tui_cmd_kind kind;
} commands[] = {
    {"/help", PSY_CMD_HELP},         {"/h", PSY_CMD_HELP},          {"/?", PSY_CMD_HELP},
    {"/status", PSY_CMD_STATUS},     {"/s", PSY_CMD_STATUS},        {"/clear", PSY_CMD_CLEAR},
    {"/c", PSY_CMD_CLEAR},           {"/emotion", PSY_CMD_EMOTION}, {"/e", PSY_CMD_EMOTION},
    {"/thoughts", PSY_CMD_THOUGHTS}, {"/t", PSY_CMD_THOUGHTS},      {"/thinking", PSY_CMD_THINKING},
    {"/r", PSY_CMD_THINKING},        {"/memory", PSY_CMD_MEMORY},   {"/m", PSY_CMD_MEMORY},
    {"/quit", PSY_CMD_QUIT},         {"/q", PSY_CMD_QUIT},          {"/exit", PSY_CMD_QUIT},
    {"/cls", PSY_CMD_CLS},           {"/reason", PSY_CMD_REASON},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* "on" / "off" / "toggle" or "" (with trailing spaces) -> 1 / 0 / -1; anything else -2. */
static int parse_onoff(const char *arg)
{
    size_t n = strlen(arg);
    while (n && (arg[n - 1] == ' ' || arg[n - 1] == '\t')) n--;
    if (n == 0) return -1;
    if (n == 2 && !strncasecmp(arg, "on", 2)) return 1;
    if (n == 3 && !strncasecmp(arg, "off", 3)) return 0;
    if (n == 6 && !strncasecmp(arg, "toggle", 6)) return -1;
    return -2;
}

psy_tui_cmd_kind psy_tui_parse_command(const char *line, psy_tui_cmd *out)
{
    memset(out, 0, sizeof *out);
    out->onoff = -1;
    out->arg = "";
    while (*line == ' ' || *line == '\t' || *line == '\n') line++;
    out->text = line;
    if (line[0] != '/') return out->kind = PSY_CMD_NONE;
    if (line[1] == '/') {
        out->text = line + 1;
        return out->kind = PSY_CMD_NONE;
    }
    size_t n = strcspn(line, " \t");
    const char *arg = line + n;
    while (*arg == ' ' || *arg == '\t') arg++;
    out->arg = arg;
    out->kind = PSY_CMD_UNKNOWN;
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strlen(commands[i].name) == n && !strncasecmp(line, commands[i].name, n)) {
            out->kind = commands[i].kind;
            break;
        }
    if (out->kind == PSY_CMD_THOUGHTS || out->kind == PSY_CMD_THINKING || out->kind == PSY_CMD_REASON) {
        int v = parse_onoff(arg);
        if (v == -2) out->bad_arg = true;
        else out->onoff = v;
    } else if (out->kind == PSY_CMD_MEMORY) {
        out->bad_arg = parse_onoff(arg) == -1; /* a query is required */
    }
    return out->kind;
}

char *psy_tui_agent_line(const psy_tui_cmd *c)
{
    const char *base;
    switch (c->kind) {
    case PSY_CMD_STATUS: base = "/status"; break;
    case PSY_CMD_CLEAR: base = "/clear"; break;
    case PSY_CMD_EMOTION: base = "/emotion"; break;
    case PSY_CMD_THINKING: base = c->onoff == 1 ? "/thinking on" : c->onoff == 0 ? "/thinking off" : "/thinking"; break;
    case PSY_CMD_MEMORY: {
        size_t n = strlen(c->arg);
        while (n && (c->arg[n - 1] == ' ' || c->arg[n - 1] == '\t')) n--;
        char *s = malloc(n + 9);
        if (!s) return NULL;
        memcpy(s, "/memory ", 8);
        memcpy(s + 8, c->arg, n);
        s[8 + n] = 0;
        return s;
    }
    default: return NULL;
    }
    return strdup(base);
}

size_t psy_tui_complete_all(const char *prefix, const char **out, size_t cap)
{
    static const char *const names[] = {"/clear", "/cls",    "/emotion", "/exit",     "/help",    "/memory",
                                        "/quit",  "/reason", "/status",  "/thinking", "/thoughts"};
    size_t n = strlen(prefix), count = 0;
    if (n == 0 || prefix[0] != '/') return 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strncasecmp(names[i], prefix, n)) continue;
        if (strlen(names[i]) == n) { /* already complete: only itself */
            if (cap) out[0] = names[i];
            return 1;
        }
        if (count < cap) out[count] = names[i];
        count++;
    }
    return count;
}

const char *psy_tui_complete(const char *prefix)
{
    const char *found[2];
    return psy_tui_complete_all(prefix, found, 2) == 1 ? found[0] : NULL;
}

size_t psy_tui_common_prefix(const char *const *names, size_t n)
{
    if (!n) return 0;
    size_t len = strlen(names[0]);
    for (size_t i = 1; i < n; i++) {
        size_t k = 0;
        while (k < len && names[i][k] && tolower((unsigned char)names[i][k]) == tolower((unsigned char)names[0][k]))
            k++;
        len = k;
    }
    return len;
}

/* ---------------------------------------------------------------- Ctrl+C */

void psy_tui_ctrlc_init(psy_tui_ctrlc *c) { c->last = -1; }

psy_tui_ctrlc_action psy_tui_ctrlc_press(psy_tui_ctrlc *c, double now, bool busy)
{
    if (psy_tui_ctrlc_pending(c, now)) {
        c->last = -1;
        return PSY_CTRLC_QUIT;
    }
    c->last = now;
    return busy ? PSY_CTRLC_CANCEL : PSY_CTRLC_HINT;
}

bool psy_tui_ctrlc_pending(const psy_tui_ctrlc *c, double now)
{
    return c->last >= 0 && now >= c->last && now - c->last <= PSY_TUI_CTRLC_WINDOW;
}

/* ------------------------------------------------------------ test model */

bool psy_tui_is_test_model(const char *model)
{
    const char *base = strrchr(model, '/');
    return !strcmp(base ? base + 1 : model, PSY_TUI_TEST_MODEL);
}
