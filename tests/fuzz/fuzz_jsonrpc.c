/* fuzz_jsonrpc.c - libFuzzer target: JSON-RPC line framing and dispatch.
 * The input is fed as the byte stream of an MCP server's stdin (lines, a
 * line over the size cap, no final newline...); the replies go to
 * /dev/null. Also checks that the strict scanner and cJSON agree: text
 * json_text_check accepts must parse. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "jsontext.h"
#include "log.h"
#include "mcp.h"

#define FUZZ_MAX_MESSAGE 4096 /* a small cap, so the oversize path is reached */

static int tool_echo(mcp_request *req, const cJSON *args, void *ud)
{
    (void)ud;
    cJSON *copy = cJSON_Duplicate(args, 1);
    return copy ? mcp_reply_result(req, copy) : -12;
}

static const mcp_tool tools[] = {
    {"echo", "echo",
     "{\"type\":\"object\",\"required\":[\"s\"],\"properties\":{\"s\":{\"type\":\"string\",\"maxLength\":50},"
     "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":9},\"e\":{\"enum\":[\"a\",1]},"
     "\"m\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"role\"]}}}}",
     tool_echo},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int devnull = -1;
    if (devnull < 0) {
        log_init("fuzz", LOG_OFF, NULL);
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    if (json_text_check((const char *)data, size, NULL, 0) == 0) {
        cJSON *j = cJSON_ParseWithLength((const char *)data, size);
        if (!j) abort(); /* the scanner accepted what cJSON cannot read */
        cJSON_Delete(j);
    }
    int in[2];
    if (size > (1 << 20) || pipe(in)) return 0;
    fcntl(in[1], F_SETPIPE_SZ, 1 << 20);
    if (size && write(in[1], data, size) != (ssize_t)size) abort();
    close(in[1]);
    mcp_server_params p;
    mcp_server_default_params(&p);
    p.tools = tools;
    p.n_tools = 1;
    p.max_message = FUZZ_MAX_MESSAGE;
    mcp_server *s = mcp_server_new(&p);
    if (!s) abort();
    mcp_server_run(s, in[0], devnull);
    mcp_server_free(s);
    close(in[0]);
    return 0;
}
