/* http.h - the HTTP listener of `psyche serve` (libmicrohttpd, one thread per
 * connection) and the channel a worker streams a response through.
 *
 * The listener owns: binding (loopback unless API keys are set), limits
 * (request body size, header memory, body upload time, idle connection
 * timeout, connection count), API-key checks (constant time; keys are never
 * logged), CORS (off unless an origin is configured), OpenAI error objects for
 * what it refuses itself, and SSE framing of a channel. It never talks to the
 * children: handlers run on connection threads and hand work to serve.c's
 * worker, which answers through a psy_chan.
 *
 * A handler may block (each connection has its own thread); it should poll
 * psy_http_client_gone() while it waits so a vanished client cancels work. */
#ifndef PSY_HTTP_H
#define PSY_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* ---- channel: one response produced by the worker, read by a connection */

typedef struct psy_chan psy_chan;

/* A new channel with one reference (the caller's). NULL when out of memory. */
psy_chan *psy_chan_new(void);
void psy_chan_ref(psy_chan *c);
/* Drops a reference; the last one frees the channel. */
void psy_chan_unref(psy_chan *c);
/* Appends bytes for the reader. Returns 0, -EPIPE when the reader is gone
 * (the channel was cancelled), or -ENOMEM. */
int psy_chan_write(psy_chan *c, const char *s, size_t n);
/* The HTTP status of a non-streamed answer (set before psy_chan_close). */
void psy_chan_set_status(psy_chan *c, int status);
/* No more data will come. */
void psy_chan_close(psy_chan *c);
/* The reader is gone: later writes fail, the flag that cancel_flag points
 * at is set, waiters wake. */
void psy_chan_cancel(psy_chan *c);
/* The producer stops its own work (e.g. a stop sequence was found): sets
 * the flag only; the reader still gets what is written. */
void psy_chan_interrupt(psy_chan *c);
/* An int that becomes non-zero on cancel or interrupt (for mcp_client_call). */
const int *psy_chan_cancel_flag(psy_chan *c);
/* True once the reader is gone (psy_chan_cancel). */
bool psy_chan_cancelled(psy_chan *c);
/* Waits up to ms for psy_chan_close; true when closed. */
bool psy_chan_wait_closed(psy_chan *c, int ms);
/* After close: the status and the whole data (caller frees *body). */
int psy_chan_take(psy_chan *c, int *status, char **body, size_t *len);

/* ---- listener */

typedef struct psy_http psy_http;

typedef struct psy_http_req {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* without the query string */
    const char *body;   /* NUL-terminated; body_len bytes */
    size_t body_len;
    int key_index;            /* the API key that matched, or -1 without keys */
    const char *conversation; /* X-Psyche-Conversation header, or NULL */
    void *conn;               /* opaque, for psy_http_client_gone */
} psy_http_req;

typedef struct psy_http_reply {
    int status;
    char *body;               /* malloc'd; the listener frees it */
    const char *content_type; /* static; NULL = application/json */
    psy_chan *stream;         /* set: SSE from this channel (the listener takes this reference) */
    const char *route;        /* static label for metrics ("chat", "models", ...) */
} psy_http_reply;

typedef void (*psy_http_handler)(void *ud, const psy_http_req *req, psy_http_reply *rep);
/* Called once per finished request (metrics): route label, status, seconds. */
typedef void (*psy_http_done)(void *ud, const char *route, int status, double seconds);

typedef struct psy_http_cfg {
    const char *host;   /* numeric address or name; "127.0.0.1" */
    int port;           /* 0 = any free port (see psy_http_port) */
    char *const *keys;  /* API keys (not copied; must outlive the listener) */
    size_t n_keys;      /* 0: no authentication (then only loopback may be bound) */
    size_t max_body;    /* bytes; larger bodies get 413 */
    int body_timeout_s; /* the whole upload must arrive within this (408 / closed) */
    int idle_timeout_s; /* a connection silent this long is closed */
    int max_connections;
    const char *cors_origin; /* NULL or "": no CORS headers */
    psy_http_handler handler;
    psy_http_done done;
    void *ud;
} psy_http_cfg;

/* Resolves and binds. A non-loopback address without keys is refused
 * (-EACCES with the reason in err). Returns 0 or -errno with err set. */
int psy_http_start(psy_http **out, const psy_http_cfg *cfg, char *err, size_t errlen);
int psy_http_port(const psy_http *h);
/* Stops accepting new connections; requests in flight go on. */
void psy_http_quiesce(psy_http *h);
/* Closes every connection and frees the listener. */
void psy_http_stop(psy_http *h);

/* True when the client of a blocking handler has closed its connection. */
bool psy_http_client_gone(const psy_http_req *req);
/* The query-string argument name of a request ("since" of ?since=3),
 * decoded, or NULL when absent. Valid while the handler runs. */
const char *psy_http_query(const psy_http_req *req, const char *name);

/* Pure helpers (unit-tested). */
/* Constant-time search of keys for the presented one (time depends on the
 * keys' lengths only). Returns the index or -1. */
/* Reads an API key file: one key per line (at least 16 characters, at most
 * PSY_HTTP_MAX_KEYS keys); blank lines and # comments skipped. *keys is
 * malloc'd with each key (the caller frees them all). Returns 0, or -errno
 * with a message naming the file in err. Used by psyche serve (all keys) and
 * by psyche --connect (the first key). */
#define PSY_HTTP_MAX_KEYS 256
int psy_http_load_keys(const char *path, char ***keys, size_t *n, char *err, size_t errlen);
int psy_http_key_match(char *const *keys, size_t n_keys, const char *presented);
/* True for 127.0.0.0/8, ::1 and "localhost". */
bool psy_http_is_loopback(const char *host);

#endif
