/* mcp_client.h - the client side of MCP over a child's stdio.
 *
 * Spawns the server as a child (proc.h), performs the handshake, and makes
 * calls that wait for their answer with a timeout while delivering progress
 * notifications to a callback. Calls are synchronous for their thread; a
 * cancel flag that another thread may set ends a call within ~20 ms and sends
 * notifications/cancelled to the server.
 *
 * Threads: several threads may call mcp_client_call/_request on one client at
 * once (psyche serve's chat runners share elpis). Each call has its own id
 * and progress token; whichever waiting thread finds no reader active reads
 * the child's output for everyone and dispatches every answer and progress
 * notification to its call. A progress callback may therefore run on another
 * caller's thread, but only while its own caller is blocked in the call, and
 * never concurrently with any other progress callback of this client (they
 * run under the client's lock: keep them short and never call back into the
 * client from one). When the child exits, every pending call fails with
 * -EPIPE. spawn, initialize and close are not concurrent with anything.
 *
 * Ownership: mcp_client_call* return results the caller frees (cJSON_Delete).
 * Errors: 0 on success; MCP_CLIENT_TOOL_ERROR (> 0) when the tool answered
 * isError (its result is still returned); negative errno otherwise:
 * -ETIMEDOUT, -ECANCELED, -EPIPE (the child died or closed its output),
 * -EPROTO (a JSON-RPC error; err holds its message). */
#ifndef PSY_MCP_CLIENT_H
#define PSY_MCP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#define MCP_CLIENT_TOOL_ERROR 1

typedef struct mcp_client mcp_client;

typedef void (*mcp_progress_cb)(void *ud, double progress, const char *message);

/* Spawns argv with stderr appended to stderr_log (may be NULL). */
int mcp_client_spawn(mcp_client **out, char *const argv[], const char *stderr_log, char *err, size_t errlen);
/* initialize + notifications/initialized. */
int mcp_client_initialize(mcp_client *c, const char *client_name, int timeout_ms, char *err, size_t errlen);
/* Raw request; *result gets the JSON-RPC result (caller frees). */
int mcp_client_request(mcp_client *c, const char *method, cJSON *params /* owned */, int timeout_ms, cJSON **result,
                       char *err, size_t errlen);
/* tools/call; *result gets structuredContent (or the parsed text content).
 * progress may be NULL; cancel may be NULL or a flag set from any thread. */
int mcp_client_call(mcp_client *c, const char *tool, cJSON *args /* owned */, int timeout_ms, mcp_progress_cb progress,
                    void *ud, const int *cancel, cJSON **result, char *err, size_t errlen);
bool mcp_client_alive(mcp_client *c);
pid_t mcp_client_pid(const mcp_client *c);
const char *mcp_client_server_name(const mcp_client *c);
/* Stops the child (EOF, then SIGTERM, then SIGKILL) and frees the client.
 * Returns the child's wait status. */
int mcp_client_close(mcp_client *c, int grace_ms);
/* Wait status of a child that died (valid once mcp_client_alive is false). */
int mcp_client_exit_status(const mcp_client *c);

#endif
