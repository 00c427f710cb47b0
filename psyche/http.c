/* http.c - the libmicrohttpd listener of `psyche serve` and psy_chan, the
 * channel through which the worker hands a connection its response (see
 * http.h). Runs on libmicrohttpd's threads only; it never talks to the
 * children. */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "buf.h"
#include "log.h"
#include "openai.h"
#include "util.h"

/* ------------------------------------------------------------ channel */

struct psy_chan {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    buf data;
    size_t read_pos;
    bool closed;
    bool gone;  /* the reader left: writes fail */
    int cancel; /* the work should stop; read by mcp_client_call on the worker thread */
    int status;
};

psy_chan *psy_chan_new(void)
{
    psy_chan *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    pthread_mutex_init(&c->mu, NULL);
    cond_init_monotonic(&c->cv);
    c->refs = 1;
    c->status = 200;
    return c;
}

void psy_chan_ref(psy_chan *c)
{
    pthread_mutex_lock(&c->mu);
    c->refs++;
    pthread_mutex_unlock(&c->mu);
}

void psy_chan_unref(psy_chan *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    int left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (left) return;
    buf_free(&c->data);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int psy_chan_write(psy_chan *c, const char *s, size_t n)
{
    pthread_mutex_lock(&c->mu);
    int rc = c->gone ? -EPIPE : buf_append(&c->data, s, n);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void psy_chan_set_status(psy_chan *c, int status)
{
    pthread_mutex_lock(&c->mu);
    c->status = status;
    pthread_mutex_unlock(&c->mu);
}

void psy_chan_close(psy_chan *c)
{
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void psy_chan_cancel(psy_chan *c)
{
    pthread_mutex_lock(&c->mu);
    c->gone = true;
    __atomic_store_n(&c->cancel, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void psy_chan_interrupt(psy_chan *c)
{
    pthread_mutex_lock(&c->mu);
    __atomic_store_n(&c->cancel, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

const int *psy_chan_cancel_flag(psy_chan *c) { return &c->cancel; }

bool psy_chan_cancelled(psy_chan *c)
{
    pthread_mutex_lock(&c->mu);
    bool gone = c->gone;
    pthread_mutex_unlock(&c->mu);
    return gone;
}

bool psy_chan_wait_closed(psy_chan *c, int ms)
{
    struct timespec ts;
    mono_deadline(&ts, ms);
    pthread_mutex_lock(&c->mu);
    while (!c->closed)
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
    bool closed = c->closed;
    pthread_mutex_unlock(&c->mu);
    return closed;
}

int psy_chan_take(psy_chan *c, int *status, char **body, size_t *len)
{
    pthread_mutex_lock(&c->mu);
    *status = c->status;
    *len = c->data.len;
    *body = c->data.len ? buf_detach(&c->data) : strdup("");
    pthread_mutex_unlock(&c->mu);
    return *body ? 0 : -ENOMEM;
}

/* ------------------------------------------------------------ helpers */

int psy_http_key_match(char *const *keys, size_t n_keys, const char *presented)
{
    int found = -1;
    size_t plen = presented ? strlen(presented) : 0;
    for (size_t k = 0; k < n_keys; k++) {
        size_t klen = strlen(keys[k]);
        unsigned diff = (unsigned)(klen != plen) | (unsigned)(klen == 0);
        /* always walk the whole key; never stop at the first difference */
        for (size_t i = 0; i < klen; i++)
            diff |= (unsigned char)keys[k][i] ^ (unsigned char)(i < plen ? presented[i] : 0);
        if (!diff && found < 0) found = (int)k;
    }
    return found;
}

static bool addr_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_LOOPBACK(a)) return true;
        return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
    }
    return false;
}

/* Resolves host:port to one address (the first getaddrinfo gives). */
static int resolve(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen, char *err,
                   size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    int g = getaddrinfo(host, ports, &hints, &res);
    if (g || !res) {
        snprintf(err, errlen, "cannot resolve the listen address '%s': %s", host, gai_strerror(g));
        return -EINVAL;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *outlen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

bool psy_http_is_loopback(const char *host)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char err[128];
    return resolve(host, 0, &ss, &len, err, sizeof err) == 0 && addr_loopback((struct sockaddr *)&ss);
}

/* ------------------------------------------------------------ listener */

struct psy_http {
    struct MHD_Daemon *d;
    psy_http_cfg cfg;
    int port;
};

/* Per request: the body as it arrives, and what metrics need at the end. */
typedef struct req_ctx {
    buf body;
    double start;
    bool too_big;
    const char *route;
    int status;
} req_ctx;

/* The reader side of an SSE response. */
typedef struct sse_ctx {
    psy_chan *ch;
    int fd; /* the connection's socket, to notice a client that went away */
} sse_ctx;

static bool fd_gone(int fd)
{
    if (fd < 0) return false;
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static int conn_fd(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

bool psy_http_client_gone(const psy_http_req *req) { return fd_gone(conn_fd(req->conn)); }

const char *psy_http_query(const psy_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    sse_ctx *s = cls;
    psy_chan *c = s->ch;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        size_t avail = c->data.len - c->read_pos;
        if (avail) {
            size_t n = avail < max ? avail : max;
            memcpy(out, c->data.data + c->read_pos, n);
            c->read_pos += n;
            if (c->read_pos == c->data.len) { /* keep the buffer small on long streams */
                buf_reset(&c->data);
                c->read_pos = 0;
            }
            pthread_mutex_unlock(&c->mu);
            return (ssize_t)n;
        }
        if (c->closed) {
            pthread_mutex_unlock(&c->mu);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        struct timespec ts;
        mono_deadline(&ts, 200);
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT && fd_gone(s->fd)) {
            pthread_mutex_unlock(&c->mu);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

/* libmicrohttpd drops the response: the client is done or gone. */
static void sse_free(void *cls)
{
    sse_ctx *s = cls;
    psy_chan_cancel(s->ch); /* no-op for a stream that ended normally */
    psy_chan_unref(s->ch);
    free(s);
}

static void add_common_headers(const psy_http *h, struct MHD_Response *r, const char *ctype)
{
    MHD_add_response_header(r, "Content-Type", ctype);
    if (h->cfg.cors_origin && *h->cfg.cors_origin) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", h->cfg.cors_origin);
        MHD_add_response_header(r, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, X-Psyche-Conversation");
        MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    }
}

/* Queues body (malloc'd; freed here or by libmicrohttpd). */
static enum MHD_Result send_body(psy_http *h, struct MHD_Connection *conn, req_ctx *rc, int status, char *body,
                                 const char *ctype)
{
    if (!body) body = strdup("");
    if (!body) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    add_common_headers(h, r, ctype ? ctype : "application/json");
    if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    /* busy or restarting: both pass within seconds; clients (the openai libraries) wait this long */
    if (status == 429 || status == 503) MHD_add_response_header(r, "Retry-After", "1");
    rc->status = status;
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(psy_http *h, struct MHD_Connection *conn, req_ctx *rc, int status, const char *msg,
                                  const char *code)
{
    return send_body(h, conn, rc, status, psy_oai_error_json(status, msg, NULL, code), NULL);
}

static enum MHD_Result send_stream(psy_http *h, struct MHD_Connection *conn, req_ctx *rc, psy_chan *ch)
{
    sse_ctx *s = calloc(1, sizeof *s);
    if (!s) {
        psy_chan_cancel(ch);
        psy_chan_unref(ch);
        return MHD_NO;
    }
    s->ch = ch;
    s->fd = conn_fd(conn);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free);
    if (!r) {
        sse_free(s);
        return MHD_NO;
    }
    add_common_headers(h, r, "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    rc->status = 200;
    enum MHD_Result ok = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* Authorization: Bearer <key>. Returns the key's index, -1 without keys, -2 refused. */
static int check_key(const psy_http *h, struct MHD_Connection *conn)
{
    if (!h->cfg.n_keys) return -1;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7)) return -2;
    const char *key = auth + 7;
    while (*key == ' ') key++;
    int k = psy_http_key_match(h->cfg.keys, h->cfg.n_keys, key);
    return k < 0 ? -2 : k;
}

/* The first call of a request: limits that need no body. */
static enum MHD_Result first_call(psy_http *h, struct MHD_Connection *conn, req_ctx *rc)
{
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > h->cfg.max_body) {
        char msg[160];
        snprintf(msg, sizeof msg, "the request body is over the server's limit of %zu bytes", h->cfg.max_body);
        rc->too_big = true;
        return send_error(h, conn, rc, 413, msg, "request_too_large");
    }
    return MHD_YES;
}

static enum MHD_Result upload(psy_http *h, req_ctx *rc, const char *data, size_t *size)
{
    if (now_mono() - rc->start > h->cfg.body_timeout_s) {
        log_warn("request body not complete after %d s; connection closed", h->cfg.body_timeout_s);
        return MHD_NO;
    }
    if (!rc->too_big && rc->body.len + *size > h->cfg.max_body) {
        rc->too_big = true;
        buf_free(&rc->body);
    }
    if (!rc->too_big && buf_append(&rc->body, data, *size)) return MHD_NO;
    *size = 0;
    return MHD_YES;
}

static enum MHD_Result dispatch(psy_http *h, struct MHD_Connection *conn, const char *url, const char *method,
                                req_ctx *rc)
{
    if (rc->too_big) {
        char msg[160];
        snprintf(msg, sizeof msg, "the request body is over the server's limit of %zu bytes", h->cfg.max_body);
        return send_error(h, conn, rc, 413, msg, "request_too_large");
    }
    if (!strcmp(method, "OPTIONS") && h->cfg.cors_origin && *h->cfg.cors_origin)
        return send_body(h, conn, rc, 204, NULL, "text/plain");
    psy_http_req req = {
        .method = method, .path = url, .body = buf_str(&rc->body), .body_len = rc->body.len, .conn = conn};
    req.conversation = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Psyche-Conversation");
    req.key_index = strcmp(url, "/health") ? check_key(h, conn) : -1;
    if (req.key_index == -2)
        return send_error(h, conn, rc, 401,
                          "missing or wrong API key: send the header 'Authorization: Bearer <key>' with a key "
                          "from the server's --api-key-file",
                          "invalid_api_key");
    psy_http_reply rep = {.status = 500, .route = "other"};
    h->cfg.handler(h->cfg.ud, &req, &rep);
    rc->route = rep.route;
    if (rep.stream) return send_stream(h, conn, rc, rep.stream);
    return send_body(h, conn, rc, rep.status, rep.body, rep.content_type);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *data, size_t *size, void **con_cls)
{
    (void)version;
    psy_http *h = cls;
    req_ctx *rc = *con_cls;
    if (!rc) {
        rc = calloc(1, sizeof *rc);
        if (!rc) return MHD_NO;
        rc->start = now_mono();
        rc->route = "other";
        *con_cls = rc;
        return first_call(h, conn, rc);
    }
    if (*size) return upload(h, rc, data, size);
    return dispatch(h, conn, url, method, rc);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    psy_http *h = cls;
    req_ctx *rc = *con_cls;
    if (!rc) return;
    if (h->cfg.done && rc->status)
        h->cfg.done(h->cfg.ud, rc->route, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? rc->status : 499,
                    now_mono() - rc->start);
    buf_free(&rc->body);
    free(rc);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n') line[--n] = 0;
    log_info("http: %s", line);
}

int psy_http_start(psy_http **out, const psy_http_cfg *cfg, char *err, size_t errlen)
{
    *out = NULL;
    struct sockaddr_storage ss;
    socklen_t sl;
    int rc = resolve(cfg->host, cfg->port, &ss, &sl, err, errlen);
    if (rc) return rc;
    if (!cfg->n_keys && !addr_loopback((struct sockaddr *)&ss)) {
        snprintf(err, errlen,
                 "refusing to listen on %s without API keys: anyone who can reach it could use the companion and "
                 "its memories. Give --api-key-file FILE (one key per line) or listen on 127.0.0.1",
                 cfg->host);
        return -EACCES;
    }
    psy_http *h = calloc(1, sizeof *h);
    if (!h) return -ENOMEM;
    h->cfg = *cfg;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    /* the logger first: libmicrohttpd uses it only for what follows it */
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                            h, MHD_OPTION_SOCK_ADDR, &ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, h, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, errlen, "cannot listen on %s port %d (in use, or not an address of this machine?)", cfg->host,
                 cfg->port);
        free(h);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : cfg->port;
    *out = h;
    return 0;
}

int psy_http_port(const psy_http *h) { return h->port; }

void psy_http_quiesce(psy_http *h)
{
    MHD_socket s = MHD_quiesce_daemon(h->d);
    if (s != MHD_INVALID_SOCKET) close(s);
}

void psy_http_stop(psy_http *h)
{
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}

/* One key per line; blank lines and # comments skipped. *keys is malloc'd. */
int psy_http_load_keys(const char *path, char ***keys, size_t *n, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len;
    *keys = NULL;
    *n = 0;
    int rc = read_file_all(path, 1 << 20, &text, &len);
    if (rc) {
        snprintf(err, errlen, "cannot read the API key file %s: %s", path, strerror(-rc));
        return rc;
    }
    char **k = calloc(PSY_HTTP_MAX_KEYS, sizeof *k);
    if (!k) {
        free(text);
        return -ENOMEM;
    }
    size_t count = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t') line++;
        size_t l = strlen(line);
        while (l && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t')) line[--l] = 0;
        if (!l || *line == '#') continue;
        if (count == PSY_HTTP_MAX_KEYS || l < 16) {
            snprintf(err, errlen,
                     count == PSY_HTTP_MAX_KEYS ? "%s: more than %d keys" : "%s: a key shorter than 16 characters",
                     path, PSY_HTTP_MAX_KEYS);
            rc = -EINVAL;
            break;
        }
        if (!(k[count++] = strdup(line))) rc = -ENOMEM;
    }
    free(text);
    if (!rc && !count) {
        snprintf(err, errlen, "%s holds no API key (one per line, at least 16 characters)", path);
        rc = -EINVAL;
    }
    if (rc) {
        for (size_t i = 0; i < count; i++) free(k[i]);
        free(k);
        return rc;
    }
    *keys = k;
    *n = count;
    return 0;
}
