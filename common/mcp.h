/* mcp.h - the Model Context Protocol server layer shared by elpis and mnemosyne.
 *
 * JSON-RPC 2.0, one message per line on stdio (see docs/protocol.md). The
 * server reads on the thread that calls mcp_server_run(); tool handlers run on
 * that thread too. A handler either replies before it returns, or keeps the
 * request (mcp_request_ref) and replies later from ANY thread: every write to
 * the output goes through one mutex, so replies and progress notifications
 * from a worker thread never interleave with the protocol thread's.
 *
 * Ownership: the server owns each mcp_request until it is replied to; a
 * handler that wants to reply later takes a reference with mcp_request_ref()
 * and drops it with mcp_request_unref() when done. mcp_reply_* take ownership
 * of the cJSON they are given. Replies to a cancelled request are dropped
 * (the client said it will ignore them).
 *
 * API STABLE: other modules build on this header. */
#ifndef PSY_MCP_H
#define PSY_MCP_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define MCP_PROTOCOL_LATEST "2025-11-25"
#define MCP_MAX_MESSAGE_DEFAULT ((size_t)16 * 1024 * 1024)

/* JSON-RPC error codes */
#define MCP_PARSE_ERROR (-32700)
#define MCP_INVALID_REQUEST (-32600)
#define MCP_METHOD_NOT_FOUND (-32601)
#define MCP_INVALID_PARAMS (-32602)
#define MCP_INTERNAL_ERROR (-32603)
#define MCP_RESOURCE_NOT_FOUND (-32002)

/* A handler returns MCP_ASYNC when it has taken a reference and will reply
 * later (a negative code like every other non-success, never a positive one). */
#define MCP_ASYNC (-EINPROGRESS)

typedef struct mcp_server mcp_server;
typedef struct mcp_request mcp_request;

/* args is never NULL (an absent "arguments" is {}), and has been checked
 * against the tool's input schema: required keys are present and every known
 * key has its declared type (null counts as absent for optional keys).
 * Return 0 after replying, MCP_ASYNC, or a negative errno (the server then
 * replies with an internal error naming it). */
typedef int (*mcp_tool_fn)(mcp_request *req, const cJSON *args, void *userdata);

typedef struct mcp_tool {
    const char *name;
    const char *description;
    const char *input_schema; /* JSON text: {"type":"object","properties":{...},"required":[...]} */
    mcp_tool_fn fn;
} mcp_tool;

/* Returns a malloc'd text (the caller frees) or NULL with *err set to a static message. */
typedef char *(*mcp_resource_fn)(void *userdata, const char **err);

typedef struct mcp_resource {
    const char *uri;
    const char *name;
    const char *description;
    const char *mime_type;
    mcp_resource_fn read;
} mcp_resource;

typedef struct mcp_server_params {
    const char *name;         /* serverInfo.name */
    const char *version;      /* serverInfo.version */
    const char *instructions; /* optional */
    const mcp_tool *tools;
    size_t n_tools;
    const mcp_resource *resources;
    size_t n_resources;
    void *userdata;     /* passed to every callback */
    size_t max_message; /* bytes per line; default MCP_MAX_MESSAGE_DEFAULT */
    int tick_ms;        /* call tick at least this often; 0 = never */
    void (*tick)(void *userdata);
    /* Called on the protocol thread after a request was marked cancelled. */
    void (*on_cancel)(mcp_request *req, void *userdata);
} mcp_server_params;

void mcp_server_default_params(mcp_server_params *p);

/* Returns NULL when a tool's input_schema is not valid JSON (a programming
 * error, logged). */
mcp_server *mcp_server_new(const mcp_server_params *p);

/* Serves until EOF on in_fd (returns 0), mcp_server_stop() (returns 0), or a
 * read error (-errno). */
int mcp_server_run(mcp_server *s, int in_fd, int out_fd);

/* Async-signal-safe: makes mcp_server_run return soon. */
void mcp_server_stop(mcp_server *s);

/* Waits for nothing: call after the workers that hold requests are stopped. */
void mcp_server_free(mcp_server *s);

/* Sends a notification (takes ownership of params, may be NULL). Any thread. */
int mcp_notify(mcp_server *s, const char *method, cJSON *params);

/* --- requests (all thread-safe) --- */
mcp_request *mcp_request_ref(mcp_request *req);
void mcp_request_unref(mcp_request *req);
bool mcp_request_cancelled(const mcp_request *req);
bool mcp_request_wants_progress(const mcp_request *req);
const char *mcp_request_tool(const mcp_request *req); /* tool name, "" for other methods */
long mcp_request_serial(const mcp_request *req);      /* local number for logs */
mcp_server *mcp_request_server(const mcp_request *req);
/* A handler may attach one pointer (e.g. its job); the server never touches it. */
void mcp_request_set_data(mcp_request *req, void *data);
void *mcp_request_get_data(const mcp_request *req);

/* Tool success: content = one text item with the compact JSON, and
 * structuredContent = the same object. Takes ownership of result. */
int mcp_reply_result(mcp_request *req, cJSON *result);
/* Tool failure: isError true with {"error": message}. */
int mcp_reply_tool_error(mcp_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* JSON-RPC error (unknown tool, bad params). */
int mcp_reply_error(mcp_request *req, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Raw JSON-RPC result (for non-tool methods). Takes ownership. */
int mcp_reply_raw(mcp_request *req, cJSON *result);
/* notifications/progress when the request carried _meta.progressToken; else no-op.
 * progress must grow from call to call. message may be NULL. */
int mcp_progress(mcp_request *req, double progress, const char *message);

/* DEPRECATED: jsonschema_validate (jsonschema.h), which this calls. */
int mcp_validate_args(const cJSON *schema, const cJSON *args, char *err, size_t errlen);

/* Negotiated protocol version for a client's requested version. */
const char *mcp_negotiate_version(const char *requested);

#endif
