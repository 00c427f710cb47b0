/* tui_keys.c - what the user does in the terminal UI: keys (editing,
 * history, scrolling, Ctrl+C/Q/L/T/R, Esc) and slash commands. The UI's own
 * commands (/help, /thoughts, /clear of the view, /quit) are handled here;
 * the agent's are handed to psy_agent_command in their canonical form.
 *
 * Main thread only; every agent call here returns at once (answers come back
 * as events, handled in tui.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ncursesw/curses.h>

#include "tui.h"

static const char *const help_text =
    "Commands:\n"
    "  /help (/h, /?)            this help\n"
    "  /status (/s)              agent state, children, tokens, sandbox\n"
    "  /emotion (/e)             the emotional state in detail\n"
    "  /memory <query> (/m)      search long-term memory\n"
    "  /thoughts [on|off|toggle] (/t)  the thought panel (idle thoughts, dreams, reasoning)\n"
    "  /reason [on|off]          show or hide reasoning in the thought panel\n"
    "  /thinking [on|off] (/r)   reasoning mode: the model thinks before answering\n"
    "  /clear (/c)               clear the conversation (it is still remembered)\n"
    "  /cls                      clear the screen; the conversation goes on\n"
    "  /quit (/q, /exit)         save a summary and quit\n"
    "Keys:\n"
    "  Enter send, Ctrl+J new line, Up/Down history, Tab completes a command\n"
    "  PgUp/PgDn scroll the chat, Shift+PgUp/PgDn the thoughts\n"
    "  Esc or Ctrl+C stop the answer; Ctrl+C twice or Ctrl+Q quit\n"
    "  Ctrl+T thoughts, Ctrl+R reasoning, Ctrl+L redraw\n"
    "  Ctrl+A/E start/end of line, Ctrl+U/K/W delete before/after/word\n"
    "A message that starts with / is written //.";

/* ------------------------------------------------------------- commands */

void psy_tui_quit(psy_tui *t)
{
    if (!t->quitting) {
        t->quitting = true;
        psy_tui_chat_add(t, PSY_TUI_INFO,
                         "Saving the conversation and stopping (Ctrl+C twice or Ctrl+Q to stop at once)...", 0);
    } else {
        psy_tui_notice(t, 5, "Stopping now.");
    }
    psy_front_quit(t->front); /* the second call skips what is left of the shutdown */
}

static void forward(psy_tui *t, const psy_tui_cmd *c)
{
    char *line = psy_tui_agent_line(c);
    if (!line || !psy_front_command(t->front, line))
        psy_tui_chat_add(t, PSY_TUI_ERROR, "[Error: the agent did not take the command]", 0);
    free(line);
}

static void submit(psy_tui *t, char *line)
{
    /* trim: a command's words, and a message's stray spaces */
    size_t n = strlen(line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\n')) line[--n] = 0;
    psy_tui_cmd c;
    psy_tui_parse_command(line, &c);
    if (!*c.text && c.kind == PSY_CMD_NONE) return;
    if (t->quitting) {
        if (c.kind == PSY_CMD_QUIT) psy_tui_quit(t);
        else if (c.kind == PSY_CMD_THOUGHTS) t->show_thoughts = c.onoff < 0 ? !t->show_thoughts : c.onoff;
        else psy_tui_notice(t, 3, "Shutting down: nothing more is sent.");
        return;
    }
    switch (c.kind) {
    case PSY_CMD_NONE:
        if (!psy_tui_busy(t)) t->busy_since = psy_tui_now();
        t->submitted++;
        psy_tui_chat_add(t, PSY_TUI_USER, c.text, t->submitted);
        psy_front_submit(t->front, c.text);
        t->chat_scroll = 0;
        break;
    case PSY_CMD_HELP: psy_tui_chat_add(t, PSY_TUI_INFO, help_text, 0); break;
    case PSY_CMD_THOUGHTS:
        if (c.bad_arg) {
            psy_tui_chat_add(t, PSY_TUI_ERROR, "usage: /thoughts [on|off|toggle]", 0);
            break;
        }
        t->show_thoughts = c.onoff < 0 ? !t->show_thoughts : c.onoff;
        if (t->show_thoughts) t->unseen = 0;
        break;
    case PSY_CMD_REASON:
        if (c.bad_arg) {
            psy_tui_chat_add(t, PSY_TUI_ERROR, "usage: /reason [on|off|toggle]", 0);
            break;
        }
        t->show_reasoning = c.onoff < 0 ? !t->show_reasoning : c.onoff;
        psy_tui_chat_add(t, PSY_TUI_INFO,
                         t->show_reasoning ? "Reasoning is shown in the thought panel (Ctrl+T)."
                                           : "Reasoning is hidden (/reason shows it again).",
                         0);
        break;
    case PSY_CMD_CLS: psy_tui_chat_clear(t); break;
    case PSY_CMD_THINKING:
        if (c.bad_arg) psy_tui_chat_add(t, PSY_TUI_ERROR, "usage: /thinking [on|off]", 0);
        else forward(t, &c);
        break;
    case PSY_CMD_MEMORY:
        if (c.bad_arg) psy_tui_chat_add(t, PSY_TUI_ERROR, "usage: /memory <query>", 0);
        else forward(t, &c);
        break;
    case PSY_CMD_CLEAR:
        psy_tui_chat_clear(t);
        forward(t, &c);
        break;
    case PSY_CMD_STATUS:
        t->status_asked = true; /* its answer gets the `where` lines (tui_events.c) */
        forward(t, &c);
        break;
    case PSY_CMD_EMOTION: forward(t, &c); break;
    case PSY_CMD_QUIT: psy_tui_quit(t); break;
    case PSY_CMD_UNKNOWN: {
        char msg[160];
        snprintf(msg, sizeof msg, "Unknown command %.*s (try /help)", (int)strcspn(c.text, " \t"), c.text);
        psy_tui_chat_add(t, PSY_TUI_ERROR, msg, 0);
        break;
    }
    }
}

static void submit_input(psy_tui *t)
{
    char *line = psy_tui_input_take(&t->input);
    if (line) submit(t, line);
    free(line);
}

/* ------------------------------------------------------------------ keys */

enum {
    CTRL_A = 1,
    CTRL_B = 2,
    CTRL_C = 3,
    CTRL_D = 4,
    CTRL_E = 5,
    CTRL_F = 6,
    CTRL_H = 8,
    TAB = 9,
    CTRL_J = 10,
    CTRL_K = 11,
    CTRL_L = 12,
    CTRL_M = 13,
    CTRL_N = 14,
    CTRL_P = 16,
    CTRL_Q = 17,
    CTRL_R = 18,
    CTRL_T = 20,
    CTRL_U = 21,
    CTRL_W = 23,
    ESC = 27,
    DEL = 127
};

static int key_ctrl_left, key_ctrl_right; /* terminal-specific codes, 0 if unknown */

static int key_code_of(const char *capname)
{
    char *s = tigetstr(capname);
    if (!s || s == (char *)-1) return 0;
    int k = key_defined(s);
    return k > 0 ? k : 0;
}

/* Tab: completes a command name; on an ambiguous prefix it completes what
 * the candidates share and lists them in the status bar. */
static void complete(psy_tui *t)
{
    char *line = psy_tui_input_utf8(&t->input);
    if (!line) return;
    const char *names[16];
    size_t n = line[0] == '/' && !strpbrk(line, " \t") ? psy_tui_complete_all(line, names, 16) : 0;
    if (n > 16) n = 16;
    if (n == 1) {
        psy_tui_input_clear(&t->input);
        psy_tui_input_insert_utf8(&t->input, names[0]);
        if (!strcmp(names[0], "/memory") || !strcmp(names[0], "/thoughts") || !strcmp(names[0], "/thinking") ||
            !strcmp(names[0], "/reason"))
            psy_tui_input_insert(&t->input, ' ');
    } else if (n > 1) {
        size_t common = psy_tui_common_prefix(names, n);
        if (common > strlen(line)) {
            char *p = strndup(names[0], common);
            if (p) psy_tui_input_clear(&t->input), psy_tui_input_insert_utf8(&t->input, p);
            free(p);
        }
        char list[200] = "";
        size_t used = 0;
        for (size_t i = 0; i < n && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? "  " : "", names[i]);
        psy_tui_notice(t, 5, "%s", list);
    }
    free(line);
}

static void on_ctrl_c(psy_tui *t)
{
    double now = psy_tui_now();
    switch (psy_tui_ctrlc_press(&t->ctrlc, now, psy_tui_busy(t) && !t->quitting)) {
    case PSY_CTRLC_QUIT: psy_tui_quit(t); break;
    case PSY_CTRLC_CANCEL:
        psy_front_cancel(t->front);
        psy_tui_notice(t, PSY_TUI_CTRLC_WINDOW, "Stopped the answer. Press Ctrl+C again to quit.");
        break;
    case PSY_CTRLC_HINT:
        psy_tui_notice(t, PSY_TUI_CTRLC_WINDOW,
                       t->quitting ? "Press Ctrl+C again to stop at once."
                                   : "Press Ctrl+C again to quit (or type /quit).");
        break;
    }
}

static void scroll_chat(psy_tui *t, int lines)
{
    t->chat_scroll += lines;
    if (t->chat_scroll < 0) t->chat_scroll = 0;
    /* the upper bound is applied by the view, which knows the chat's length */
}

/* Function keys (curses KEY_* codes). */
static void on_function_key(psy_tui *t, int k)
{
    psy_tui_input *in = &t->input;
    int page = t->chat_rows > 3 ? t->chat_rows - 2 : 1;
    if (k == KEY_RESIZE) return; /* handled by the caller */
    if (k == key_ctrl_left && k) psy_tui_input_word_left(in);
    else if (k == key_ctrl_right && k) psy_tui_input_word_right(in);
    else switch (k) {
        case KEY_LEFT: psy_tui_input_left(in); break;
        case KEY_RIGHT: psy_tui_input_right(in); break;
        case KEY_HOME: psy_tui_input_home(in); break;
        case KEY_END: psy_tui_input_end(in); break;
        case KEY_BACKSPACE: psy_tui_input_backspace(in); break;
        case KEY_DC: psy_tui_input_delete(in); break;
        case KEY_UP: psy_tui_input_hist_prev(in); break;
        case KEY_DOWN: psy_tui_input_hist_next(in); break;
        case KEY_PPAGE: scroll_chat(t, page); break;
        case KEY_NPAGE: scroll_chat(t, -page); break;
        case KEY_SR: scroll_chat(t, 1); break;  /* Shift+Up */
        case KEY_SF: scroll_chat(t, -1); break; /* Shift+Down */
        case KEY_SPREVIOUS: t->thought_scroll += t->thought_rows > 3 ? t->thought_rows - 2 : 1; break;
        case KEY_SNEXT:
            t->thought_scroll -= t->thought_rows > 3 ? t->thought_rows - 2 : 1;
            if (t->thought_scroll < 0) t->thought_scroll = 0;
            break;
        case KEY_ENTER: submit_input(t); break;
        case PSY_TUI_KEY_PASTE_START: t->pasting = true; break;
        case PSY_TUI_KEY_PASTE_END: t->pasting = false; break;
        default: break;
        }
}

void psy_tui_on_key(psy_tui *t, int type, wint_t ch)
{
    psy_tui_input *in = &t->input;
    if (type == KEY_CODE_YES) {
        on_function_key(t, (int)ch);
        return;
    }
    switch (ch) {
    case CTRL_C: on_ctrl_c(t); break;
    case CTRL_Q: psy_tui_quit(t); break;
    case CTRL_L: t->repaint = true; break;
    case CTRL_T:
        t->show_thoughts = !t->show_thoughts;
        if (t->show_thoughts) t->unseen = 0;
        break;
    case CTRL_R:
        if (!t->quitting) {
            psy_tui_cmd c = {.kind = PSY_CMD_THINKING, .onoff = -1, .arg = ""};
            forward(t, &c);
        }
        break;
    case ESC:
        if (psy_tui_busy(t) && !t->quitting) {
            psy_front_cancel(t->front);
            psy_tui_notice(t, 2, "Stopped the answer.");
        } else if (t->chat_scroll) {
            t->chat_scroll = 0;
        } else if (t->notice_until) {
            t->notice_until = 0;
        }
        break;
    case CTRL_A: psy_tui_input_home(in); break;
    case CTRL_E: psy_tui_input_end(in); break;
    case CTRL_B: psy_tui_input_left(in); break;
    case CTRL_F: psy_tui_input_right(in); break;
    case CTRL_D: psy_tui_input_delete(in); break;
    case CTRL_H:
    case DEL: psy_tui_input_backspace(in); break;
    case CTRL_U: psy_tui_input_kill_start(in); break;
    case CTRL_K: psy_tui_input_kill_end(in); break;
    case CTRL_W: psy_tui_input_kill_word(in); break;
    case CTRL_P: psy_tui_input_hist_prev(in); break;
    case CTRL_N: psy_tui_input_hist_next(in); break;
    case TAB: complete(t); break;
    case CTRL_J: psy_tui_input_newline(in); break;
    case CTRL_M:
        if (t->pasting) psy_tui_input_newline(in); /* a pasted line break */
        else submit_input(t);
        break;
    default: psy_tui_input_insert(in, (wchar_t)ch); break;
    }
}

void psy_tui_keys_init(void)
{
    key_ctrl_left = key_code_of("kLFT5");
    key_ctrl_right = key_code_of("kRIT5");
}
