/* model.c - `psyche model pull` and `psyche model list`: argument parsing,
 * Hugging Face resolution (repository listing -> one GGUF file, its size
 * and sha256), the checks after a download (size, sha256, GGUF magic), the
 * move into the cache folder and the config edit. The HTTP side is
 * model_fetch.c, the config edit model_config.c. Runs before, and without,
 * the agent: no child process is started. */
#include "model.h"

#include <cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "front_print.h"
#include "fs.h"
#include "model_config.h"
#include "model_fetch.h"
#include "paths.h"
#include "sha256.h"
#include "util.h"

#define HF_DEFAULT_ENDPOINT "https://huggingface.co"
#define HF_DEFAULT_QUANT "Q4_K_M"
#define HF_API_MAX_BYTES (16u << 20)
#define MODEL_MAX_PARTS 64 /* the most files of one split model */

typedef struct pull_opts {
    const char *url, *hf, *sha256, *config;
    bool no_config;
} pull_opts;

/* What to download: owned strings. */
typedef struct source {
    char *url;
    char *file;                   /* the file name to save as (no folder) */
    int64_t size;                 /* -1: unknown */
    char sha[SHA256_HEX_LEN + 1]; /* "" unknown */
    bool hf;                      /* from --hf: HF_TOKEN, when set, goes with the requests */
} source;

static void source_free(source *s)
{
    free(s->url);
    free(s->file);
}

static void usage(FILE *f)
{
    fputs("usage: psyche model pull URL [--sha256 HEX] [--config FILE] [--no-config]\n"
          "       psyche model pull --hf USER/REPO[:QUANT] [--sha256 HEX] [--config FILE] [--no-config]\n"
          "       psyche model list [--config FILE]\n"
          "\n"
          "pull downloads a GGUF model into $XDG_CACHE_HOME/psyche/models (~/.cache/psyche/models),\n"
          "resuming a cut download, checks its size, sha256 (from Hugging Face or --sha256) and that\n"
          "it is a GGUF file, then sets [model] path in $XDG_CONFIG_HOME/psyche/psyche.toml (or\n"
          "--config FILE; --no-config leaves configs alone). --hf picks the repository's .gguf file\n"
          "whose name contains QUANT (default " HF_DEFAULT_QUANT "), e.g.\n"
          "  psyche model pull --hf Qwen/Qwen2.5-3B-Instruct-GGUF:Q4_K_M\n"
          "$PSYCHE_HF_ENDPOINT replaces https://huggingface.co (a mirror); $HF_TOKEN, when set, is sent\n"
          "with --hf requests (for gated models).\n"
          "list shows the downloaded models, their sizes and which one the config names.\n"
          "Exit status: 0 done; 1 a failed download or check; 2 bad arguments; 3 not found.\n",
          f);
}

static int status_of(int rc) { return rc == -ENOENT ? PSY_EXIT_NO_MODEL : PSY_EXIT_FAILED; }

static void say_error(const char *err)
{
    fputs("psyche model: ", stderr);
    psy_front_put(stderr, err, "\n", false); /* a server's text may hold control characters */
}

/* ------------------------------------------------------------ resolving */

/* The last path component of url, without query or fragment. */
static char *url_file_name(const char *url)
{
    size_t end = strcspn(url, "?#");
    size_t start = end;
    while (start > 0 && url[start - 1] != '/') start--;
    const char *scheme = strstr(url, "://");
    if (start == end || (scheme && url + start <= scheme + 3)) return NULL; /* no path, or only a host */
    return strndup(url + start, end - start);
}

static bool is_hex64(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n])) return false;
    return n == SHA256_HEX_LEN;
}

/* The Hugging Face address: $PSYCHE_HF_ENDPOINT without a final '/'. */
static char *hf_endpoint(void)
{
    const char *e = getenv("PSYCHE_HF_ENDPOINT");
    if (!e || !*e) e = HF_DEFAULT_ENDPOINT;
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/') n--;
    return strndup(e, n);
}

static const char *rfilename(const cJSON *sibling)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(sibling, "rfilename"));
}

static int by_rfilename(const void *a, const void *b)
{
    return strcmp(rfilename(*(const cJSON *const *)a), rfilename(*(const cJSON *const *)b));
}

/* The value of five decimal digits at p (the caller has checked them). */
static int digits5(const char *p)
{
    int v = 0;
    for (int i = 0; i < 5; i++) v = v * 10 + (p[i] - '0');
    return v;
}

/* k of a split part "NAME-0000k-of-0000m.gguf" (then *of = m), else 0. */
static int split_part(const char *name, int *of)
{
    static const char pat[] = "-00000-of-00000.gguf";
    size_t len = strlen(name), n = sizeof pat - 1;
    if (len <= n) return 0;
    const char *t = name + len - n;
    for (size_t i = 0; i < n; i++)
        if (pat[i] == '0' ? !isdigit((unsigned char)t[i]) : tolower((unsigned char)t[i]) != pat[i]) return 0;
    *of = digits5(t + 10);
    return digits5(t + 1);
}

/* Whether picks[0..n) (sorted) are all the parts of one split model, in
 * order: llama.cpp loads the others when given the first. */
static bool one_split_set(const cJSON **picks, int n)
{
    const char *first = rfilename(picks[0]);
    size_t stem = strlen(first) - (sizeof "-00000-of-00000.gguf" - 1);
    for (int i = 0; i < n; i++) {
        const char *name = rfilename(picks[i]);
        int of = 0;
        if (split_part(name, &of) != i + 1 || of != n) return false;
        if (strlen(name) != strlen(first) || strncmp(name, first, stem)) return false;
    }
    return n > 1;
}

/* The siblings of repo whose names end in .gguf and contain quant (any
 * case); projector files (mmproj) only when nothing else matches. Fills
 * picks with the one match, or with every part of one split model (sorted),
 * and returns how many; 0 with err for none or an ambiguous choice. */
static int hf_pick(const cJSON *siblings, const char *repo, const char *quant, const cJSON **picks, char *err,
                   size_t errlen)
{
    const cJSON *s;
    buf names = BUF_INIT, all = BUF_INIT;
    int n = 0;
    for (int pass = 0; pass < 2 && n == 0; pass++) {
        cJSON_ArrayForEach(s, siblings)
        {
            const char *name = rfilename(s);
            size_t len = name ? strlen(name) : 0;
            if (len < 5 || strcasecmp(name + len - 5, ".gguf")) continue;
            if (pass == 0) buf_printf(&all, "%s%s", all.len ? ", " : "", name);
            if (!strcasestr(name, quant) || (pass == 0 && strcasestr(name, "mmproj"))) continue;
            buf_printf(&names, "%s%s", n ? ", " : "", name);
            if (n < MODEL_MAX_PARTS) picks[n] = s;
            n++;
        }
    }
    if (n > 1 && n <= MODEL_MAX_PARTS)
        // NOLINTNEXTLINE(bugprone-sizeof-expression): picks holds pointers
        qsort(picks, (size_t)n, sizeof *picks, by_rfilename);
    bool ok = n == 1 || (n > 1 && n <= MODEL_MAX_PARTS && one_split_set(picks, n));
    if (n == 0 && all.len == 0)
        snprintf(err, errlen,
                 "%s has no .gguf file; pick a repository with GGUF in its name (e.g. "
                 "Qwen/Qwen2.5-3B-Instruct-GGUF)",
                 repo);
    else if (n == 0)
        snprintf(err, errlen, "%s has no .gguf file matching \"%s\"; its files: %s", repo, quant, buf_str(&all));
    else if (!ok)
        snprintf(err, errlen,
                 "%s has several .gguf files matching \"%s\": %s; name one exactly "
                 "(USER/REPO:NAME) or pull it by URL",
                 repo, quant, buf_str(&names));
    buf_free(&names);
    buf_free(&all);
    return ok ? n : 0;
}

/* One file of the listing into src. */
static int hf_source(const cJSON *f, const char *ep, const char *repo, source *src)
{
    const char *name = rfilename(f);
    const cJSON *lfs = cJSON_GetObjectItemCaseSensitive(f, "lfs");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(lfs ? lfs : f, "size");
    const char *sha = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(lfs, "sha256"));
    const char *base = strrchr(name, '/');
    buf u = BUF_INIT;
    buf_printf(&u, "%s/%s/resolve/main/%s", ep, repo, name);
    src->url = buf_detach(&u);
    src->file = strdup(base ? base + 1 : name);
    src->size = cJSON_IsNumber(size) && size->valuedouble >= 0 ? (int64_t)size->valuedouble : -1;
    src->hf = true;
    if (sha && is_hex64(sha)) snprintf(src->sha, sizeof src->sha, "%s", sha);
    return src->url && src->file ? 0 : -ENOMEM;
}

/* Fills srcs[0..*n) from the repository listing text (the API's JSON). */
static int hf_from_listing(const char *json, const char *ep, const char *repo, const char *quant, source *srcs, int *n,
                           char *err, size_t errlen)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *sib = cJSON_GetObjectItemCaseSensitive(root, "siblings");
    if (!cJSON_IsArray(sib)) {
        snprintf(err, errlen,
                 "%s/api/models/%s did not answer a repository listing; is PSYCHE_HF_ENDPOINT "
                 "right?",
                 ep, repo);
        cJSON_Delete(root);
        return -EIO;
    }
    const cJSON *picks[MODEL_MAX_PARTS];
    *n = hf_pick(sib, repo, quant, picks, err, errlen);
    int rc = *n ? 0 : -ENOENT;
    for (int i = 0; i < *n && !rc; i++) rc = hf_source(picks[i], ep, repo, &srcs[i]);
    if (rc == -ENOMEM) snprintf(err, errlen, "out of memory");
    cJSON_Delete(root);
    return rc;
}

/* USER/REPO[:QUANT] with both names non-empty and no other '/'. */
static bool hf_spec_valid(const char *spec)
{
    size_t n = strcspn(spec, ":");
    const char *slash = memchr(spec, '/', n);
    if (!slash || slash == spec) return false;
    size_t rest = n - (size_t)(slash - spec) - 1; /* the length of REPO */
    return rest > 0 && !memchr(slash + 1, '/', rest);
}

/* --hf USER/REPO[:QUANT] (checked by hf_spec_valid): lists the repository
 * and picks the file. */
static int hf_resolve(const char *spec, source *srcs, int *n, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    char *repo = colon ? strndup(spec, (size_t)(colon - spec)) : strdup(spec);
    const char *quant = colon && colon[1] ? colon + 1 : HF_DEFAULT_QUANT;
    char *ep = hf_endpoint(), *json = NULL;
    int rc = 0;
    if (!repo || !ep) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else {
        buf api = BUF_INIT;
        buf_printf(&api, "%s/api/models/%s?blobs=true", ep, repo);
        fprintf(stderr, "psyche: listing %s\n", buf_str(&api));
        rc = psy_fetch_text(buf_str(&api), getenv("HF_TOKEN"), HF_API_MAX_BYTES, &json, err, errlen);
        buf_free(&api);
        if (rc == -ENOENT)
            snprintf(err, errlen,
                     "no repository %s at %s (HTTP 404); check the name (USER/REPO, as in the "
                     "address of its page)",
                     repo, ep);
        if (!rc) rc = hf_from_listing(json, ep, repo, quant, srcs, n, err, errlen);
    }
    free(json);
    free(ep);
    free(repo);
    return rc;
}

/* ------------------------------------------------------------- checking */

/* 0 when path starts with the GGUF magic, else -EINVAL with err. */
static int check_gguf(const char *path, const char *shown, char *err, size_t errlen)
{
    unsigned char m[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(m, 1, sizeof m, f) : 0;
    if (f) (void)fclose(f); /* read-only */
    if (n == 4 && !memcmp(m, "GGUF", 4)) return 0;
    snprintf(err, errlen,
             "%s is not a GGUF model file (it starts with %02x %02x %02x %02x, not \"GGUF\"); "
             "pull a .gguf file (on Hugging Face: a repository with GGUF in its name)",
             shown, m[0], m[1], m[2], m[3]);
    return -EINVAL;
}

/* Size, sha256 (when known) and magic of a file: 0, -EPIPE (short: resume
 * it), -EBADMSG (checksum) or -EINVAL (not a GGUF), with err. */
static int check_file(const char *path, const source *src, int64_t size, char *err, size_t errlen)
{
    char a[32], b[32];
    if (src->size >= 0 && size != src->size) {
        psy_fetch_human_size(size, a, sizeof a);
        psy_fetch_human_size(src->size, b, sizeof b);
        snprintf(err, errlen,
                 "%s is %s (%lld bytes) but should be %s (%lld bytes); run the same command again "
                 "to resume",
                 src->file, a, (long long)size, b, (long long)src->size);
        return -EPIPE;
    }
    int rc = 0;
    if (*src->sha) {
        char got[SHA256_HEX_LEN + 1];
        fprintf(stderr, "psyche: checking the sha256 of %s\n", src->file);
        rc = sha256_file_hex(path, got);
        if (rc) snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
        else if (strcasecmp(got, src->sha)) {
            snprintf(err, errlen,
                     "checksum mismatch: %s has sha256 %s, expected %s; the download was deleted, "
                     "run the command again to download it afresh",
                     src->file, got, src->sha);
            rc = -EBADMSG;
        }
    }
    if (!rc) rc = check_gguf(path, src->file, err, errlen);
    return rc;
}

/* ---------------------------------------------------------------- pull */

/* The user's config file: --config, else <config>/psyche/psyche.toml. */
static char *config_path(const char *given, char *err, size_t errlen)
{
    char *p = NULL;
    if (given) return strdup(given);
    return paths_file(PATHS_CONFIG, "psyche.toml", &p, err, errlen) ? NULL : p;
}

/* <cache>/psyche/models, created. */
static char *models_dir(bool create, char *err, size_t errlen)
{
    char *cache = NULL;
    int rc = create ? paths_dir_create(PATHS_CACHE, &cache, err, errlen) : paths_dir(PATHS_CACHE, &cache, err, errlen);
    if (rc) return NULL;
    buf d = BUF_INIT;
    buf_printf(&d, "%s/models", cache);
    free(cache);
    if (create && (rc = fs_mkdir_p(buf_str(&d), FS_DIR_MODE_PRIVATE))) {
        snprintf(err, errlen, "cannot create %s: %s", buf_str(&d), strerror(-rc));
        buf_free(&d);
        return NULL;
    }
    return buf_detach(&d);
}

/* Downloads src to final (through final.part) unless final is already
 * there and passes the checks. A final file that fails them is replaced
 * only by a download that passes. */
static int download(const source *src, const char *final, char *err, size_t errlen)
{
    struct stat st;
    if (stat(final, &st) == 0 && check_file(final, src, st.st_size, err, errlen) == 0) {
        fprintf(stderr, "psyche: %s is already downloaded\n", final);
        return 0;
    }
    buf part = BUF_INIT;
    buf_printf(&part, "%s.part", final);
    fprintf(stderr, "psyche: downloading %s\n", src->url);
    psy_fetch_req req = {.url = src->url,
                         .part_path = buf_str(&part),
                         .expected_size = src->size,
                         .progress_bar = isatty(STDERR_FILENO),
                         .bearer = src->hf ? getenv("HF_TOKEN") : NULL};
    int64_t size = 0;
    int rc = psy_fetch_file(&req, &size, err, errlen);
    if (!rc) rc = check_file(buf_str(&part), src, size, err, errlen);
    if (rc == -EBADMSG || rc == -EINVAL) unlink(buf_str(&part)); /* resuming it cannot help */
    if (!rc && rename(buf_str(&part), final)) {
        rc = -errno;
        snprintf(err, errlen, "cannot rename %s to %s: %s", buf_str(&part), final, strerror(errno));
    }
    buf_free(&part);
    if (!rc) {
        char *dir = strdup(final), *slash = dir ? strrchr(dir, '/') : NULL;
        int fd = slash ? (*slash = '\0', open(dir, O_RDONLY | O_DIRECTORY)) : -1;
        if (fd >= 0) fsync(fd), close(fd); /* the rename is durable */
        free(dir);
    }
    return rc;
}

/* What to download: the one file of a URL, or the file (or the parts) that
 * --hf picks. 0 or an errno with err. */
static int resolve(const pull_opts *o, source *srcs, int *n, char *err, size_t errlen)
{
    int rc = 0;
    if (o->hf) {
        rc = hf_resolve(o->hf, srcs, n, err, errlen);
    } else {
        *n = 1;
        srcs[0].file = url_file_name(o->url);
        srcs[0].url = strdup(o->url);
        if (!srcs[0].file || !srcs[0].url) {
            snprintf(err, errlen,
                     "%s names no file; give the address of a .gguf file "
                     "(https://huggingface.co/USER/REPO/resolve/main/FILE.gguf)",
                     o->url);
            return -EINVAL;
        }
    }
    for (int i = 0; i < *n && !rc; i++)
        if (!*srcs[i].file || srcs[i].file[0] == '.') { /* "..", ".hidden": not a name to save a model as */
            snprintf(err, errlen, "refusing to save a download as \"%s\"; give the address of a .gguf file",
                     srcs[i].file);
            rc = -EINVAL;
        }
    if (!rc && o->sha256 && *n > 1) {
        snprintf(err, errlen,
                 "--sha256 names one file but this model comes in %d parts (Hugging Face gives "
                 "each part's sha256)",
                 *n);
        rc = -EINVAL;
    }
    if (!rc && o->sha256) snprintf(srcs[0].sha, sizeof srcs[0].sha, "%s", o->sha256);
    if (!rc && *n > 1) fprintf(stderr, "psyche: the model comes in %d parts; downloading them all\n", *n);
    return rc;
}

/* Sets [model] path in the user's config to model. */
static int write_config(const pull_opts *o, const char *model, char *err, size_t errlen)
{
    char *cfg = config_path(o->config, err, errlen);
    int rc = cfg ? psy_model_config_write(cfg, model, err, errlen) : -ENOENT;
    if (!rc) fprintf(stderr, "psyche: [model] path set in %s\n", cfg);
    const char *env = getenv("PSYCHE_CONFIG");
    if (!rc && !o->config && env && *env)
        fprintf(stderr,
                "psyche: note: PSYCHE_CONFIG is set, so psyche reads %s instead (pull again with "
                "--config %s, or unset it)\n",
                env, env);
    free(cfg);
    return rc ? -EIO : 0; /* the model is there; only the config failed */
}

static int pull(const pull_opts *o)
{
    char err[2048] = "";
    source srcs[MODEL_MAX_PARTS];
    memset(srcs, 0, sizeof srcs);
    for (int i = 0; i < MODEL_MAX_PARTS; i++) srcs[i].size = -1;
    int n = 0, rc = resolve(o, srcs, &n, err, sizeof err);
    char *dir = rc ? NULL : models_dir(true, err, sizeof err);
    if (!rc && !dir) rc = -EIO;
    buf first = BUF_INIT; /* the path of the (first) file: what llama.cpp opens */
    for (int i = 0; i < n && !rc; i++) {
        buf final = BUF_INIT;
        buf_printf(&final, "%s/%s", dir, srcs[i].file);
        rc = download(&srcs[i], buf_str(&final), err, sizeof err);
        if (i == 0) buf_puts(&first, buf_str(&final));
        buf_free(&final);
    }
    if (!rc && !o->no_config) rc = write_config(o, buf_str(&first), err, sizeof err);
    if (!rc) printf("%s\n", buf_str(&first));
    if (rc) say_error(err);
    buf_free(&first);
    free(dir);
    for (int i = 0; i < MODEL_MAX_PARTS; i++) source_free(&srcs[i]);
    return rc ? status_of(rc) : PSY_EXIT_OK;
}

/* ---------------------------------------------------------------- list */

/* [model] path of the config file (NULL: none, or no such file). */
static char *configured_model(const char *cfg)
{
    char *text = NULL, *path = NULL, err[512];
    size_t len = 0;
    if (read_file_all(cfg, 1 << 20, &text, &len)) return NULL;
    if (psy_model_config_get_path(text, len, cfg, &path, err, sizeof err)) fprintf(stderr, "psyche model: %s\n", err);
    free(text);
    return path;
}

static int gguf_entry(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return (n > 5 && !strcmp(d->d_name + n - 5, ".gguf")) || (n > 10 && !strcmp(d->d_name + n - 10, ".gguf.part"));
}

static int list(const char *config)
{
    char err[1024];
    char *dir = models_dir(false, err, sizeof err), *cfg = config_path(config, err, sizeof err);
    if (!dir || !cfg) {
        say_error(err);
        free(dir);
        free(cfg);
        return PSY_EXIT_FAILED;
    }
    char *chosen = configured_model(cfg);
    struct dirent **ents = NULL;
    int n = scandir(dir, &ents, gguf_entry, alphasort);
    bool chosen_listed = false;
    for (int i = 0; i < n; i++) {
        buf p = BUF_INIT;
        buf_printf(&p, "%s/%s", dir, ents[i]->d_name);
        struct stat st;
        char size[32] = "?";
        if (stat(buf_str(&p), &st) == 0) psy_fetch_human_size(st.st_size, size, sizeof size);
        bool is_chosen = chosen && !strcmp(chosen, buf_str(&p));
        bool part = strstr(ents[i]->d_name, ".gguf.part") != NULL;
        chosen_listed |= is_chosen;
        printf("%s %-50s %10s%s\n", is_chosen ? "*" : " ", ents[i]->d_name, size,
               part ? "  (partial: the same pull command resumes it)" : "");
        buf_free(&p);
        free(ents[i]);
    }
    free(ents);
    if (n <= 0) printf("No models downloaded yet (" PSY_MODEL_PULL_HINT ").\n");
    printf("Folder: %s\n", dir);
    if (chosen)
        printf("Configured: %s ([model] path in %s)%s\n", chosen, cfg,
               chosen_listed ? "" : ", outside the cache folder");
    else printf("Configured: none ([model] path is not set in %s)\n", cfg);
    free(chosen);
    free(dir);
    free(cfg);
    return PSY_EXIT_OK;
}

/* ----------------------------------------------------------------- main */

/* Parses pull's arguments (argv[0] is "pull"). 0 or PSY_EXIT_USAGE. */
static int parse_pull(int argc, char **argv, pull_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "--hf") && has_value) o->hf = argv[++i];
        else if (!strcmp(a, "--sha256") && has_value) o->sha256 = argv[++i];
        else if (!strcmp(a, "--config") && has_value) o->config = argv[++i];
        else if (!strcmp(a, "--no-config")) o->no_config = true;
        else if (a[0] != '-' && !o->url) o->url = a;
        else {
            fprintf(stderr, "psyche model pull: unexpected argument \"%s\"%s\n", a,
                    a[0] == '-' && !has_value ? " (it needs a value)" : "");
            return PSY_EXIT_USAGE;
        }
    }
    if (!o->url == !o->hf) {
        fprintf(stderr, "psyche model pull: give either a URL or --hf USER/REPO[:QUANT]\n");
        return PSY_EXIT_USAGE;
    }
    if (o->hf && !hf_spec_valid(o->hf)) {
        fprintf(stderr,
                "psyche model pull: --hf wants USER/REPO[:QUANT] (e.g. "
                "Qwen/Qwen2.5-3B-Instruct-GGUF:Q4_K_M), got \"%s\"\n",
                o->hf);
        return PSY_EXIT_USAGE;
    }
    if (o->sha256 && !is_hex64(o->sha256)) {
        fprintf(stderr, "psyche model pull: --sha256 wants 64 hexadecimal digits, got \"%s\"\n", o->sha256);
        return PSY_EXIT_USAGE;
    }
    return 0;
}

int psy_model_main(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : NULL;
    if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage(sub ? stdout : stderr);
        return sub ? PSY_EXIT_OK : PSY_EXIT_USAGE;
    }
    if (!strcmp(sub, "list")) {
        if (argc == 4 && !strcmp(argv[2], "--config")) return list(argv[3]);
        if (argc == 2) return list(NULL);
        fprintf(stderr, "psyche model list: takes only --config FILE\n");
        return PSY_EXIT_USAGE;
    }
    if (strcmp(sub, "pull")) {
        fprintf(stderr, "psyche model: unknown subcommand \"%s\" (pull or list; psyche model --help)\n", sub);
        return PSY_EXIT_USAGE;
    }
    pull_opts o = {0};
    int rc = parse_pull(argc - 1, argv + 1, &o);
    if (rc) return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "psyche model: libcurl could not start\n");
        return PSY_EXIT_FAILED;
    }
    rc = pull(&o);
    curl_global_cleanup();
    return rc;
}
