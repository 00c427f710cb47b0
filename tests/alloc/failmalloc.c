/* failmalloc.c - the failing allocator (see failmalloc.h). Owns the counter
 * and the --wrap entry points; never allocates itself. */
#include "failmalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

static int armed;          /* atomic */
static long counter, fail_at;
static bool persistent_mode;
static int fired;          /* atomic */

/* True when this allocation is to fail. */
static bool should_fail(void)
{
    if (!__atomic_load_n(&armed, __ATOMIC_ACQUIRE)) return false;
    long i = __atomic_fetch_add(&counter, 1, __ATOMIC_ACQ_REL);
    if (i == fail_at || (persistent_mode && i > fail_at)) {
        __atomic_store_n(&fired, 1, __ATOMIC_RELEASE);
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return should_fail() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return should_fail() ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return should_fail() ? NULL : __real_strndup(s, n); }

/* ---- cJSON ----------------------------------------------------------- */

static void *json_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }

/* ---- SQLite: its default allocator behind our counter ---------------- */

static sqlite3_mem_methods sqlite_default;

static void *sql_malloc(int n) { return should_fail() ? NULL : sqlite_default.xMalloc(n); }
static void *sql_realloc(void *p, int n) { return should_fail() ? NULL : sqlite_default.xRealloc(p, n); }

int failmalloc_install(void)
{
    cJSON_Hooks hooks = {json_malloc, free};
    cJSON_InitHooks(&hooks);
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sqlite_default) != SQLITE_OK) return -EINVAL;
    sqlite3_mem_methods m = sqlite_default;
    m.xMalloc = sql_malloc;
    m.xRealloc = sql_realloc;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK) return -EINVAL;
    /* no lookaside: every allocation goes through the counter */
    if (sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0) != SQLITE_OK) return -EINVAL;
    return 0;
}

void failmalloc_arm(long n, bool persistent)
{
    counter = 0;
    fail_at = n;
    persistent_mode = persistent;
    __atomic_store_n(&fired, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&armed, 1, __ATOMIC_RELEASE);
}

long failmalloc_disarm(void)
{
    __atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
    return __atomic_load_n(&counter, __ATOMIC_ACQUIRE);
}

bool failmalloc_fired(void) { return __atomic_load_n(&fired, __ATOMIC_ACQUIRE); }
