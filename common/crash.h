/* crash.h - process-level signal policy shared by the three programs.
 *
 * Fatal signals (SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL) write
 * "fatal signal N (NAME)" and a backtrace to stderr and to the log file, then
 * the process dies by the same signal, so a supervisor sees which one.
 * SIGTERM/SIGINT/SIGHUP only set a flag and call the stop callback (which must
 * be async-signal-safe, e.g. mcp_server_stop); the program then shuts down
 * cleanly and exits 0. SIGPIPE is ignored: a dead peer shows up as EPIPE. */
#ifndef PSY_CRASH_H
#define PSY_CRASH_H

#include <stdbool.h>

int crash_install(const char *program, void (*on_stop)(void *), void *ud);
/* The signal that asked us to stop, or 0. */
int crash_stop_signal(void);
bool crash_stop_requested(void);

#endif
