/* http_remote.h - Hermes: `psyche --connect URL`, psyche against a
 * `psyche serve` over its OpenAI-compatible API, with the file and shell
 * tools run locally in the client's workspace. This is the client (one
 * conversation, its tool round trips) and the line front-ends (-p, --repl);
 * front_remote.h puts the full-screen TUI on top of it. */
#ifndef PSY_HTTP_REMOTE_H
#define PSY_HTTP_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

typedef struct psy_remote_opts {
    const char *url, *key_file, *message, *workspace; /* borrowed from argv */
    bool repl, no_sandbox;
} psy_remote_opts;

/* How one turn ended (borrowed for the call). */
typedef struct psy_remote_result {
    int rc;             /* 0, -ECANCELED, or another -errno */
    const char *answer; /* the text received (all of it, or what came before a failure) */
    const char *finish; /* finish_reason: "stop", "length", ... ("" if none) */
    const char *err;    /* why it failed ("" on success) */
    bool shown;         /* some text was handed to sink.text */
} psy_remote_result;

/* The token counts the server reported for one request (its `usage`,
 * asked for with stream_options.include_usage). */
typedef struct psy_remote_tokens {
    long prompt_tokens;     /* the whole conversation as the server's model read it */
    long completion_tokens; /* the answer (or tool calls) it generated */
    long cached_tokens;     /* prompt_tokens_details.cached_tokens; -1 when not reported */
} psy_remote_tokens;

/* What a turn produces, called on the thread running psy_remote_turn.
 * Every member may be NULL. */
typedef struct psy_remote_sink {
    void (*text)(void *ud, const char *delta); /* a piece of the answer, raw (untrusted) */
    /* a local tool call: result NULL before it runs, its JSON result after */
    void (*tool)(void *ud, const char *name, const char *args, const char *result);
    void (*notice)(void *ud, const char *msg); /* a retry with backoff */
    /* one request of the turn was answered, before its tool calls run; u is
     * NULL when the server sent no usage */
    void (*step)(void *ud, const psy_remote_tokens *u);
    void (*done)(void *ud, const psy_remote_result *res); /* once per turn, last */
    void *ud;
} psy_remote_sink;

typedef struct psy_remote psy_remote;

/* True when argv asks for a remote session (has --connect). */
bool psy_remote_wanted(int argc, char **argv);
/* Fills o from argv (pointers into argv). 0, 1 for --help, or -EINVAL
 * after printing what was wrong. */
int psy_remote_parse(int argc, char **argv, psy_remote_opts *o);
void psy_remote_usage(FILE *f);

/* The client: loads the key, opens the local tools (sandboxed unless
 * no_sandbox) and an empty conversation. curl_global_init must have run.
 * 0, or -errno with why in err. Free with psy_remote_free. */
int psy_remote_open(const psy_remote_opts *o, const psy_remote_sink *sink, psy_remote **out, char *err, size_t errlen);
void psy_remote_free(psy_remote *r);
/* How long the start-up health check of -p, --repl and the TUI waits for
 * an answer (the TUI's later polls wait less: front_remote.c). */
#define PSY_REMOTE_WAIT_MS 15000

/* GET /health, waiting at most timeout_ms: 0 when 200 (*health the body,
 * caller frees; health may be NULL), -EHOSTUNREACH (no answer, or none in
 * time) or -EAGAIN (not ready) with why in err, -ECANCELED after
 * psy_remote_stop. */
int psy_remote_health(psy_remote *r, int timeout_ms, cJSON **health, char *err, size_t errlen);
/* GET url+path, waiting at most timeout_ms: 0 with *out the JSON body (or
 * NULL) and *status, or -EHOSTUNREACH with why in err (no answer, or none
 * in time), -ECANCELED after psy_remote_stop, or -ENOMEM. */
int psy_remote_get(psy_remote *r, const char *path, int timeout_ms, cJSON **out, long *status, char *err,
                   size_t errlen);
/* POST body (JSON text) to url+path, waiting at most timeout_ms; as
 * psy_remote_get otherwise. */
int psy_remote_post(psy_remote *r, const char *path, const char *body, int timeout_ms, cJSON **out, long *status,
                    char *err, size_t errlen);
/* One user message, blocking until the model answers without tool calls
 * (the calls run locally in between); retries with backoff while nothing
 * was shown. Reports to the sink. 0, -ECANCELED or another -errno.
 *
 * Turns are numbered in the order they run. A front-end that queues
 * messages for another thread calls psy_remote_queued(r, true) before
 * handing each over (false if the hand-over failed), so that a cancel
 * between the hand-over and the start of its turn cancels that turn
 * before it sends anything; a turn nobody announced (-p, --repl)
 * announces itself when it starts. */
int psy_remote_turn(psy_remote *r, const char *text);
/* A message is (true) or is not after all (false) on its way to a later
 * psy_remote_turn. One thread announces (the one that queues messages). */
void psy_remote_queued(psy_remote *r, bool queued);
/* Cancels every turn announced so far: the running one closes its request
 * or kills its tool, a queued one ends as cancelled without a request (any
 * thread). */
void psy_remote_cancel(psy_remote *r);
/* For quitting: cancels as psy_remote_cancel and every turn after, and
 * ends a running GET too (any thread; async-signal-safe). */
void psy_remote_stop(psy_remote *r);
/* Forgets the conversation and starts a new one (new conversation id). */
void psy_remote_clear(psy_remote *r);

/* -p or --repl against the server. Returns the process exit status:
 * 0 done, 1 a turn failed, 2 usage error, 69 the server is unreachable or
 * not ready, 130 cancelled with Ctrl+C (-p). */
int psy_remote_lines(const psy_remote_opts *o);

#endif
