/* rpc.c - llama.cpp's RPC backend: [model] rpc_servers puts layers on
 * rpc-server processes on other machines (a model larger than one machine).
 *
 * Each "host:port" is registered with ggml as a backend whose devices
 * llama.cpp then treats like GPUs: the offloaded layers are split among
 * them in proportion to their free memory. We reach the RPC backend through
 * ggml's registry (by name and proc address), so this file builds and links
 * the same with or without RPC; without it, asking for servers is an error
 * that says how to build with RPC. Called before the model loads (engine
 * thread) and by --doctor (main thread), never both in one process. */
#include "rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ggml-backend.h>

#include "budget.h"

typedef ggml_backend_reg_t (*rpc_add_server_fn)(const char *endpoint);

/* Whether a TCP connection to "host:port" opens within 3 s. ggml's RPC client
 * aborts the process when it cannot connect, so we ask first. */
static bool reachable(const char *endpoint)
{
    char host[256];
    const char *colon = strrchr(endpoint, ':');
    if (!colon || colon == endpoint || (size_t)(colon - endpoint) >= sizeof host) return false;
    snprintf(host, sizeof host, "%.*s", (int)(colon - endpoint), endpoint);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &res)) return false;
    bool ok = false;
    for (struct addrinfo *a = res; a && !ok; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            ok = true;
        } else if (errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int err = 0;
            socklen_t len = sizeof err;
            ok = poll(&p, 1, 3000) == 1 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) && !err;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

int elpis_rpc_add(char *const *servers, size_t n, char *err, size_t errlen)
{
    if (!n) return 0;
    ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
    rpc_add_server_fn add =
        rpc ? (rpc_add_server_fn)ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server") : NULL;
    if (!add) {
        snprintf(err, errlen,
                 "[model] rpc_servers is set, but this elpis was built without llama.cpp's RPC backend: rebuild "
                 "with make LLAMA_RPC=1 (or empty rpc_servers)");
        return -ENOTSUP;
    }
    for (size_t i = 0; i < n; i++) {
        ggml_backend_reg_t reg = reachable(servers[i]) ? add(servers[i]) : NULL;
        if (!reg) {
            snprintf(err, errlen,
                     "rpc server %s does not answer (is rpc-server running there, and is the port reachable? "
                     "see [model] rpc_servers)",
                     servers[i]);
            return -EHOSTUNREACH;
        }
        ggml_backend_register(reg);
    }
    return 0;
}

/* The registered device of one server (its description is the endpoint). */
static ggml_backend_dev_t device_of(const char *endpoint)
{
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t d = ggml_backend_dev_get(i);
        if (!strncmp(ggml_backend_dev_name(d), "RPC", 3) && !strcmp(ggml_backend_dev_description(d), endpoint))
            return d;
    }
    return NULL;
}

void elpis_rpc_report(char *const *servers, size_t n, int n_layer, int gpu_layers, FILE *out)
{
    size_t fr[64] = {0}, tot[64] = {0}, sum = 0;
    if (n > 64) n = 64;
    for (size_t i = 0; i < n; i++) {
        ggml_backend_dev_t d = device_of(servers[i]);
        if (d) ggml_backend_dev_memory(d, &fr[i], &tot[i]);
        sum += fr[i];
    }
    int layers = gpu_layers < 0 || gpu_layers > n_layer ? n_layer : gpu_layers;
    fprintf(out, "\n== rpc servers (%zu; %d of %d layers offloaded, split by free memory)\n", n, layers, n_layer);
    for (size_t i = 0; i < n; i++) {
        char f[32], t[32];
        budget_fmt_bytes(fr[i], f, sizeof f);
        budget_fmt_bytes(tot[i], t, sizeof t);
        double share = sum ? (double)fr[i] / (double)sum : 0;
        fprintf(out, "%-24s %s free of %s, about %d layers (%.0f%%)\n", servers[i], f, t, (int)(layers * share + 0.5),
                share * 100);
    }
    fprintf(out,
            "(the link is unencrypted and unauthenticated: use it only on a trusted network; see docs/elpis.md)\n");
}
