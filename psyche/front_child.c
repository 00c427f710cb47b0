/* front_child.c - the cause of a child's failed start (see front_child.h). */
#include "front_child.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MARK "cannot start: "

int psy_front_child_cause(const cJSON *data, char **out, bool *no_model)
{
    const char *tail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "log_tail"));
    const char *detail = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "detail"));
    const char *cause = NULL;
    for (const char *p = tail ? strstr(tail, MARK) : NULL; p; p = strstr(p + 1, MARK)) cause = p + strlen(MARK);
    size_t n;
    if (cause) n = strcspn(cause, "\n");
    else cause = detail && *detail ? detail : "unknown cause", n = strlen(cause);
    *out = strndup(cause, n);
    *no_model = *out && (strstr(*out, "no model") || strstr(*out, "model file"));
    return *out ? 0 : -ENOMEM;
}
