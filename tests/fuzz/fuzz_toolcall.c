/* fuzz_toolcall.c - libFuzzer target: psyche's tool-call parser
 * (psyche/toolcall.c, linked as it is). A found call has a name, an object
 * of arguments and a span inside the text; the streaming check agrees with
 * the text's length. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../psyche/toolcall.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    psy_toolcall tc;
    char err[512];
    int rc = psy_toolcall_parse(t, size, &tc, err, sizeof err);
    if (rc == 1) {
        if (!tc.name || !cJSON_IsObject(tc.arguments) || tc.start > tc.end || tc.end > size) abort();
    } else if (rc != 0 && rc != -EBADMSG && rc != -ENOMEM) {
        abort();
    }
    psy_toolcall_clear(&tc);
    size_t end = 0;
    if (psy_toolcall_stream_done(t, size, &end) && end > size) abort();
    return 0;
}
