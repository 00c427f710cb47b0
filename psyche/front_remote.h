/* front_remote.h - Hermes' full-screen TUI: `psyche --connect URL` without
 * -p or --repl runs the same TUI as the local psyche against a psyche
 * serve (front.h's operations over http_remote.h). */
#ifndef PSY_FRONT_REMOTE_H
#define PSY_FRONT_REMOTE_H

/* The whole `psyche --connect` client: parses argv; -p and --repl go to
 * psy_remote_lines, otherwise the TUI runs after a health check. Returns
 * the process exit status (0, 1 a failure, 2 usage, 69 the server is
 * unreachable or not ready, 130 cancelled -p). */
int psy_front_remote_main(int argc, char **argv);

#endif
