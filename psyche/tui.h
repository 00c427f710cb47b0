/* tui.h - psyche's full-screen terminal UI (ncursesw).
 *
 * The one entry point is psy_tui_run(): main.c calls it after starting the
 * agent. The TUI owns the terminal and runs on the main thread; it talks to
 * the agent only through a psy_front (front.h: submit, cancel, command,
 * quit, status, emotion, typing, and the event queue behind its fd): the
 * local agent (front_local.c) or a psyche serve (front_remote.c).
 *
 * Files, each calling only the ones below it (no file calls back up;
 * tests/integration/test_tui.py checks the object files):
 *   tui.c         the loop: keyboard, agent events, resizes, redraws
 *   tui_events.c  agent events into the screen model
 *   tui_keys.c    keys and slash commands into the screen model and the agent
 *   tui_view.c    layout and drawing of the screen model (curses)
 *   tui_model.c   the screen model: chat and thought logs, notices, counters
 *   tui_input.c   the input line editor and its history (pure)
 *   tui_text.c    UTF-8 width, wrapping, bars, command parsing, the Ctrl+C
 *                 clock (pure)
 * The pure files use no curses and no agent and are unit-tested without a
 * terminal (tests/unit/test_psyche_tui.c); their declarations follow
 * psy_tui_run. */
#ifndef PSY_TUI_H
#define PSY_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <wchar.h>

#include "front.h"
#include "termsafe.h"

/* Runs the UI until the agent reports PSY_EV_QUIT (after /quit, Ctrl+Q,
 * Ctrl+C twice, SIGTERM, or the terminal going away). where: lines saying
 * where memories, logs and config live, shown under /status (borrowed for
 * the call). Restores the terminal before it returns. Returns the process
 * exit code: 0, or 1 when the terminal could not be set up. The caller
 * still frees the agent. */
int psy_tui_run(const psy_front *f, const char *where);

/* ====================================================================
 * Internal: shared by tui*.c and the unit test. Not for other modules.
 * ==================================================================== */

/* ---- text (tui_text.c). Needs a UTF-8 LC_CTYPE for wide characters. */

/* Decodes one character at s (n > 0 bytes available). Invalid or truncated
 * sequences decode as U+FFFD and consume one byte. Returns bytes consumed. */
size_t psy_tui_utf8_next(const char *s, size_t n, wchar_t *out);
/* Encodes c as UTF-8 into out (4 bytes room); returns the bytes written. */
size_t psy_tui_utf8_put(wchar_t c, char *out);
/* Display cells of one character: 0 (combining), 1 or 2. Characters the
 * terminal cannot show count 1 (they are drawn as U+FFFD). */
int psy_tui_char_width(wchar_t c);
/* Display cells of s[0..n). */
int psy_tui_width(const char *s, size_t n);
/* The longest prefix of s[0..n) that fits in width cells; its cells in *used
 * (may be NULL). Returns its length in bytes (never splits a character). */
size_t psy_tui_fit(const char *s, size_t n, int width, int *used);
/* Text made safe to draw (caller frees; NULL when out of memory): escape
 * sequences and control characters are removed (common/termsafe.h), invalid
 * UTF-8 and characters the terminal cannot show become U+FFFD, tabs 4
 * spaces; '\n' stays. */
char *psy_tui_sanitize(const char *s, size_t n);

/* One display line of wrapped text: s[off .. off+len), width cells. */
typedef struct psy_tui_line {
    size_t off, len;
    int width;
} psy_tui_line;
/* Wraps s[0..n) to lines of at most width cells (width >= 1): '\n' breaks a
 * line; otherwise lines break after the last space that fits (the spaces at
 * a break are dropped), and a word wider than the line is split between
 * characters. A wide character never straddles the edge. Empty text is one
 * empty line. Stores the first cap lines in out (out may be NULL when cap is
 * 0) and returns how many there are in all. */
size_t psy_tui_wrap(const char *s, size_t n, int width, psy_tui_line *out, size_t cap);

/* A bar for v in [-1, 1] (clamped) centred on 0, width cells (>= 3) as
 * ASCII into out (width+1 bytes): '|' the centre cell, '-' cells filled
 * left of it for negative values, '+' cells filled right of it for
 * positive ones, '.' empty. Each side has (width-1)/2 cells; filled cells
 * are |v| times that, rounded. Returns the signed number of filled cells. */
int psy_tui_bar(double v, int width, char *out);

/* Slash commands. */
typedef enum {
    PSY_CMD_NONE,     /* not a command: a message for the agent */
    PSY_CMD_HELP,     /* /help /h /? */
    PSY_CMD_STATUS,   /* /status /s */
    PSY_CMD_CLEAR,    /* /clear /c */
    PSY_CMD_EMOTION,  /* /emotion /e */
    PSY_CMD_THOUGHTS, /* /thoughts /t [on|off|toggle] */
    PSY_CMD_THINKING, /* /thinking /r [on|off|toggle]: the agent's reasoning mode */
    PSY_CMD_REASON,   /* /reason [on|off|toggle]: show reasoning in the thought panel */
    PSY_CMD_CLS,      /* /cls: clear the screen, keep the conversation */
    PSY_CMD_MEMORY,   /* /memory /m <query> */
    PSY_CMD_QUIT,     /* /quit /q /exit */
    PSY_CMD_UNKNOWN,  /* starts with '/' but is none of the above */
} psy_tui_cmd_kind;

typedef struct psy_tui_cmd {
    psy_tui_cmd_kind kind;
    int onoff;        /* THOUGHTS/THINKING/REASON: 1 on, 0 off, -1 toggle (no argument or "toggle") */
    bool bad_arg;     /* an argument the command does not take */
    const char *arg;  /* into the line: what follows the command, spaces skipped ("" if none) */
    const char *text; /* NONE: the message ("//x" sends "/x") */
} psy_tui_cmd;

/* Parses one input line (leading spaces skipped). Returns out->kind. */
psy_tui_cmd_kind psy_tui_parse_command(const char *line, psy_tui_cmd *out);
/* The line to hand to psy_agent_command for STATUS, CLEAR, EMOTION,
 * THINKING and MEMORY, in canonical form ("/thinking on", "/memory q");
 * NULL for the others. Caller frees. */
char *psy_tui_agent_line(const psy_tui_cmd *c);
/* Tab completion: the one command name that starts with prefix (which
 * starts with '/'), or NULL when none or several do. */
const char *psy_tui_complete(const char *prefix);
/* Every command name that starts with prefix, in alphabetical order: the
 * first cap of them in out; returns how many there are (a complete name
 * matches only itself). */
size_t psy_tui_complete_all(const char *prefix, const char **out, size_t cap);
/* Length of the prefix names[0..n) share (case-insensitive); 0 when n is 0. */
size_t psy_tui_common_prefix(const char *const *names, size_t n);

/* The random-weight test model (make test-models): while it is loaded the
 * TUI shows a header saying so. model: a path or a file name. */
#define PSY_TUI_TEST_MODEL "tiny-chat.gguf"
bool psy_tui_is_test_model(const char *model);

/* Ctrl+C: twice within PSY_TUI_CTRLC_WINDOW seconds quits. */
#define PSY_TUI_CTRLC_WINDOW 1.5
typedef enum {
    PSY_CTRLC_HINT,   /* first press, nothing running: show "again to quit" */
    PSY_CTRLC_CANCEL, /* first press while a turn runs: cancel it (and hint) */
    PSY_CTRLC_QUIT,   /* second press within the window */
} psy_tui_ctrlc_action;
typedef struct psy_tui_ctrlc {
    double last; /* time of the last first press; < 0 when none */
} psy_tui_ctrlc;
void psy_tui_ctrlc_init(psy_tui_ctrlc *c);
/* A press at time now (seconds, any monotonic clock); busy: a turn runs. */
psy_tui_ctrlc_action psy_tui_ctrlc_press(psy_tui_ctrlc *c, double now, bool busy);
/* Whether the "press again" hint is still current at now. */
bool psy_tui_ctrlc_pending(const psy_tui_ctrlc *c, double now);

/* ---- input line (tui_input.c). Wide characters; history in UTF-8. */

#define PSY_TUI_HISTORY_MAX 500
typedef struct psy_tui_input {
    wchar_t *text; /* text[0..len), not terminated */
    size_t len, cap;
    size_t cur;  /* cursor: 0..len */
    char **hist; /* oldest first */
    size_t nhist;
    size_t hpos;    /* nhist while editing a new line */
    wchar_t *draft; /* the new line, kept while browsing history */
    size_t draft_len;
} psy_tui_input;

void psy_tui_input_init(psy_tui_input *in);
void psy_tui_input_free(psy_tui_input *in);
/* Editing; each returns whether anything changed. Insert takes printable
 * characters only (control characters are refused); a line break goes in
 * with psy_tui_input_newline (Ctrl+J, pastes). insert_utf8 keeps line
 * breaks, turns tabs into spaces and drops other control characters. */
bool psy_tui_input_insert(psy_tui_input *in, wchar_t c);
bool psy_tui_input_newline(psy_tui_input *in);
bool psy_tui_input_insert_utf8(psy_tui_input *in, const char *s);
bool psy_tui_input_left(psy_tui_input *in);
bool psy_tui_input_right(psy_tui_input *in);
bool psy_tui_input_home(psy_tui_input *in); /* Ctrl+A */
bool psy_tui_input_end(psy_tui_input *in);  /* Ctrl+E */
bool psy_tui_input_backspace(psy_tui_input *in);
bool psy_tui_input_delete(psy_tui_input *in);
bool psy_tui_input_kill_start(psy_tui_input *in); /* Ctrl+U: delete before the cursor */
bool psy_tui_input_kill_end(psy_tui_input *in);   /* Ctrl+K: delete from the cursor */
bool psy_tui_input_kill_word(psy_tui_input *in);  /* Ctrl+W: the word before the cursor */
bool psy_tui_input_word_left(psy_tui_input *in);
bool psy_tui_input_word_right(psy_tui_input *in);
void psy_tui_input_clear(psy_tui_input *in);
/* History: up shows older lines, down newer ones and finally the draft. */
bool psy_tui_input_hist_prev(psy_tui_input *in);
bool psy_tui_input_hist_next(psy_tui_input *in);
/* Adds a line to the history (not empty, not a repeat of the newest). */
void psy_tui_input_hist_add(psy_tui_input *in, const char *line);
/* The line as UTF-8 (caller frees). */
char *psy_tui_input_utf8(const psy_tui_input *in);
/* Takes the line: returns it (caller frees), adds it to the history, and
 * clears the editor. */
char *psy_tui_input_take(psy_tui_input *in);
/* Horizontal scrolling for a field width cells wide: the first character
 * to show so the cursor stays visible, given the previous first character
 * (kept stable while the cursor moves inside the field). The cursor's
 * column relative to the field in *col. */
size_t psy_tui_input_scroll(const psy_tui_input *in, int width, size_t prev_first, int *col);

/* ---- screen model (tui_model.c): tui_events.c and tui_keys.c change it,
 * tui_view.c draws it. Only the main thread touches it. */

typedef enum {
    /* the chat */
    PSY_TUI_USER,   /* a message the user sent */
    PSY_TUI_ANSWER, /* the assistant's text (streams while live) */
    PSY_TUI_TOOL,   /* a tool's readable line (running while live) */
    PSY_TUI_MEMORY, /* "recalled 3 memories" during a turn */
    PSY_TUI_INFO,   /* command output, notices */
    PSY_TUI_ERROR,  /* "[Error: ...]" */
    PSY_TUI_CHILD,  /* a child died / restarted */
    /* the thought panel */
    PSY_TUI_REFLECTION, /* an idle thought */
    PSY_TUI_DREAM,
    PSY_TUI_REASONING,
    PSY_TUI_EVENT, /* one line: memory, consolidation, idle tools */
} psy_tui_kind;

typedef struct psy_tui_entry {
    psy_tui_kind kind;
    char *text; /* sanitized UTF-8 (psy_tui_sanitize), never NULL */
    size_t len, cap;
    char label[64]; /* thought panel: "dream - exploration"; tools: the tool name */
    char clock[8];  /* "14:02" when it arrived */
    unsigned turn;  /* the user turn it belongs to (0: none): one label per turn */
    bool live;      /* streaming text, running tool */
    bool ok;        /* a tool that succeeded */
    bool cut;       /* an answer that was interrupted */
    /* the view's cache of its line count */
    int cache_width, cache_flags;
    size_t cache_len, cache_lines;
} psy_tui_entry;

typedef struct psy_tui_log {
    psy_tui_entry *v;
    size_t n, cap;
    size_t max; /* the oldest entries are dropped beyond this */
} psy_tui_log;

typedef struct psy_tui {
    const psy_front *front; /* the agent, local or remote (borrowed) */
    const char *where;      /* borrowed: where memories, logs and config live (/status) */
    psy_tui_log chat, thoughts;
    psy_tui_input input;
    size_t input_first; /* the input line's horizontal scroll */
    int chat_scroll;    /* lines between the view's bottom and the chat's end */
    int thought_scroll;
    int chat_rows, thought_rows; /* set by the view: page sizes */
    size_t chat_total;           /* set by the view: the chat's lines in all */
    bool show_thoughts;
    bool show_reasoning;      /* /reason: reasoning entries in the thought panel */
    bool repaint;             /* Ctrl+L: the view repaints everything on its next draw */
    bool status_asked;        /* /status sent: the answer gets the `where` lines */
    char child_cause[2][160]; /* elpis, mnemosyne: why the last start failed ("" once up) */
    unsigned submitted;       /* messages sent to the agent */
    unsigned answered;        /* ANSWER events seen: turn answered+1 is the one running */
    long live;                /* chat index of the streaming answer, or -1 */
    bool streamed;            /* the running turn streamed some text */
    cJSON *status;            /* the newest psy_agent_status() */
    cJSON *emotion;           /* the emotion the sidebar shows */
    cJSON *emotion_next;      /* a newer one, shown at most a second after the last */
    double emotion_at;        /* when the shown one was taken */
    double busy_since;        /* when the running turn began */
    bool quitting;            /* psy_agent_quit was called */
    bool stdin_gone;          /* the terminal went away */
    double gone_at;
    bool pasting; /* inside a bracketed paste: Enter is a line break */
    psy_tui_ctrlc ctrlc;
    char notice[200]; /* a one-off line in the status bar */
    double notice_until;
    int unseen;       /* thoughts that arrived while the panel was hidden */
    term_safe stream; /* the streamed answer's cleaning state: holds a split sequence or character */
} psy_tui;

/* tui_model.c */
void psy_tui_model_init(psy_tui *t, const psy_front *f, const char *where);
void psy_tui_model_free(psy_tui *t);
double psy_tui_now(void);                        /* CLOCK_MONOTONIC seconds */
bool psy_tui_busy(const psy_tui *t);             /* a turn is running */
unsigned psy_tui_running_turn(const psy_tui *t); /* its number, 0 when none */
const char *psy_tui_state(const psy_tui *t);     /* the agent's state word */
void psy_tui_chat_add(psy_tui *t, psy_tui_kind kind, const char *text, unsigned turn);
/* Empties the chat view (the agent's conversation is not touched). */
void psy_tui_chat_clear(psy_tui *t);
/* A thought panel entry with its label; NULL when out of memory. */
psy_tui_entry *psy_tui_thought_add(psy_tui *t, psy_tui_kind kind, const char *label, const char *text);
/* Appends (sanitized) text to an entry; replaces its text; trims trailing
 * blank lines and spaces. */
void psy_tui_entry_append(psy_tui_entry *e, const char *text, size_t n);
void psy_tui_entry_set_text(psy_tui_entry *e, const char *text);
void psy_tui_entry_trim(psy_tui_entry *e);
/* Shows the newer emotion (emotion_next) from now on. */
void psy_tui_take_emotion(psy_tui *t, double now);
/* A line in the status bar for secs seconds. */
void psy_tui_notice(psy_tui *t, double secs, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* tui_events.c: one agent event into the model; false on PSY_EV_QUIT. */
bool psy_tui_on_event(psy_tui *t, const psy_event *ev);

/* tui_keys.c: type and ch as get_wch returned them (OK or KEY_CODE_YES). */
/* bracketed paste (ESC[200~ .. ESC[201~): key codes above curses' KEY_MAX (0777) */
#define PSY_TUI_KEY_PASTE_START 0x401
#define PSY_TUI_KEY_PASTE_END 0x402
void psy_tui_keys_init(void); /* after the terminal is set up */
void psy_tui_on_key(psy_tui *t, int type, wint_t ch);
/* /quit, Ctrl+Q: the agent's shutdown path; a second call stops at once. */
void psy_tui_quit(psy_tui *t);

/* tui_view.c: 0, or -1 when the terminal cannot be set up. */
int psy_tui_view_open(void);
void psy_tui_view_close(void);
/* After a terminal size change (SIGWINCH): takes the size from the tty. */
void psy_tui_view_resize(void);
/* Draws the whole screen (curses sends only what changed; everything when
 * t->repaint is set, which it clears). */
void psy_tui_view_draw(psy_tui *t, double now);

#endif
