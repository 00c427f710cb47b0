/* tui_view.c - the terminal UI's screen: the layout (chat, thought panel,
 * input line and status bar on the left; the sidebar with emotion, status
 * and the last tools on the right) and all drawing, with curses.
 *
 * It reads the screen model (psy_tui, built by tui.c) and never changes it,
 * except for the view's own bookkeeping: the page sizes, the chat's scroll
 * bounds and each entry's cached line count. Each draw repaints the whole
 * virtual screen; curses sends the terminal only the cells that changed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ncursesw/curses.h>

#include "tui.h"
#include "utf8.h"

enum { C_GREEN = 1, C_RED, C_BLUE, C_CYAN, C_MAGENTA, C_YELLOW, C_GREY };

static SCREEN *screen;
static bool colors;

#define CURSOR_GLYPH "\xe2\x96\x8c" /* U+258C, the streaming cursor */

static attr_t color(int pair) { return colors ? (attr_t)COLOR_PAIR(pair) : 0; }

int psy_tui_view_open(void)
{
    screen = newterm(NULL, stdout, stdin);
    if (!screen) return -1;
    set_term(screen);
    raw(); /* Ctrl+C, Ctrl+Q and Ctrl+S arrive as keys */
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    /* bracketed paste: a pasted text's line breaks do not send it */
    define_key("\033[200~", PSY_TUI_KEY_PASTE_START);
    define_key("\033[201~", PSY_TUI_KEY_PASTE_END);
    fputs("\033[?2004h", stdout); /* straight to the terminal: putp would wait in stdio's buffer */
    (void)fflush(stdout);         /* a terminal mode; nothing to recover */
    if (has_colors()) {
        colors = true;
        start_color();
        use_default_colors();
        bool bright = COLORS >= 16;
        init_pair(C_GREEN, bright ? 10 : COLOR_GREEN, -1);
        init_pair(C_RED, bright ? 9 : COLOR_RED, -1);
        init_pair(C_BLUE, bright ? 12 : COLOR_BLUE, -1);
        init_pair(C_CYAN, COLOR_CYAN, -1);
        init_pair(C_MAGENTA, bright ? 13 : COLOR_MAGENTA, -1);
        init_pair(C_YELLOW, COLOR_YELLOW, -1);
        init_pair(C_GREY, bright ? 8 : COLOR_WHITE, -1);
    }
    return 0;
}

static void free_scratch(void);

void psy_tui_view_close(void)
{
    free_scratch();
    if (!screen) return;
    endwin();
    fputs("\033[?2004l", stdout);
    (void)fflush(stdout); /* a terminal mode; nothing to recover */
    delscreen(screen);
    screen = NULL;
}

void psy_tui_view_resize(void)
{
    struct winsize ws;
    if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0 && (ws.ws_row != LINES || ws.ws_col != COLS))
        resizeterm(ws.ws_row, ws.ws_col);
    clearok(curscr, TRUE);
}


/* ------------------------------------------------------------ primitives */

/* Draws s[0..n) at (y, x) in at most w cells; returns the cells used. */
static int put(int y, int x, const char *s, size_t n, int w, attr_t attr)
{
    if (w <= 0) return 0;
    int used;
    size_t k = psy_tui_fit(s, n, w, &used);
    attron(attr);
    mvaddnstr(y, x, s, (int)k);
    attroff(attr);
    return used;
}

static int puts_at(int y, int x, const char *s, int w, attr_t attr) { return put(y, x, s, strlen(s), w, attr); }

/* Like puts_at, but a string too long ends in an ellipsis. */
static int puts_fit(int y, int x, const char *s, int w, attr_t attr)
{
    size_t n = strlen(s);
    if (psy_tui_width(s, n) <= w) return put(y, x, s, n, w, attr);
    int used = put(y, x, s, n, w - 1, attr);
    return used + put(y, x + used, "\xe2\x80\xa6", 3, 1, attr);
}

static void hline_at(int y, int x, int w, attr_t attr)
{
    attron(attr);
    for (int i = 0; i < w; i++) mvaddstr(y, x + i, "\xe2\x94\x80"); /* U+2500 */
    attroff(attr);
}

static void fmt_int(char *out, size_t outlen, double v)
{
    long n = (long)v;
    char raw[32];
    snprintf(raw, sizeof raw, "%ld", n < 0 ? -n : n);
    size_t len = strlen(raw), o = 0;
    if (n < 0 && o + 1 < outlen) out[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < outlen; i++) {
        if (i && (len - i) % 3 == 0) out[o++] = ',';
        out[o++] = raw[i];
    }
    out[o] = 0;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }
static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = get(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}
static const char *str(const cJSON *o, const char *k, const char *dflt)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

/* ---------------------------------------------------------------- layout */

static struct {
    int rows, cols;
    int side_x, side_w; /* side_w 0: no sidebar */
    int main_w;
    int head_h; /* 1: the test-model header above the chat */
    int chat_y, chat_h;
    int th_y, th_h; /* the thought panel below its title row; th_h 0: hidden */
    int sep_y, input_y, status_y;
} L;

static bool layout(psy_tui *t)
{
    L.rows = LINES;
    L.cols = COLS;
    if (L.rows < 8 || L.cols < 30) return false;
    L.side_w = L.cols >= 110 ? 36 : L.cols >= 84 ? 30 : 0;
    L.main_w = L.cols - L.side_w;
    L.side_x = L.main_w + 2;
    L.status_y = L.rows - 1;
    L.input_y = L.rows - 2;
    L.sep_y = L.rows - 3;
    L.head_h = psy_tui_is_test_model(str(t->status, "model", "")) ? 1 : 0;
    L.chat_y = L.head_h;
    int avail = L.sep_y - L.head_h;
    L.th_h = 0;
    if (t->show_thoughts && avail >= 8) {
        int th = avail * 2 / 5;
        if (th < 4) th = 4;
        L.th_h = th - 1; /* one row is the title */
        L.th_y = L.head_h + avail - th + 1;
        L.chat_h = avail - th;
    } else {
        L.chat_h = avail;
    }
    t->chat_rows = L.chat_h;
    t->thought_rows = L.th_h;
    return true;
}

/* ------------------------------------------------------- entries → lines */

typedef struct vrow {
    const char *s; /* text, not terminated */
    size_t len;
    int indent;
    attr_t attr;
    const char *mark; /* a glyph before the text ("✓ "), or NULL */
    attr_t mark_attr;
    bool cursor; /* the line ends with the streaming cursor */
} vrow;

typedef struct vrows {
    vrow *v;
    size_t n, cap;
    char *tmp; /* text with the cursor appended (live answers) */
} vrows;

static void vl_push(vrows *vl, vrow l)
{
    if (vl->n == vl->cap) {
        size_t cap = vl->cap ? vl->cap * 2 : 64;
        vrow *v = realloc(vl->v, cap * sizeof *v);
        if (!v) return;
        vl->v = v;
        vl->cap = cap;
    }
    vl->v[vl->n++] = l;
}

static void vl_reset(vrows *vl)
{
    vl->n = 0;
    free(vl->tmp);
    vl->tmp = NULL;
}

static psy_tui_line *wrap_buf;
static size_t wrap_cap;

/* Wraps s into vl with one style; code fences and their contents in answers
 * get their own. A source line's leading spaces become the indent of all
 * its wrapped rows (lists, code and tables keep their shape). */
static void push_wrapped(vrows *vl, const char *s, size_t n, int width, int indent, attr_t attr, bool code,
                         const char *mark, attr_t mark_attr)
{
    bool in_code = false, first_row = true;
    size_t pos = 0;
    do {
        const char *nl = memchr(s + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - s) : n;
        size_t lead = 0;
        while (pos + lead < end && s[pos + lead] == ' ') lead++;
        if ((int)lead > width / 2) lead = (size_t)(width / 2);
        attr_t a = attr;
        if (code && end - pos - lead >= 3 && !strncmp(s + pos + lead, "```", 3)) {
            in_code = !in_code;
            a = A_DIM;
        } else if (in_code) {
            a = color(C_YELLOW);
        }
        const char *ls = s + pos + lead;
        size_t ln = end - pos - lead;
        int lw = width - (int)lead;
        size_t count = psy_tui_wrap(ls, ln, lw, wrap_buf, wrap_cap);
        if (count > wrap_cap) {
            psy_tui_line *b = realloc(wrap_buf, count * sizeof *b);
            if (!b) return;
            wrap_buf = b;
            wrap_cap = count;
            psy_tui_wrap(ls, ln, lw, wrap_buf, wrap_cap);
        }
        for (size_t i = 0; i < count; i++) {
            vl_push(vl, (vrow){ls + wrap_buf[i].off, wrap_buf[i].len, indent + (int)lead, a, first_row ? mark : NULL,
                               mark_attr, false});
            first_row = false;
        }
        pos = end + 1;
    } while (pos <= n);
}

/* Group of a chat entry: a user message alone, an assistant turn's answer,
 * tools and errors together, everything else alone. */
static long group_of(const psy_tui_entry *e, size_t i)
{
    if (e->kind == PSY_TUI_USER) return -(long)e->turn * 2 - 1;
    if (e->turn &&
        (e->kind == PSY_TUI_ANSWER || e->kind == PSY_TUI_TOOL || e->kind == PSY_TUI_MEMORY || e->kind == PSY_TUI_ERROR))
        return -(long)e->turn * 2 - 2;
    return (long)i;
}

typedef struct chat_view {
    psy_tui *t;
    psy_tui_entry pending; /* the answer being waited for, before its first token */
    size_t n;              /* entries including pending */
} chat_view;

static psy_tui_entry *chat_at(chat_view *cv, size_t i) { return i < cv->t->chat.n ? &cv->t->chat.v[i] : &cv->pending; }

static bool first_in_group(chat_view *cv, size_t i)
{
    return i == 0 || group_of(chat_at(cv, i - 1), i - 1) != group_of(chat_at(cv, i), i);
}

/* The display lines of chat entry i. */
static void chat_lines(chat_view *cv, size_t i, int width, vrows *vl)
{
    psy_tui_entry *e = chat_at(cv, i);
    bool first = first_in_group(cv, i);
    int tw = width - 2 > 4 ? width - 2 : 4;
    if (first && i > 0) vl_push(vl, (vrow){"", 0, 0, 0, NULL, 0, false});
    if (first && e->kind == PSY_TUI_USER) vl_push(vl, (vrow){"You", 3, 0, A_BOLD | color(C_CYAN), NULL, 0, false});
    else if (first && group_of(e, i) < -1 && e->kind != PSY_TUI_USER)
        vl_push(vl, (vrow){"Psyche", 6, 0, A_BOLD | color(C_MAGENTA), NULL, 0, false});
    switch (e->kind) {
    case PSY_TUI_USER: push_wrapped(vl, e->text, e->len, tw, 2, 0, false, NULL, 0); break;
    case PSY_TUI_ANSWER:
        if (e->live) {
            vl->tmp = malloc(e->len + sizeof CURSOR_GLYPH);
            if (!vl->tmp) break;
            memcpy(vl->tmp, e->text, e->len);
            memcpy(vl->tmp + e->len, CURSOR_GLYPH, sizeof CURSOR_GLYPH);
            push_wrapped(vl, vl->tmp, e->len + 3, tw, 2, 0, true, NULL, 0);
            if (vl->n) vl->v[vl->n - 1].cursor = true;
        } else if (e->len) {
            push_wrapped(vl, e->text, e->len, tw, 2, 0, true, NULL, 0);
        }
        if (e->cut) vl_push(vl, (vrow){"(interrupted)", 13, 2, A_DIM, NULL, 0, false});
        break;
    case PSY_TUI_TOOL:
        push_wrapped(vl, e->text, e->len, tw - 2, 4, A_DIM, false,
                     e->live ? "\xe2\x8b\xaf "
                     : e->ok ? "\xe2\x9c\x93 "
                             : "\xe2\x9c\x97 ",
                     e->live ? color(C_YELLOW)
                     : e->ok ? color(C_GREEN)
                             : color(C_RED));
        break;
    case PSY_TUI_MEMORY: push_wrapped(vl, e->text, e->len, tw - 2, 4, A_DIM, false, "\xe2\x97\x87 ", A_DIM); break;
    case PSY_TUI_INFO: push_wrapped(vl, e->text, e->len, tw, 2, color(C_CYAN), false, NULL, 0); break;
    case PSY_TUI_ERROR: push_wrapped(vl, e->text, e->len, tw, 2, color(C_RED), false, NULL, 0); break;
    case PSY_TUI_CHILD: /* ok: a child is back */
        push_wrapped(vl, e->text, e->len, tw - 2, 4, e->ok ? A_DIM : color(C_YELLOW), false,
                     e->ok ? "\xe2\x97\x8f " : "\xe2\x9a\xa0 ", e->ok ? color(C_GREEN) : A_BOLD | color(C_YELLOW));
        break;
    default: push_wrapped(vl, e->text, e->len, tw, 2, 0, false, NULL, 0); break;
    }
}

static vrows scratch;

static void free_scratch(void)
{
    vl_reset(&scratch);
    free(scratch.v);
    scratch.v = NULL;
    scratch.cap = 0;
    free(wrap_buf);
    wrap_buf = NULL;
    wrap_cap = 0;
}

static size_t chat_count(chat_view *cv, size_t i, int width)
{
    psy_tui_entry *e = chat_at(cv, i);
    int flags = first_in_group(cv, i) | (e->live ? 2 : 0) | (e->cut ? 4 : 0) | (i == 0 ? 8 : 0);
    if (e != &cv->pending && e->cache_width == width && e->cache_len == e->len && e->cache_flags == flags)
        return e->cache_lines;
    vl_reset(&scratch);
    chat_lines(cv, i, width, &scratch);
    size_t n = scratch.n;
    vl_reset(&scratch);
    e->cache_width = width;
    e->cache_len = e->len;
    e->cache_flags = flags;
    e->cache_lines = n;
    return n;
}

static void draw_vline(int y, int x, int w, const vrow *l)
{
    int cx = x + l->indent;
    int room = w - l->indent;
    if (l->mark) { /* marks hang in the indent: wrapped rows line up with the first */
        int mw = psy_tui_width(l->mark, strlen(l->mark));
        puts_at(y, cx - mw >= x ? cx - mw : x, l->mark, mw, l->mark_attr);
    }
    size_t len = l->len;
    if (l->cursor && len >= 3) len -= 3;
    int used = put(y, cx, l->s, len, room, l->attr);
    if (l->cursor) put(y, cx + used, CURSOR_GLYPH, 3, room - used, A_BOLD | color(C_MAGENTA));
}

/* Draws lines [first, first+count) of entry i's lines, from row y. */
typedef void (*lines_fn)(void *ctx, size_t i, int width, vrows *vl);

static void draw_entry(lines_fn fn, void *ctx, size_t i, int width, int x, int y, size_t from, size_t count)
{
    vl_reset(&scratch);
    fn(ctx, i, width, &scratch);
    for (size_t k = 0; k < count && from + k < scratch.n; k++) draw_vline(y + (int)k, x, width, &scratch.v[from + k]);
    vl_reset(&scratch);
}

static void chat_lines_fn(void *ctx, size_t i, int width, vrows *vl) { chat_lines(ctx, i, width, vl); }

/* Bottom-aligned list of entries, scrolled *scroll lines up from the end.
 * count(i) gives entry i's lines. Returns the lines in all. */
static size_t draw_list(size_t n, size_t (*count)(void *, size_t, int), lines_fn fn, void *ctx, int x, int y, int w,
                        int h, int *scroll)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += count(ctx, i, w);
    long max_scroll = (long)total > h ? (long)total - h : 0;
    if (*scroll > max_scroll) *scroll = (int)max_scroll;
    if (*scroll < 0) *scroll = 0;
    /* the view shows lines [top, top+h) of the whole list */
    long top = (long)total - h - *scroll;
    if (top < 0) top = 0;
    long line = 0;
    for (size_t i = 0; i < n && line < top + h; i++) {
        long c = (long)count(ctx, i, w);
        if (line + c > top) {
            long from = top > line ? top - line : 0;
            long row = line + from - top;
            long k = c - from;
            if (row + k > h) k = h - row;
            draw_entry(fn, ctx, i, w, x, y + (int)row, (size_t)from, (size_t)k);
        }
        line += c;
    }
    return total;
}

static size_t chat_count_fn(void *ctx, size_t i, int w) { return chat_count(ctx, i, w); }

static void draw_chat(psy_tui *t)
{
    static size_t last_total;
    chat_view cv = {.t = t};
    size_t n = t->chat.n;
    bool tool_running = n && t->chat.v[n - 1].kind == PSY_TUI_TOOL && t->chat.v[n - 1].live;
    if (psy_tui_busy(t) && !t->quitting && t->live < 0 && !tool_running) {
        cv.pending.kind = PSY_TUI_ANSWER;
        cv.pending.text = "";
        cv.pending.turn = t->answered + 1;
        cv.pending.live = true;
        n++;
    }
    cv.n = n;
    int w = L.main_w - 1;
    /* keep the view still while scrolled up and text arrives */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += chat_count(&cv, i, w);
    if (t->chat_scroll > 0 && total > last_total) t->chat_scroll += (int)(total - last_total);
    last_total = total;
    t->chat_total = draw_list(n, chat_count_fn, chat_lines_fn, &cv, 0, L.chat_y, w, L.chat_h, &t->chat_scroll);
    if (t->chat_scroll > 0) {
        char msg[80];
        snprintf(msg, sizeof msg, " \xe2\x86\x93 %d more lines (PgDn, Esc) ", t->chat_scroll);
        int mw = psy_tui_width(msg, strlen(msg));
        puts_at(L.chat_y + L.chat_h - 1, L.main_w - mw - 1, msg, mw, A_REVERSE);
    }
}

/* The header while the random-weight test model is loaded: it stays. */
static void draw_header(void)
{
    if (!L.head_h) return;
    int w = L.main_w - 1;
    attr_t a = A_BOLD | (colors ? color(C_YELLOW) : A_REVERSE);
    puts_fit(0, 0,
             " TEST MODEL: tiny-chat.gguf has random weights and answers gibberish. For real answers: "
             "psyche --model FILE.gguf (a GGUF chat model) ",
             w, a);
}

/* --------------------------------------------------------- thought panel */

static void thought_lines(void *ctx, size_t i, int width, vrows *vl)
{
    psy_tui *t = ctx;
    psy_tui_entry *e = &t->thoughts.v[i];
    if (e->kind == PSY_TUI_REASONING && !t->show_reasoning) return; /* /reason off */
    int tw = width - 2 > 4 ? width - 2 : 4;
    attr_t la = e->kind == PSY_TUI_DREAM       ? color(C_MAGENTA)
                : e->kind == PSY_TUI_REASONING ? color(C_YELLOW)
                                               : color(C_BLUE);
    if (e->kind == PSY_TUI_EVENT) { /* one dim line: "14:02 memory: stored a memory" */
        bool tool = !strcmp(e->label, "tool");
        const char *mark = !tool ? "" : e->live ? "\xe2\x8b\xaf " : e->ok ? "\xe2\x9c\x93 " : "\xe2\x9c\x97 ";
        size_t n = strlen(e->clock) + strlen(e->label) + strlen(mark) + e->len + 4;
        vl->tmp = malloc(n);
        if (!vl->tmp) return;
        snprintf(vl->tmp, n, "%s %s: %s%s", e->clock, e->label, mark, e->text);
        push_wrapped(vl, vl->tmp, strlen(vl->tmp), width, 0, A_DIM, false, NULL, 0);
        return;
    }
    char head[96];
    snprintf(head, sizeof head, "%s %s", e->clock, e->label);
    vl->tmp = strdup(head);
    if (!vl->tmp) return;
    vl_push(vl, (vrow){vl->tmp, strlen(vl->tmp), 0, A_BOLD | la, NULL, 0, false});
    push_wrapped(vl, e->text, e->len, tw, 2, e->kind == PSY_TUI_REASONING ? A_DIM : 0, false, NULL, 0);
}

static size_t thought_count(void *ctx, size_t i, int width)
{
    psy_tui *t = ctx;
    psy_tui_entry *e = &t->thoughts.v[i];
    if (e->kind == PSY_TUI_REASONING && !t->show_reasoning) return 0;
    if (e->cache_width == width && e->cache_len == e->len && e->cache_flags == (e->live ? 2 : 0) + 1)
        return e->cache_lines;
    vl_reset(&scratch);
    thought_lines(ctx, i, width, &scratch);
    e->cache_lines = scratch.n;
    vl_reset(&scratch);
    e->cache_width = width;
    e->cache_len = e->len;
    e->cache_flags = (e->live ? 2 : 0) + 1;
    return e->cache_lines;
}

static void draw_thoughts(psy_tui *t)
{
    if (!L.th_h) return;
    int y = L.th_y - 1, w = L.main_w - 1;
    hline_at(y, 0, w, A_DIM);
    char title[96];
    snprintf(title, sizeof title, " thoughts (%zu) ", t->thoughts.n);
    int used = puts_at(y, 2, title, w - 4, A_BOLD | color(C_BLUE));
    if (t->thought_scroll) puts_at(y, 2 + used + 1, " scrolled: Shift+PgDn ", w - used - 6, A_DIM);
    else puts_at(y, 2 + used + 1, " Ctrl+T hides ", w - used - 6, A_DIM);
    if (!t->thoughts.n) {
        puts_at(L.th_y, 2, "Nothing yet. Psyche reflects when you are quiet for a while, and dreams after longer.",
                w - 2, A_DIM);
        return;
    }
    draw_list(t->thoughts.n, thought_count, thought_lines, t, 0, L.th_y, w, L.th_h, &t->thought_scroll);
}

/* --------------------------------------------------------------- sidebar */

static attr_t quadrant_attr(const char *q)
{
    if (!strcmp(q, "excited")) return A_BOLD | color(C_GREEN);
    if (!strcmp(q, "frustrated")) return A_BOLD | color(C_RED);
    if (!strcmp(q, "calm")) return A_BOLD | color(C_BLUE);
    if (!strcmp(q, "depleted")) return A_DIM;
    return A_BOLD;
}

static void draw_bar(int y, int x, int w, const char *name, double v, int neg_pair, int pos_pair)
{
    char cells[64];
    int bw = w - 8 - 6;
    if (bw > 41) bw = 41;
    if (bw < 3) return;
    puts_at(y, x, name, 8, A_DIM);
    psy_tui_bar(v, bw, cells);
    for (int i = 0; i < bw; i++) {
        const char *g = cells[i] == '.' ? "\xc2\xb7" : cells[i] == '|' ? "\xe2\x94\x82" : "\xe2\x96\x88";
        attr_t a = cells[i] == '-' ? color(neg_pair) : cells[i] == '+' ? color(pos_pair) : A_DIM;
        puts_at(y, x + 8 + i, g, 1, a);
    }
    char val[16];
    snprintf(val, sizeof val, "%+.2f", v);
    puts_at(y, x + 8 + bw + 1, val, 5, 0);
}

static int side_row(int *y, int x, int w, const char *key, const char *value, attr_t attr)
{
    if (*y >= L.status_y) return 0;
    puts_at(*y, x, key, 10, A_DIM);
    puts_fit(*y, x + 10, value, w - 10, attr);
    return (*y)++;
}

/* The emotion block: quadrant and how long, the two bars, trend, spiral. */
static int side_emotion(const cJSON *em, int y, int x, int w)
{
    char buf[160];
    puts_at(y++, x, "EMOTION", w, A_BOLD | A_DIM);
    if (!cJSON_IsObject(em)) {
        puts_at(y++, x, "waiting for elpis...", w, A_DIM);
        return y + 4;
    }
    const char *q = str(em, "quadrant", "?");
    int used = puts_at(y, x, q, w, quadrant_attr(q));
    const cJSON *tr = get(em, "trajectory");
    double tq = num(tr, "time_in_quadrant", -1);
    if (tq >= 0) {
        if (tq < 60) snprintf(buf, sizeof buf, " for %.0fs", tq);
        else if (tq < 3600) snprintf(buf, sizeof buf, " for %.0fm", tq / 60);
        else snprintf(buf, sizeof buf, " for %.1fh", tq / 3600);
        puts_at(y, x + used, buf, w - used, A_DIM);
    }
    y++;
    draw_bar(y++, x, w, "valence", num(em, "valence", 0), C_RED, C_GREEN);
    draw_bar(y++, x, w, "arousal", num(em, "arousal", 0), C_BLUE, C_YELLOW);
    const char *trend = str(tr, "trend", "?");
    const char *arrow = !strcmp(trend, "improving")   ? " \xe2\x86\x97"
                        : !strcmp(trend, "declining") ? " \xe2\x86\x98"
                        : !strcmp(trend, "stable")    ? " \xe2\x86\x92"
                                                      : " \xe2\x86\x95";
    snprintf(buf, sizeof buf, "%s%s", trend, arrow);
    side_row(&y, x, w, "trend", buf,
             !strcmp(trend, "declining")   ? color(C_RED)
             : !strcmp(trend, "improving") ? color(C_GREEN)
                                           : 0);
    bool spiral = cJSON_IsTrue(get(tr, "spiral_detected"));
    snprintf(buf, sizeof buf, "%s", spiral ? str(tr, "spiral_direction", "yes") : "none");
    side_row(&y, x, w, "spiral", buf, spiral ? A_BOLD | color(C_RED) : A_DIM);
    return y;
}

/* One row per child: up, off, starting, or down with the cause of its last
 * failed start (else its error); the chat has the cause in full. */
static void side_children(const psy_tui *t, const cJSON *st, int *y, int x, int w)
{
    char buf[160];
    const cJSON *ch = get(st, "children");
    static const char *const kids[2] = {"elpis", "mnemosyne"};
    for (int i = 0; i < 2; i++) {
        const cJSON *c = get(ch, kids[i]);
        bool disabled = cJSON_IsTrue(get(c, "disabled"));
        bool alive = cJSON_IsTrue(get(c, "alive"));
        int restarts = (int)num(c, "restarts", 0);
        if (!c) snprintf(buf, sizeof buf, "\xe2\x97\x8b starting");
        else if (disabled) snprintf(buf, sizeof buf, "\xe2\x97\x8b off");
        else if (alive && restarts)
            snprintf(buf, sizeof buf, "\xe2\x97\x8f up (%d restart%s)", restarts, restarts == 1 ? "" : "s");
        else if (alive) snprintf(buf, sizeof buf, "\xe2\x97\x8f up");
        else if (t->child_cause[i][0]) snprintf(buf, sizeof buf, "\xe2\x97\x8f down: %s", t->child_cause[i]);
        else snprintf(buf, sizeof buf, "\xe2\x97\x8f down%s%s", str(c, "error", NULL) ? ": " : "", str(c, "error", ""));
        utf8_trim_partial(buf); /* a long cause: cut between characters */
        side_row(y, x, w, kids[i], buf, !c || disabled ? A_DIM : alive ? color(C_GREEN) : A_BOLD | color(C_RED));
    }
}

/* The context's tokens used of its budget (the local agent's), or of the
 * context's size (a server's, which says no budget); then, when the front
 * knows them, the last answer's tokens and the prompt tokens that came from
 * the cache. Counts a front does not report are not shown (not as 0). */
static void side_tokens(const cJSON *st, int *y, int x, int w)
{
    char buf[160], n1[32], n2[32];
    if (get(st, "tokens_used")) {
        double used = num(st, "tokens_used", 0), size = num(st, "tokens_budget", num(st, "context_length", 0));
        fmt_int(n1, sizeof n1, used);
        fmt_int(n2, sizeof n2, size);
        if (size > 0) snprintf(buf, sizeof buf, "%s/%s %.0f%%", n1, n2, 100.0 * used / size);
        else snprintf(buf, sizeof buf, "%s", n1);
        side_row(y, x, w, "tokens", buf, size > 0 && used > 0.9 * size ? color(C_YELLOW) : 0);
    }
    if (get(st, "last_answer_tokens")) {
        fmt_int(n1, sizeof n1, num(st, "last_answer_tokens", 0));
        fmt_int(n2, sizeof n2, num(st, "cached_tokens", 0));
        if (get(st, "cached_tokens")) snprintf(buf, sizeof buf, "%s out, %s cached", n1, n2);
        else snprintf(buf, sizeof buf, "%s out", n1);
        side_row(y, x, w, "answer", buf, 0);
    }
}

/* The status block: state, messages, tokens, children, sandbox, modes. */
static int side_status(psy_tui *t, int y, int x, int w)
{
    const cJSON *st = t->status;
    char buf[160], n1[32];
    puts_at(y++, x, "STATUS", w, A_BOLD | A_DIM);
    const char *state = psy_tui_state(t);
    side_row(&y, x, w, "state", state, !strcmp(state, "idle") ? 0 : A_BOLD | color(C_YELLOW));
    fmt_int(n1, sizeof n1, num(st, "messages", 0));
    side_row(&y, x, w, "messages", n1, 0);
    side_tokens(st, &y, x, w);
    side_children(t, st, &y, x, w);
    const cJSON *sb = get(st, "sandbox");
    bool sb_on = cJSON_IsTrue(get(sb, "active"));
    snprintf(buf, sizeof buf, "%s %s", sb_on ? "\xe2\x97\x8f" : "\xe2\x97\x8b", sb ? (sb_on ? "on" : "off") : "?");
    side_row(&y, x, w, "sandbox", buf, sb_on ? color(C_GREEN) : color(C_YELLOW));
    const char *detail = str(sb, "detail", NULL);
    if (detail && y < L.status_y) puts_fit(y++, x + 2, detail, w - 2, A_DIM);
    snprintf(buf, sizeof buf, "reasoning %s, idle %s", cJSON_IsTrue(get(st, "reasoning")) ? "on" : "off",
             cJSON_IsFalse(get(st, "idle_enabled")) ? "off" : "on");
    if (y < L.status_y) puts_fit(y++, x, buf, w, A_DIM);
    return y;
}

/* The last five tools, newest last. */
static int side_tools(const cJSON *st, int y, int x, int w)
{
    if (y < L.status_y) puts_at(y++, x, "TOOLS", w, A_BOLD | A_DIM);
    const cJSON *tools = get(st, "last_tools");
    int nt = cJSON_GetArraySize(tools);
    if (!nt && y < L.status_y) puts_at(y++, x, "none yet", w, A_DIM);
    for (int i = nt > 5 ? nt - 5 : 0; i < nt && y < L.status_y; i++) {
        const cJSON *tl = cJSON_GetArrayItem(tools, i);
        bool ok = cJSON_IsTrue(get(tl, "success"));
        puts_at(y, x, ok ? "\xe2\x9c\x93" : "\xe2\x9c\x97", 1, ok ? color(C_GREEN) : color(C_RED));
        puts_fit(y++, x + 2, str(tl, "line", "?"), w - 2, 0);
    }
    return y;
}

/* The workspace on the sidebar's last row, its end kept when too long. */
static void side_workspace(const cJSON *st, int y, int x, int w)
{
    const char *ws = str(st, "workspace", NULL);
    if (!ws || !*ws || y >= L.status_y - 1) return;
    int ww = psy_tui_width(ws, strlen(ws));
    const char *p = ws;
    while (ww > w - 2 && *p) {
        wchar_t c;
        size_t k = psy_tui_utf8_next(p, strlen(p), &c);
        ww -= psy_tui_char_width(c);
        p += k;
    }
    puts_at(L.status_y - 1, x, p == ws ? "" : "\xe2\x80\xa6", 1, A_DIM);
    puts_at(L.status_y - 1, x + (p == ws ? 0 : 1), p, w - 1, A_DIM);
}

static void draw_sidebar(psy_tui *t)
{
    if (!L.side_w) return;
    attron(A_DIM);
    for (int y = 0; y < L.status_y; y++) mvaddstr(y, L.main_w, "\xe2\x94\x82");
    attroff(A_DIM);
    int x = L.side_x, w = L.side_w - 3, y = 0;
    puts_at(y, x, "Psyche", w, A_BOLD | color(C_MAGENTA));
    const char *model = str(t->status, "model", "");
    const char *base = strrchr(model, '/');
    puts_fit(y++, x + 7, base ? base + 1 : model, w - 7, A_DIM);
    y = side_emotion(t->emotion, y + 1, x, w);
    y = side_status(t, y + 1, x, w);
    y = side_tools(t->status, y + 1, x, w);
    side_workspace(t->status, y, x, w);
}

/* ------------------------------------------------ input and status lines */

static void draw_input(psy_tui *t, int *cur_y, int *cur_x)
{
    int w = L.main_w - 1;
    hline_at(L.sep_y, 0, w, A_DIM);
    attr_t pa = t->quitting ? A_DIM : A_BOLD | color(C_MAGENTA);
    puts_at(L.input_y, 0, "\xe2\x80\xba ", 2, pa);
    int fw = w - 3;
    psy_tui_input *in = &t->input;
    int col = 0;
    t->input_first = psy_tui_input_scroll(in, fw, t->input_first, &col);
    if (!in->len && !t->quitting) {
        puts_at(L.input_y, 2, "Type a message (/help for commands)", fw, A_DIM);
    } else {
        int x = 2, used = 0;
        for (size_t i = t->input_first; i < in->len; i++) {
            int cw = psy_tui_char_width(in->text[i]);
            if (used + cw > fw) break;
            char u[8];
            size_t k = psy_tui_utf8_put(in->text[i], u);
            if (in->text[i] == '\n') put(L.input_y, x + used, "\xe2\x86\xb5", 3, cw, A_DIM); /* a line break: ↵ */
            else put(L.input_y, x + used, u, k, cw, t->quitting ? A_DIM : 0);
            used += cw;
        }
        if (t->input_first > 0) puts_at(L.input_y, 1, "\xe2\x80\xb9", 1, A_DIM); /* more on the left */
    }
    *cur_y = L.input_y;
    *cur_x = 2 + col;
}

static void draw_status(psy_tui *t, double now)
{
    int y = L.status_y, w = L.cols - 1;
    char buf[256];
    attr_t a = A_DIM;
    if (t->notice_until > now) {
        snprintf(buf, sizeof buf, " %s", t->notice);
        a = A_BOLD | color(C_YELLOW);
    } else if (t->quitting) {
        snprintf(buf, sizeof buf, " \xe2\x97\x8c shutting down: %s...", psy_tui_state(t));
        a = color(C_YELLOW);
    } else if (psy_tui_busy(t)) {
        snprintf(buf, sizeof buf, " \xe2\x97\x8f %s %.0fs  \xc2\xb7  Esc stops", psy_tui_state(t),
                 floor(now - t->busy_since));
        a = color(C_MAGENTA);
    } else {
        const char *st = psy_tui_state(t);
        snprintf(buf, sizeof buf,
                 " %s%sEnter send \xc2\xb7 /help \xc2\xb7 Ctrl+T thoughts \xc2\xb7 PgUp/PgDn scroll \xc2\xb7 "
                 "Ctrl+C twice quits",
                 strcmp(st, "idle") ? st : "", strcmp(st, "idle") ? "  \xc2\xb7  " : "");
    }
    int used = puts_fit(y, 0, buf, w, a);
    if (t->unseen && !t->show_thoughts) {
        snprintf(buf, sizeof buf, "\xe2\x9c\xa6 %d new thought%s (Ctrl+T) ", t->unseen, t->unseen == 1 ? "" : "s");
        int bw = psy_tui_width(buf, strlen(buf));
        if (used + bw + 2 <= w) puts_at(y, w - bw, buf, bw, A_BOLD | color(C_BLUE));
    }
}

void psy_tui_view_draw(psy_tui *t, double now)
{
    if (t->repaint) clearok(curscr, TRUE);
    t->repaint = false;
    erase();
    if (!layout(t)) {
        mvaddstr(0, 0, "terminal too small");
        refresh();
        return;
    }
    draw_header();
    draw_chat(t);
    draw_thoughts(t);
    draw_sidebar(t);
    int cy, cx;
    draw_input(t, &cy, &cx);
    draw_status(t, now);
    move(cy, cx);
    curs_set(t->quitting ? 0 : 1);
    refresh();
}
