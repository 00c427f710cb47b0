/* tui_input.c - the TUI's input line: a wide-character line editor
 * (cursor movement, deletion, Ctrl+U/K/W kills; a message may hold line
 * breaks, shown as one cell each), its history (up/down, with
 * the line being typed kept as a draft), and horizontal scrolling by display
 * width.
 *
 * Pure: no curses, no agent; unit-tested in tests/unit/test_psyche_tui.c.
 * Allocation failures leave the line unchanged (the key is ignored). */
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "tui.h"
#include "utf8.h"

void psy_tui_input_init(psy_tui_input *in) { memset(in, 0, sizeof *in); }

void psy_tui_input_free(psy_tui_input *in)
{
    free(in->text);
    for (size_t i = 0; i < in->nhist; i++) free(in->hist[i]);
    free(in->hist);
    free(in->draft);
    memset(in, 0, sizeof *in);
}

static bool reserve(psy_tui_input *in, size_t need)
{
    if (need <= in->cap) return true;
    size_t cap = in->cap ? in->cap * 2 : 64;
    while (cap < need) cap *= 2;
    wchar_t *t = realloc(in->text, cap * sizeof *t);
    if (!t) return false;
    in->text = t;
    in->cap = cap;
    return true;
}

static bool printable(wchar_t c)
{
    return c >= 0x20 && c != 0x7F && !(c >= 0x80 && c < 0xA0) && utf8_is_scalar((uint32_t)c);
}

static bool insert_any(psy_tui_input *in, wchar_t c)
{
    if (!reserve(in, in->len + 1)) return false;
    memmove(in->text + in->cur + 1, in->text + in->cur, (in->len - in->cur) * sizeof *in->text);
    in->text[in->cur++] = c;
    in->len++;
    return true;
}

bool psy_tui_input_insert(psy_tui_input *in, wchar_t c) { return printable(c) && insert_any(in, c); }

bool psy_tui_input_newline(psy_tui_input *in) { return insert_any(in, '\n'); }

bool psy_tui_input_insert_utf8(psy_tui_input *in, const char *s)
{
    bool changed = false;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        wchar_t c;
        i += psy_tui_utf8_next(s + i, n - i, &c);
        if (c == '\t') c = ' ';
        changed |= c == '\n' ? psy_tui_input_newline(in) : psy_tui_input_insert(in, c);
    }
    return changed;
}

bool psy_tui_input_left(psy_tui_input *in)
{
    if (!in->cur) return false;
    in->cur--;
    return true;
}

bool psy_tui_input_right(psy_tui_input *in)
{
    if (in->cur >= in->len) return false;
    in->cur++;
    return true;
}

bool psy_tui_input_home(psy_tui_input *in)
{
    bool moved = in->cur != 0;
    in->cur = 0;
    return moved;
}

bool psy_tui_input_end(psy_tui_input *in)
{
    bool moved = in->cur != in->len;
    in->cur = in->len;
    return moved;
}

/* Deletes text[from..to). */
static bool cut(psy_tui_input *in, size_t from, size_t to)
{
    if (from >= to) return false;
    memmove(in->text + from, in->text + to, (in->len - to) * sizeof *in->text);
    in->len -= to - from;
    if (in->cur >= to) in->cur -= to - from;
    else if (in->cur > from) in->cur = from;
    return true;
}

bool psy_tui_input_backspace(psy_tui_input *in) { return in->cur ? cut(in, in->cur - 1, in->cur) : false; }
bool psy_tui_input_delete(psy_tui_input *in) { return in->cur < in->len ? cut(in, in->cur, in->cur + 1) : false; }
bool psy_tui_input_kill_start(psy_tui_input *in) { return cut(in, 0, in->cur); }
bool psy_tui_input_kill_end(psy_tui_input *in) { return cut(in, in->cur, in->len); }

static bool is_space(wchar_t c) { return c == ' '; }

static size_t word_start_before(const psy_tui_input *in, size_t i)
{
    while (i > 0 && is_space(in->text[i - 1])) i--;
    while (i > 0 && !is_space(in->text[i - 1])) i--;
    return i;
}

bool psy_tui_input_kill_word(psy_tui_input *in) { return cut(in, word_start_before(in, in->cur), in->cur); }

bool psy_tui_input_word_left(psy_tui_input *in)
{
    size_t i = word_start_before(in, in->cur);
    bool moved = i != in->cur;
    in->cur = i;
    return moved;
}

bool psy_tui_input_word_right(psy_tui_input *in)
{
    size_t i = in->cur;
    while (i < in->len && is_space(in->text[i])) i++;
    while (i < in->len && !is_space(in->text[i])) i++;
    bool moved = i != in->cur;
    in->cur = i;
    return moved;
}

void psy_tui_input_clear(psy_tui_input *in) { in->len = in->cur = 0; }

/* ---------------------------------------------------------------- history */

static void load_utf8(psy_tui_input *in, const char *s)
{
    psy_tui_input_clear(in);
    psy_tui_input_insert_utf8(in, s);
}

static bool save_draft(psy_tui_input *in)
{
    wchar_t *d = malloc((in->len ? in->len : 1) * sizeof *d);
    if (!d) return false;
    if (in->len) memcpy(d, in->text, in->len * sizeof *d);
    free(in->draft);
    in->draft = d;
    in->draft_len = in->len;
    return true;
}

bool psy_tui_input_hist_prev(psy_tui_input *in)
{
    if (in->hpos > in->nhist) in->hpos = in->nhist; /* defensive */
    if (in->hpos == 0) return false;
    if (in->hpos == in->nhist && !save_draft(in)) return false;
    in->hpos--;
    load_utf8(in, in->hist[in->hpos]);
    return true;
}

bool psy_tui_input_hist_next(psy_tui_input *in)
{
    if (in->hpos >= in->nhist) return false;
    in->hpos++;
    if (in->hpos < in->nhist) {
        load_utf8(in, in->hist[in->hpos]);
        return true;
    }
    psy_tui_input_clear(in);
    if (in->draft && reserve(in, in->draft_len)) {
        memcpy(in->text, in->draft, in->draft_len * sizeof *in->text);
        in->len = in->cur = in->draft_len;
    }
    free(in->draft);
    in->draft = NULL;
    in->draft_len = 0;
    return true;
}

void psy_tui_input_hist_add(psy_tui_input *in, const char *line)
{
    if (line[strspn(line, " ")] == 0) return;
    if (in->nhist && !strcmp(in->hist[in->nhist - 1], line)) return;
    char *copy = strdup(line);
    if (!copy) return;
    if (!in->hist) { /* one allocation for the whole history: 500 pointers */
        in->hist = calloc(PSY_TUI_HISTORY_MAX, sizeof *in->hist);
        if (!in->hist) {
            free(copy);
            return;
        }
    }
    if (in->nhist == PSY_TUI_HISTORY_MAX) {
        free(in->hist[0]);
        memmove(in->hist, in->hist + 1, (in->nhist - 1) * sizeof *in->hist);
        in->nhist--;
    }
    in->hist[in->nhist++] = copy;
}

char *psy_tui_input_utf8(const psy_tui_input *in)
{
    char *s = malloc(in->len * 4 + 1);
    if (!s) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < in->len; i++) o += psy_tui_utf8_put(in->text[i], s + o);
    s[o] = 0;
    return s;
}

char *psy_tui_input_take(psy_tui_input *in)
{
    char *s = psy_tui_input_utf8(in);
    if (!s) return NULL;
    psy_tui_input_hist_add(in, s);
    psy_tui_input_clear(in);
    in->hpos = in->nhist;
    free(in->draft);
    in->draft = NULL;
    in->draft_len = 0;
    return s;
}

/* -------------------------------------------------------------- scrolling */

static int cells(const psy_tui_input *in, size_t from, size_t to)
{
    int w = 0;
    for (size_t i = from; i < to; i++) w += psy_tui_char_width(in->text[i]);
    return w;
}

size_t psy_tui_input_scroll(const psy_tui_input *in, int width, size_t prev_first, int *col)
{
    if (width < 1) width = 1;
    size_t cur = in->cur > in->len ? in->len : in->cur;
    size_t first = prev_first < cur ? prev_first : cur;
    int curw = cur < in->len ? psy_tui_char_width(in->text[cur]) : 1;
    if (curw < 1) curw = 1;
    int w = cells(in, first, cur);
    while (first < cur && w + curw > width) w -= psy_tui_char_width(in->text[first++]);
    /* pull the view back when the rest of the line fits (after deleting) */
    int tail = cells(in, first, in->len) + 1;
    while (first > 0) {
        int cw = psy_tui_char_width(in->text[first - 1]);
        if (tail + cw > width) break;
        tail += cw;
        w += cw;
        first--;
    }
    if (col) *col = w;
    return first;
}
