/* tui.c - the terminal UI's loop, the top of its layers: it polls the
 * keyboard, the agent's event fd and a resize pipe; hands agent events to
 * tui_events.c and keys to tui_keys.c, which change the screen model
 * (tui_model.c); and redraws (tui_view.c) only after something changed.
 * Layers, each calling only those below it (checked by test_tui.py):
 *   tui.c > tui_events.c, tui_keys.c > tui_view.c > tui_model.c > tui_input.c, tui_text.c
 *
 * Runs on the main thread, the only one that touches curses. It never
 * waits on the agent: every agent call here returns at once, and the answer
 * comes back as events. Timers exist only while something needs one (the
 * elapsed time of a running turn, a notice that expires, the once-a-second
 * emotion refresh); otherwise poll() sleeps until input arrives. */
#include <errno.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <ncursesw/curses.h>

#include "tui.h"

/* --------------------------------------------------------------- resizes */

static int winch_pipe[2] = {-1, -1};

static void on_winch(int sig)
{
    (void)sig;
    int saved = errno;
    if (winch_pipe[1] >= 0) {
        ssize_t r = write(winch_pipe[1], "w", 1); /* full pipe: a wake-up is already pending */
        (void)r;
    }
    errno = saved;
}

static int winch_install(struct sigaction *old)
{
    if (pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK)) return -errno;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_winch;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return sigaction(SIGWINCH, &sa, old) ? -errno : 0;
}

static void winch_remove(const struct sigaction *old)
{
    sigaction(SIGWINCH, old, NULL);
    for (int i = 0; i < 2; i++)
        if (winch_pipe[i] >= 0) close(winch_pipe[i]), winch_pipe[i] = -1;
}

/* ------------------------------------------------------------------ loop */

/* Wide characters need a UTF-8 LC_CTYPE; a bare C/POSIX locale (common
 * under tmux, ssh and service managers) gets C.UTF-8 for LC_CTYPE. */
static void setup_locale(void)
{
    setlocale(LC_ALL, "");
    const char *cs = nl_langinfo(CODESET);
    if (!cs || strcmp(cs, "UTF-8")) {
        if (!setlocale(LC_CTYPE, "C.UTF-8")) setlocale(LC_CTYPE, "en_US.UTF-8");
    }
}

/* Milliseconds until something on screen changes by itself, or -1. */
static int next_timeout(const psy_tui *t, double now)
{
    double due = INFINITY;
    if (psy_tui_busy(t) && !t->quitting) due = t->busy_since + floor(now - t->busy_since) + 1.0; /* elapsed seconds */
    if (t->notice_until > now && t->notice_until < due) due = t->notice_until;
    if (t->emotion_next && t->emotion_at + 1.0 < due) due = t->emotion_at + 1.0;
    if (t->stdin_gone && !t->quitting && t->gone_at + 2.0 < due) due = t->gone_at + 2.0;
    if (due == INFINITY) return -1;
    double ms = ceil((due - now) * 1000);
    return ms < 1 ? 1 : ms > 60000 ? 60000 : (int)ms;
}

/* Reads every key that is waiting. Returns how many. */
static int read_keys(psy_tui *t)
{
    int got = 0;
    for (;;) {
        wint_t ch;
        int type = get_wch(&ch);
        if (type == ERR) break;
        got++;
        if (type == KEY_CODE_YES && ch == KEY_RESIZE) {
            psy_tui_view_resize();
            continue;
        }
        psy_front_typing(t->front);
        psy_tui_on_key(t, type, ch);
    }
    return got;
}

/* The terminal went away: stop reading it, and quit after a moment (a
 * SIGHUP has usually started the shutdown already in main.c, and a second
 * psy_agent_quit would cut it short). */
static void on_keyboard(psy_tui *t, short revents, int *empty_reads, double now)
{
    int got = read_keys(t);
    int avail = 0;
    if (got || ioctl(0, FIONREAD, &avail) || avail) *empty_reads = 0;
    else (*empty_reads)++; /* readable with nothing to read: the end of the input */
    if ((revents & (POLLHUP | POLLERR | POLLNVAL)) || *empty_reads >= 3) {
        t->stdin_gone = true;
        t->gone_at = now;
    }
}

/* One round: draw if needed, wait, handle what came. Returns false after
 * the agent's QUIT event. */
static bool loop_once(psy_tui *t, bool *dirty, int *empty_reads)
{
    double now = psy_tui_now();
    if (t->emotion_next && now - t->emotion_at >= 1.0) {
        psy_tui_take_emotion(t, now);
        *dirty = true;
    }
    if (t->notice_until && now >= t->notice_until) {
        t->notice_until = 0;
        *dirty = true;
    }
    if (*dirty) psy_tui_view_draw(t, now);
    *dirty = false;
    struct pollfd pf[3] = {{.fd = psy_front_fd(t->front), .events = POLLIN},
                           {.fd = winch_pipe[0], .events = POLLIN},
                           {.fd = t->stdin_gone ? -1 : 0, .events = POLLIN}};
    int n = poll(pf, 3, next_timeout(t, now));
    if (n < 0 && errno != EINTR) return false;
    *dirty = true; /* input, or a timer: elapsed time, notices, the emotion */
    if (n <= 0) return true;
    if (pf[1].revents & POLLIN) {
        char drain[64];
        while (read(winch_pipe[0], drain, sizeof drain) > 0) {
        }
        psy_tui_view_resize();
    }
    if (pf[2].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) on_keyboard(t, pf[2].revents, empty_reads, now);
    if (t->stdin_gone && !t->quitting && now - t->gone_at >= 2.0) {
        if (strcmp(psy_tui_state(t), "stopping")) psy_tui_quit(t);
        else t->quitting = true;
    }
    bool running = true;
    psy_event *ev;
    while ((pf[0].revents & POLLIN) && (ev = psy_front_next_event(t->front))) {
        running = psy_tui_on_event(t, ev) && running;
        psy_event_free(ev);
    }
    return running;
}

int psy_tui_run(const psy_front *f, const char *where)
{
    setup_locale();
    if (!isatty(0) || !isatty(1)) {
        fprintf(stderr, "psyche: the terminal UI needs a terminal; use --repl or -p for pipes\n");
        return 1;
    }
    psy_tui t;
    psy_tui_model_init(&t, f, where);
    /* no psy_agent_status() here: the agent reports its status as events from the start */
    t.emotion = psy_front_emotion(f);
    if (psy_tui_view_open() < 0) {
        fprintf(stderr, "psyche: cannot set up the terminal (TERM=%s)\n", getenv("TERM") ? getenv("TERM") : "");
        psy_tui_model_free(&t);
        return 1;
    }
    struct sigaction old_winch;
    winch_install(&old_winch);
    psy_tui_keys_init();
    psy_tui_chat_add(&t, PSY_TUI_INFO,
                     "Psyche: an AI companion with feelings and a long memory. Type a message and press Enter; "
                     "/help lists the commands.",
                     0);
    bool dirty = true;
    int empty_reads = 0;
    while (loop_once(&t, &dirty, &empty_reads)) {
    }
    psy_tui_view_close();
    winch_remove(&old_winch);
    psy_tui_model_free(&t);
    return 0;
}
