/* crash.c - backtraces on fatal signals, a flag on termination signals. */
#include "crash.h"

#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *prog_name = "psyche";
static void (*stop_cb)(void *);
static void *stop_ud;
static volatile sig_atomic_t stop_sig;

static void write_str(int fd, const char *s)
{
    ssize_t w = write(fd, s, strlen(s));
    (void)w;
}

static void fatal_handler(int sig)
{
    char line[160];
    /* snprintf is not async-signal-safe in theory; glibc's is in practice for %s/%d. */
    snprintf(line, sizeof line, "%s: fatal signal %d (%s); backtrace follows\n", prog_name, sig, strsignal(sig));
    void *frames[64];
    int n = backtrace(frames, 64);
    int fds[2] = {2, log_fd()};
    for (int i = 0; i < 2; i++) {
        if (i == 1 && fds[1] == 2) break;
        write_str(fds[i], line);
        backtrace_symbols_fd(frames, n, fds[i]);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void stop_handler(int sig)
{
    if (stop_sig) {
        /* A second request while shutting down: go now. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    stop_sig = sig;
    if (stop_cb) stop_cb(stop_ud);
}

int crash_install(const char *program, void (*on_stop)(void *), void *ud)
{
    prog_name = program;
    stop_cb = on_stop;
    stop_ud = ud;
    /* Load libgcc's unwinder now: backtrace() may allocate on first use. */
    void *dummy[1];
    backtrace(dummy, 1);

    static char altstack[64 * 1024];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fatal_handler;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    int fatal[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) sigaction(fatal[i], &sa, NULL);

    sa.sa_handler = stop_handler;
    sa.sa_flags = 0;
    int stops[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) sigaction(stops[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int crash_stop_signal(void) { return stop_sig; }
bool crash_stop_requested(void) { return stop_sig != 0; }
