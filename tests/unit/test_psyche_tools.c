/* test_psyche_tools.c - the workspace tools (psyche/tools*.c), path
 * confinement and the sensitive-path check (psyche/workspace.c), the
 * execute_bash blocklist, timeouts that kill the process group, output caps,
 * and the Landlock sandbox (psyche/sandbox.c; skipped where the kernel lacks
 * it). Every test works in its own mkdtemp workspace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>

#include "log.h"
#include "../../psyche/tools.h"
#include "util.h"
#include "../../psyche/workspace.h"

typedef struct fixture {
    char ws[64];
    psy_tools *t;
    cJSON *last; /* the last wrapper, freed by the next call or teardown */
} fixture;

static void put(const fixture *f, const char *rel, const char *content, size_t n)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", f->ws, rel);
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", p);
    for (char *s = d + strlen(f->ws) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(d, 0755);
        *s = '/';
    }
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, n, fp), n);
    fclose(fp);
}

static void puts_file(const fixture *f, const char *rel, const char *content) { put(f, rel, content, strlen(content)); }

/* File content (static storage), or NULL when missing. */
static const char *slurp(const fixture *f, const char *rel)
{
    static char out[65536];
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", f->ws, rel);
    FILE *fp = fopen(p, "rb");
    if (!fp) return NULL;
    size_t n = fread(out, 1, sizeof out - 1, fp);
    out[n] = 0;
    fclose(fp);
    return out;
}

static void make_tools(fixture *f, void (*tweak)(psy_tools_config *))
{
    psy_tools_config c;
    psy_tools_default_config(&c);
    c.workspace = f->ws;
    c.bash_timeout_s = 5;
    if (tweak) tweak(&c);
    char err[256];
    int rc = psy_tools_new(&c, &f->t, err, sizeof err);
    if (rc) fail_msg("psy_tools_new: %s", err);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->ws, sizeof f->ws, "/tmp/psy-tools-XXXXXX");
    if (!mkdtemp(f->ws)) return -1;
    make_tools(f, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    cJSON_Delete(f->last);
    psy_tools_free(f->t);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->ws);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static void retool(fixture *f, void (*tweak)(psy_tools_config *))
{
    psy_tools_free(f->t);
    make_tools(f, tweak);
}

/* Runs a tool; returns its result object (owned by the fixture). */
static cJSON *call_flags(fixture *f, const char *name, const char *args, unsigned flags, bool *ok)
{
    cJSON_Delete(f->last);
    cJSON *a = args ? cJSON_Parse(args) : NULL;
    if (args) assert_non_null(a);
    f->last = psy_tools_call(f->t, name, a, "call_test", flags);
    cJSON_Delete(a);
    assert_non_null(f->last);
    assert_string_equal(cJSON_GetObjectItem(f->last, "tool_call_id")->valuestring, "call_test");
    assert_true(cJSON_IsNumber(cJSON_GetObjectItem(f->last, "duration_ms")));
    cJSON *res = cJSON_GetObjectItem(f->last, "result");
    assert_true(cJSON_IsObject(res));
    bool s = cJSON_IsTrue(cJSON_GetObjectItem(f->last, "success"));
    assert_int_equal(s, cJSON_IsTrue(cJSON_GetObjectItem(res, "success")));
    if (!s) assert_true(cJSON_IsString(cJSON_GetObjectItem(res, "error")));
    *ok = s;
    return res;
}

static cJSON *call(fixture *f, const char *name, const char *args, bool *ok)
{
    return call_flags(f, name, args, 0, ok);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "(missing)";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -999;
}

static void assert_contains(const char *s, const char *sub)
{
    if (!strstr(s, sub)) fail_msg("'%s' does not contain '%s'", s, sub);
}

/* ---- workspace ------------------------------------------------------------- */

static void test_path_confinement(void **state)
{
    fixture *f = *state;
    const psy_workspace *ws = psy_tools_get_workspace(f->t);
    char *out, err[PATH_MAX + 256], expect[PATH_MAX + 64];
    mkdir(strcat(strcpy(expect, f->ws), "/sub"), 0755);
    puts_file(f, "sub/f.txt", "x");

    assert_int_equal(psy_ws_resolve(ws, "a.txt", 5, &out, err, sizeof err), 0);
    snprintf(expect, sizeof expect, "%s/a.txt", ws->root);
    assert_string_equal(out, expect);
    assert_string_equal(psy_ws_rel(ws, out), "a.txt");
    free(out);
    assert_int_equal(psy_ws_resolve(ws, ".", 1, &out, err, sizeof err), 0);
    assert_string_equal(out, ws->root);
    assert_string_equal(psy_ws_rel(ws, out), ".");
    free(out);
    assert_int_equal(psy_ws_resolve(ws, ws->root, strlen(ws->root), &out, err, sizeof err), 0);
    free(out);
    assert_int_equal(psy_ws_resolve(ws, "new/dir/file.c", 14, &out, err, sizeof err), 0);
    free(out);

    /* .. escapes */
    assert_int_equal(psy_ws_resolve(ws, "../x", 4, &out, err, sizeof err), -EACCES);
    snprintf(expect, sizeof expect, "Path '../x' is outside workspace '%s'", ws->root);
    assert_string_equal(err, expect);
    assert_null(out);
    assert_int_equal(psy_ws_resolve(ws, "sub/../../x", 11, &out, err, sizeof err), -EACCES);
    assert_int_equal(psy_ws_resolve(ws, "sub/../f", 8, &out, err, sizeof err), 0);
    free(out);
    assert_int_equal(psy_ws_resolve(ws, "nothere/../../x", 15, &out, err, sizeof err), -ELOOP);
    /* absolute outside */
    assert_int_equal(psy_ws_resolve(ws, "/etc/passwd", 11, &out, err, sizeof err), -EACCES);
    assert_int_equal(psy_ws_resolve(ws, "/nonexistent/deep/file", 22, &out, err, sizeof err), -EACCES);
    /* a sibling whose name starts with the workspace's */
    snprintf(expect, sizeof expect, "%sx/file", ws->root);
    assert_int_equal(psy_ws_resolve(ws, expect, strlen(expect), &out, err, sizeof err), -EACCES);

    /* symlinks out, in, and dangling */
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/out", f->ws);
    assert_int_equal(symlink("/etc", link), 0);
    assert_int_equal(psy_ws_resolve(ws, "out/passwd", 10, &out, err, sizeof err), -EACCES);
    assert_int_equal(psy_ws_resolve(ws, "out/newfile", 11, &out, err, sizeof err), -EACCES);
    snprintf(link, sizeof link, "%s/up", f->ws);
    assert_int_equal(symlink("..", link), 0);
    assert_int_equal(psy_ws_resolve(ws, "up", 2, &out, err, sizeof err), -EACCES);
    snprintf(link, sizeof link, "%s/in", f->ws);
    assert_int_equal(symlink("sub", link), 0);
    assert_int_equal(psy_ws_resolve(ws, "in/f.txt", 8, &out, err, sizeof err), 0);
    snprintf(expect, sizeof expect, "%s/sub/f.txt", ws->root);
    assert_string_equal(out, expect);
    free(out);
    snprintf(link, sizeof link, "%s/dangling", f->ws);
    assert_int_equal(symlink("/nonexistent-psyche-target", link), 0);
    assert_int_equal(psy_ws_resolve(ws, "dangling", 8, &out, err, sizeof err), -ELOOP);

    /* NUL, empty, blank */
    assert_int_equal(psy_ws_resolve(ws, "a\0/../../etc", 12, &out, err, sizeof err), -EINVAL);
    assert_contains(err, "NUL");
    assert_int_equal(psy_ws_resolve(ws, "", 0, &out, err, sizeof err), -EINVAL);
    assert_int_equal(psy_ws_resolve(ws, "  \t", 3, &out, err, sizeof err), -EINVAL);

    /* the tools refuse too, with the same message */
    bool ok;
    cJSON *r = call(f, "read_file", "{\"file_path\": \"../../etc/passwd\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "is outside workspace");
    r = call(f, "create_file", "{\"file_path\": \"out/evil\", \"content\": \"x\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "is outside workspace");
    r = call(f, "list_directory", "{\"dir_path\": \"/\"}", &ok);
    assert_false(ok);
}

static void test_sensitive_paths(void **state)
{
    (void)state;
    const char *yes[] = {".ssh/id_rsa",  "/home/u/.aws/credentials",
                         "x/.env",       ".env.local",
                         "server.pem",   "a/b.key",
                         "secrets.yaml", ".config/gh/hosts.yml",
                         "ID_RSA.pub",   "tokens.json",
                         ".netrc",       "k/.gnupg/x",
                         "id_ed25519",   "CREDENTIALS"};
    const char *no[] = {"src/count_tokens.c",
                        "keyboard.c",
                        "environment.md",
                        "README.md",
                        "a/.envrc",
                        "key.c",
                        "monkey",
                        ".config/nvim/init.lua",
                        "src/secret_sauce.c",
                        ""};
    const char *rule;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (!psy_path_sensitive(yes[i], &rule)) fail_msg("%s should be sensitive", yes[i]);
        assert_non_null(rule);
    }
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (psy_path_sensitive(no[i], &rule)) fail_msg("%s should not be sensitive (%s)", no[i], rule);
    assert_false(psy_path_sensitive(NULL, NULL));
    assert_true(psy_name_sensitive(".ssh"));
    assert_false(psy_name_sensitive("projects"));
}

/* ---- blocklist ----------------------------------------------------------- */

static void test_blocklist(void **state)
{
    fixture *f = *state;
    const char *blocked[] = {
        "rm -rf /",
        "RM  -RF   /",
        "rm -rf ~",
        "rm -rf *",
        "mkfs.ext4 /dev/sdb",
        "mkfs /dev/sdb",
        ":(){ :|:& };:",
        "dd if=/dev/zero of=x",
        "mv / /tmp/x",
        "chmod -R 777 /",
        "echo x > /dev/sda",
        "echo x >/dev/sda",
        "wget http://example.com",
        "curl https://example.com",
        "sudo ls",
        "ls; sudo rm x",
        "FOO=1 sudo x",
        "chown -R me .",
        "shutdown -h now",
        "/sbin/shutdown now",
        "x && reboot",
        "poweroff",
        "init 0",
        "init 6",
        "sh -c 'reboot'",
        "bash -c \"sudo x\"",
        "echo $(reboot)",
        "echo `poweroff`",
        "nohup reboot",
        "true || sudo x",
    };
    const char *allowed[] = {
        "ls -la",
        "echo hello",
        "grep -r shutdown src",
        "rm -rf build",
        "rm -rf ./build/",
        "cat x 2>/dev/null",
        "make test",
        "git init",
        "echo 'sudo is a word'",
        "grep -n reboot *.c",
        "python3 -c 'print(1)'",
        "cc -o init init.c && ./init 1",
        "ls /dev/null",
        "echo mkfs",
        "dd if=a.img of=b.img",
    };
    for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++)
        if (!psy_bash_blocked(blocked[i])) fail_msg("'%s' should be blocked", blocked[i]);
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        const char *p = psy_bash_blocked(allowed[i]);
        if (p) fail_msg("'%s' should pass (matched '%s')", allowed[i], p);
    }
    assert_string_equal(psy_bash_blocked("sudo ls"), "sudo");

    bool ok;
    cJSON *r = call(f, "execute_bash", "{\"command\": \"true || sudo touch pwned\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "Dangerous command pattern detected: 'sudo'");
    assert_null(slurp(f, "pwned"));
}

static void allow_dangerous(psy_tools_config *c) { c->dangerous_commands = true; }

static void test_blocklist_disabled(void **state)
{
    fixture *f = *state;
    retool(f, allow_dangerous);
    bool ok;
    cJSON *r = call(f, "execute_bash", "{\"command\": \"true || sudo x; echo ran\"}", &ok);
    assert_true(ok);
    assert_string_equal(str(r, "stdout"), "ran\n");
}

/* ---- execute_bash ------------------------------------------------------------ */

static void test_exec_basic(void **state)
{
    fixture *f = *state;
    bool ok;
    cJSON *r = call(f, "execute_bash", "{\"command\": \"echo hello; echo err >&2; exit 3\"}", &ok);
    assert_false(ok);
    assert_string_equal(str(r, "stdout"), "hello\n");
    assert_string_equal(str(r, "stderr"), "err\n");
    assert_int_equal((int)num(r, "exit_code"), 3);
    assert_contains(str(r, "error"), "exited with code 3");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "timed_out")));

    r = call(f, "execute_bash", "{\"command\": \"pwd; echo made > made.txt; printf '\\\\377ok'\"}", &ok);
    assert_true(ok);
    char expect[PATH_MAX + 8];
    snprintf(expect, sizeof expect, "%s\n\xEF\xBF\xBDok", psy_tools_get_workspace(f->t)->root);
    assert_string_equal(str(r, "stdout"), expect);
    assert_string_equal(slurp(f, "made.txt"), "made\n");
    assert_int_equal((int)num(r, "exit_code"), 0);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(r, "sandbox")));

    r = call(f, "execute_bash", "{\"command\": \"kill -9 $$\"}", &ok);
    assert_false(ok);
    assert_int_equal((int)num(r, "exit_code"), 137);

    r = call(f, "execute_bash", "{\"command\": \"\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "must not be empty");
}

/* True while pid exists and is not a zombie. */
static bool alive(pid_t pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(p, "r");
    if (!fp) return false;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

static pid_t read_pid(fixture *f, const char *rel)
{
    const char *s = slurp(f, rel);
    assert_non_null(s);
    return (pid_t)atoi(s);
}

static void wait_dead(pid_t pid)
{
    for (int i = 0; i < 100 && alive(pid); i++) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (alive(pid)) fail_msg("process %d is still alive", (int)pid);
}

static void short_timeout(psy_tools_config *c) { c->bash_timeout_s = 1; }

static void test_exec_timeout_kills_group(void **state)
{
    fixture *f = *state;
    retool(f, short_timeout);
    bool ok;
    double t0 = now_mono();
    cJSON *r = call(f, "execute_bash", "{\"command\": \"sleep 100 & echo $! > bg.pid; echo started; sleep 100\"}", &ok);
    double took = now_mono() - t0;
    assert_false(ok);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "timed_out")));
    assert_contains(str(r, "error"), "timeout after 1 seconds");
    assert_string_equal(str(r, "stdout"), "started\n");
    assert_true(took < 4);
    wait_dead(read_pid(f, "bg.pid"));

    /* a background job left by a command that finished is stopped too */
    t0 = now_mono();
    r = call(f, "execute_bash", "{\"command\": \"sleep 100 & echo $! > bg2.pid\"}", &ok);
    assert_true(ok);
    assert_true(now_mono() - t0 < 3);
    assert_contains(str(r, "note"), "background");
    wait_dead(read_pid(f, "bg2.pid"));
    /* ... also when it does not hold the output open */
    r = call(f, "execute_bash", "{\"command\": \"sleep 100 >/dev/null 2>&1 & echo $! > bg3.pid\"}", &ok);
    assert_true(ok);
    wait_dead(read_pid(f, "bg3.pid"));
}

static void *cancel_later(void *arg)
{
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    psy_tools_cancel(arg);
    return NULL;
}

static void test_exec_cancel(void **state)
{
    fixture *f = *state;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_later, f->t), 0);
    bool ok;
    double t0 = now_mono();
    cJSON *r = call(f, "execute_bash", "{\"command\": \"sleep 100 & echo $! > c.pid; sleep 100\"}", &ok);
    pthread_join(th, NULL);
    assert_false(ok);
    assert_true(now_mono() - t0 < 3);
    assert_contains(str(r, "error"), "cancelled");
    wait_dead(read_pid(f, "c.pid"));
}

static void small_output(psy_tools_config *c) { c->max_output_bytes = 1000; }

static void test_exec_output_cap(void **state)
{
    fixture *f = *state;
    retool(f, small_output);
    bool ok;
    cJSON *r = call(
        f, "execute_bash",
        "{\"command\": \"printf START; head -c 100000 /dev/zero | tr '\\\\0' a; printf END; echo small >&2\"}", &ok);
    assert_true(ok);
    const char *out = str(r, "stdout");
    assert_true(strlen(out) < 1100);
    assert_true(strncmp(out, "STARTaaa", 8) == 0);
    assert_true(strcmp(out + strlen(out) - 6, "aaaEND") == 0);
    assert_contains(out, "[... 99008 bytes cut ...]");
    assert_int_equal((int)num(r, "stdout_cut_bytes"), 99008);
    assert_null(cJSON_GetObjectItem(r, "stderr_cut_bytes"));
    assert_string_equal(str(r, "stderr"), "small\n");
    assert_contains(str(r, "output_note"), "cut");

    /* multi-byte characters are not split at the seams */
    r = call(f, "execute_bash",
             "{\"command\": \"i=0; while [ $i -lt 2000 ]; do printf '\\\\342\\\\202\\\\254'; i=$((i+1)); done\"}", &ok);
    assert_true(ok);
    out = str(r, "stdout");
    assert_null(strstr(out, "\xEF\xBF\xBD"));
    assert_contains(out, "bytes cut");
}

/* ---- file tools ------------------------------------------------------------------ */

static void test_read_file(void **state)
{
    fixture *f = *state;
    puts_file(f, "five.txt", "1\n2\n3\n4\n5\n");
    bool ok;
    cJSON *r = call(f, "read_file", "{\"file_path\": \"five.txt\", \"max_lines\": 2}", &ok);
    assert_true(ok);
    assert_string_equal(str(r, "content"), "1\n2\n");
    assert_int_equal((int)num(r, "line_count"), 2);
    assert_int_equal((int)num(r, "total_lines"), 5);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
    assert_string_equal(str(r, "file_path"), "five.txt");
    assert_int_equal((int)num(r, "size_bytes"), 10);

    r = call(f, "read_file", "{\"file_path\": \"five.txt\", \"max_lines\": \"0\"}", &ok); /* coerced; 0 = 2000 */
    assert_true(ok);
    assert_string_equal(str(r, "content"), "1\n2\n3\n4\n5\n");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
    r = call(f, "read_file", "{\"file_path\": \"five.txt\", \"max_lines\": null}", &ok);
    assert_true(ok);
    r = call(f, "read_file", "{\"file_path\": \"five.txt\", \"max_lines\": -1}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "Invalid arguments for read_file");

    put(f, "bad.txt",
        "\xff\xfe"
        "abc\0def",
        9);
    r = call(f, "read_file", "{\"file_path\": \"bad.txt\"}", &ok);
    assert_true(ok);
    assert_string_equal(str(r, "content"), "\xEF\xBF\xBD\xEF\xBF\xBD"
                                           "abc\xEF\xBF\xBD"
                                           "def");
    assert_contains(str(r, "note"), "replaced");

    r = call(f, "read_file", "{\"file_path\": \"missing.txt\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "File not found");
    mkdir(strcat(strcpy((char[PATH_MAX]){0}, f->ws), "/d"), 0755);
    r = call(f, "read_file", "{\"file_path\": \"d\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "is a directory");
    puts_file(f, ".env", "KEY=secret");
    r = call(f, "read_file", "{\"file_path\": \".env\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "secrets");
    r = call(f, "read_file", "{}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "missing required argument 'file_path'");
}

static void tiny_files(psy_tools_config *c) { c->max_file_size = 1000; }

static void test_read_file_too_large(void **state)
{
    fixture *f = *state;
    retool(f, tiny_files);
    char big[2000];
    memset(big, 'x', sizeof big);
    put(f, "big.txt", big, sizeof big);
    bool ok;
    cJSON *r = call(f, "read_file", "{\"file_path\": \"big.txt\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "File too large");
}

static void test_create_file(void **state)
{
    fixture *f = *state;
    bool ok;
    cJSON *r = call(f, "create_file", "{\"file_path\": \"a/b/new.txt\", \"content\": \"h\\u00e9\\nworld\\n\"}", &ok);
    assert_true(ok);
    assert_string_equal(slurp(f, "a/b/new.txt"), "h\xC3\xA9\nworld\n");
    assert_int_equal((int)num(r, "lines_written"), 2);
    assert_int_equal((int)num(r, "size_bytes"), 10);
    r = call(f, "create_file", "{\"file_path\": \"a/b/new.txt\", \"content\": \"other\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "already exists; use edit_file");
    assert_string_equal(slurp(f, "a/b/new.txt"), "h\xC3\xA9\nworld\n");
    r = call(f, "create_file", "{\"file_path\": \"x/y.txt\", \"content\": \"\", \"create_dirs\": false}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "does not exist");
    r = call(f, "create_file", "{\"file_path\": \"empty.txt\", \"content\": \"\"}", &ok);
    assert_true(ok);
    assert_int_equal((int)num(r, "lines_written"), 0);
    r = call(f, "create_file", "{\"file_path\": \"/tmp/psyche-outside.txt\", \"content\": \"x\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "outside workspace");
}

static void test_edit_file(void **state)
{
    fixture *f = *state;
    puts_file(f, "e.c", "int a = 1;\nint b = 2;\nint b2 = 2;\n");
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/e.c", f->ws);
    chmod(p, 0600);
    bool ok;
    cJSON *r =
        call(f, "edit_file", "{\"file_path\": \"e.c\", \"old_string\": \"b = 2\", \"new_string\": \"b = 3\"}", &ok);
    assert_true(ok);
    assert_string_equal(slurp(f, "e.c"), "int a = 1;\nint b = 3;\nint b2 = 2;\n");
    assert_string_equal(slurp(f, "e.c.bak"), "int a = 1;\nint b = 2;\nint b2 = 2;\n");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "backup_created")));
    assert_string_equal(str(r, "backup_path"), "e.c.bak");
    assert_int_equal((int)num(r, "line"), 2);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* not found, and N times: the file is left alone */
    r = call(f, "edit_file", "{\"file_path\": \"e.c\", \"old_string\": \"zzz\", \"new_string\": \"y\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "not found");
    r = call(f, "edit_file", "{\"file_path\": \"e.c\", \"old_string\": \"int\", \"new_string\": \"long\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "appears 3 times");
    assert_contains(str(r, "error"), "add surrounding context");
    assert_string_equal(slurp(f, "e.c"), "int a = 1;\nint b = 3;\nint b2 = 2;\n");

    /* deletion */
    r = call(f, "edit_file", "{\"file_path\": \"e.c\", \"old_string\": \"int a = 1;\\n\", \"new_string\": \"\"}", &ok);
    assert_true(ok);
    assert_string_equal(slurp(f, "e.c"), "int b = 3;\nint b2 = 2;\n");
    assert_int_equal((int)num(r, "line"), 1);
    r = call(f, "edit_file", "{\"file_path\": \"nope.c\", \"old_string\": \"a\", \"new_string\": \"b\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "File not found");
    r = call(f, "edit_file", "{\"file_path\": \"e.c\", \"old_string\": \"\", \"new_string\": \"b\"}", &ok);
    assert_false(ok);
    /* no temp files left behind */
    r = call(f, "list_directory", NULL, &ok);
    assert_true(ok);
    assert_int_equal((int)num(r, "total_items"), 2);
}

static void test_list_directory(void **state)
{
    fixture *f = *state;
    puts_file(f, "b.txt", "12345");
    puts_file(f, "a.c", "x");
    puts_file(f, "sub/c.c", "xy");
    puts_file(f, "sub/deeper/d.c", "x");
    puts_file(f, ".git/config", "x");
    bool ok;
    cJSON *r = call(f, "list_directory", "{}", &ok);
    assert_true(ok);
    cJSON *e = cJSON_GetObjectItem(r, "entries");
    assert_int_equal(cJSON_GetArraySize(e), 4);
    const char *names[] = {".git", "a.c", "b.txt", "sub"};
    const char *types[] = {"directory", "file", "file", "directory"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(str(cJSON_GetArrayItem(e, i), "name"), names[i]);
        assert_string_equal(str(cJSON_GetArrayItem(e, i), "type"), types[i]);
    }
    assert_int_equal((int)num(cJSON_GetArrayItem(e, 2), "size"), 5);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(e, 3), "size"));
    assert_int_equal((int)num(r, "file_count"), 2);
    assert_int_equal((int)num(r, "directory_count"), 2);

    r = call(f, "list_directory", "{\"recursive\": true}", &ok);
    e = cJSON_GetObjectItem(r, "entries");
    const char *paths[] = {".git", "a.c", "b.txt", "sub", "sub/c.c", "sub/deeper", "sub/deeper/d.c"};
    assert_int_equal(cJSON_GetArraySize(e), 7);
    for (int i = 0; i < 7; i++) assert_string_equal(str(cJSON_GetArrayItem(e, i), "path"), paths[i]);

    r = call(f, "list_directory", "{\"recursive\": true, \"pattern\": \"*.c\"}", &ok);
    e = cJSON_GetObjectItem(r, "entries");
    assert_int_equal(cJSON_GetArraySize(e), 3);
    assert_string_equal(str(cJSON_GetArrayItem(e, 2), "path"), "sub/deeper/d.c");
    r = call(f, "list_directory", "{\"pattern\": \"*.c\"}", &ok);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r, "entries")), 1);

    r = call(f, "list_directory", "{\"dir_path\": \"sub\"}", &ok);
    assert_true(ok);
    assert_string_equal(str(r, "directory"), "sub");
    assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "entries"), 0), "path"), "sub/c.c");
    r = call(f, "list_directory", "{\"dir_path\": \"missing\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "not found");
    r = call(f, "list_directory", "{\"dir_path\": \"a.c\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "not a directory");
}

static void test_search_codebase(void **state)
{
    fixture *f = *state;
    puts_file(f, "a.c", "one\ntwo\nfoo(1);\nthree\nfour\n");
    puts_file(f, "src/b.py", "FOO(2)\nfoo(3)\n");
    put(f, "bin.dat", "foo(\0binary", 11);
    puts_file(f, ".git/x", "foo(4)\n");
    puts_file(f, "secrets.txt", "foo(5)\n");
    bool ok;
    cJSON *r = call(f, "search_codebase", "{\"pattern\": \"foo\\\\(\\\\d\\\\)\", \"context_lines\": 1}", &ok);
    assert_true(ok);
    assert_int_equal((int)num(r, "match_count"), 2);
    cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "matches"), 0);
    assert_string_equal(str(m, "file"), "a.c");
    assert_int_equal((int)num(m, "line_number"), 3);
    assert_string_equal(str(m, "line"), "foo(1);");
    assert_string_equal(str(m, "match"), "foo(1)");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "before"), 0)->valuestring, "two");
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "after"), 0)->valuestring, "three");
    m = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "matches"), 1);
    assert_string_equal(str(m, "file"), "src/b.py");
    assert_int_equal((int)num(m, "line_number"), 2);
    assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "before"), 0)->valuestring, "FOO(2)");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(m, "after")), 0);
    cJSON *sk = cJSON_GetObjectItem(r, "skipped");
    assert_int_equal((int)num(sk, "binary"), 1);
    assert_int_equal((int)num(sk, "sensitive"), 1);

    r = call(f, "search_codebase", "{\"pattern\": \"foo\", \"case_insensitive\": true, \"file_glob\": \"*.py\"}", &ok);
    assert_true(ok);
    assert_int_equal((int)num(r, "match_count"), 2);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r, "matches"), 0), "before"));
    r = call(f, "search_codebase", "{\"pattern\": \"nothing-matches-this\"}", &ok);
    assert_true(ok);
    assert_int_equal((int)num(r, "match_count"), 0);
    r = call(f, "search_codebase", "{\"pattern\": \"foo(\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "Invalid regex");
    r = call(f, "search_codebase", "{\"pattern\": \"foo\", \"context_lines\": 11}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "'context_lines' must be in 0..10, got 11");
    r = call(f, "search_codebase", "{\"pattern\": \"o\", \"max_results\": 2}", &ok);
    assert_true(ok);
    assert_int_equal((int)num(r, "match_count"), 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(r, "truncated")));
}

/* ---- registry --------------------------------------------------------------------- */

static bool echo_tool(psy_tools *t, void *ud, const cJSON *args, cJSON *res)
{
    (void)t;
    (*(int *)ud)++;
    cJSON_AddItemToObject(res, "echo", cJSON_Duplicate(args, true));
    return true;
}

static void test_registry(void **state)
{
    fixture *f = *state;
    bool ok;
    cJSON *r = call(f, "no_such_tool", "{}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "Unknown tool 'no_such_tool'");
    assert_contains(str(r, "error"), "execute_bash");
    r = call(f, "read_file", "[1]", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "'arguments' must be an object, got array");
    r = call(f, "read_file", "{\"file_path\": 7}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "'file_path' must be a string");

    /* read-only mode (idle thinking) and strict paths */
    r = call_flags(f, "execute_bash", "{\"command\": \"true\"}", PSY_TOOL_READ_ONLY, &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "read-only");
    r = call_flags(f, "list_directory", "{}", PSY_TOOL_READ_ONLY | PSY_TOOL_STRICT_PATHS, &ok);
    assert_true(ok);
    r = call_flags(f, "list_directory", "{\"dir_path\": \"a/..\"}", PSY_TOOL_STRICT_PATHS, &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "'..'");
    r = call_flags(f, "read_file", "{\"file_path\": \".ssh/id_rsa\"}", PSY_TOOL_STRICT_PATHS, &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "sensitive");

    /* the memory tools' registration point */
    int calls = 0;
    psy_tool_def d = {"recall_memory",
                      "Search memories.",
                      "{\"type\":\"object\",\"properties\":{\"query\":{\"type\":\"string\",\"minLength\":1},"
                      "\"n_results\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":5}},"
                      "\"required\":[\"query\"]}",
                      true,
                      echo_tool,
                      &calls};
    assert_int_equal(psy_tools_register(f->t, &d), 0);
    assert_int_equal(psy_tools_register(f->t, &d), -EEXIST);
    psy_tool_def bad = d;
    bad.name = "bad";
    bad.schema_json = "{nope";
    assert_int_equal(psy_tools_register(f->t, &bad), -EINVAL);
    r = call_flags(f, "recall_memory", "{\"query\": \"cats\", \"extra\": {\"x\": 1}}", PSY_TOOL_READ_ONLY, &ok);
    assert_true(ok);
    assert_int_equal(calls, 1);
    assert_int_equal((int)num(cJSON_GetObjectItem(r, "echo"), "n_results"), 5); /* default filled */
    assert_non_null(psy_tools_find(f->t, "recall_memory"));
    assert_int_equal(psy_tools_count(f->t), 7);

    char *ref = psy_tools_reference(f->t, false);
    assert_contains(ref, "- read_file: ");
    assert_contains(ref, "file_path (string, required)");
    assert_contains(ref, "max_lines (integer, default 2000)");
    assert_contains(ref, "- execute_bash:");
    free(ref);
    ref = psy_tools_reference(f->t, true);
    assert_null(strstr(ref, "execute_bash"));
    assert_contains(ref, "recall_memory");
    free(ref);
    cJSON *s = psy_tools_schemas(f->t, true);
    assert_int_equal(cJSON_GetArraySize(s), 4);
    assert_true(cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetArrayItem(s, 0), "inputSchema")));
    cJSON_Delete(s);
    cJSON_Delete(psy_tools_call(NULL, "x", NULL, NULL, 0));
}

/* How a call ended, for the agent's emotion events: an exception (could not
 * run as asked) is told apart from a tool that ran and failed. */
static void test_call_outcomes(void **state)
{
    fixture *f = *state;
    bool ok;
    call(f, "list_directory", "{}", &ok);
    assert_true(ok);
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_OK);
    call(f, "read_file", "{\"file_path\": \"missing.txt\"}", &ok);
    assert_false(ok);
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_FAILED);
    call(f, "execute_bash", "{\"command\": \"exit 3\"}", &ok);
    assert_false(ok);
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_FAILED);
    call(f, "no_such_tool", "{}", &ok);
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_REFUSED);
    call(f, "read_file", "{\"file_path\": 7}", &ok);
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_REFUSED);
    call_flags(f, "execute_bash", "{\"command\": \"true\"}", PSY_TOOL_READ_ONLY, &ok);
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_REFUSED);
    call(f, "execute_bash", "{\"command\": \"sleep 30\"}", &ok); /* the fixture's timeout is 5 s */
    assert_false(ok);
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_INTERRUPTED);

    /* "must be an object", not "a object"; a schema without a type takes anything */
    int calls = 0;
    psy_tool_def d = {"with_object",
                      "Takes an object.",
                      "{\"type\":\"object\",\"properties\":{\"opts\":{\"type\":\"object\"},"
                      "\"free\":{\"description\":\"anything\"}}}",
                      true,
                      echo_tool,
                      &calls};
    assert_int_equal(psy_tools_register(f->t, &d), 0);
    cJSON *r = call(f, "with_object", "{\"opts\": \"happy\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "'opts' must be an object, got string");
    call(f, "with_object", "{\"opts\": {}, \"free\": \"happy\"}", &ok);
    assert_true(ok);
    call(f, "with_object", "{\"free\": [1, {\"x\": 2}]}", &ok);
    assert_true(ok);
    char *ref = psy_tools_reference(f->t, true);
    assert_contains(ref, "opts (object, optional)");
    assert_contains(ref, "free (optional): anything");
    free(ref);
}

/* A cancel that arrives after the decision to run a tool but before it
 * starts is not lost: the call is refused, and nothing runs. */
static void test_cancel_before_the_call_is_kept(void **state)
{
    fixture *f = *state;
    bool ok;
    psy_tools_cancel(f->t);
    cJSON *r = call(f, "execute_bash", "{\"command\": \"touch ran.txt\"}", &ok);
    assert_false(ok);
    assert_contains(str(r, "error"), "Cancelled before");
    assert_int_equal(psy_tools_last_outcome(f->t), PSY_TOOL_INTERRUPTED);
    assert_null(slurp(f, "ran.txt"));
    /* still cancelled until the owner starts something new */
    call(f, "execute_bash", "{\"command\": \"touch ran.txt\"}", &ok);
    assert_false(ok);
    assert_null(slurp(f, "ran.txt"));
    psy_tools_reset_cancel(f->t);
    call(f, "execute_bash", "{\"command\": \"touch ran.txt\"}", &ok);
    assert_true(ok);
    assert_non_null(slurp(f, "ran.txt"));
}

/* ---- sandbox ------------------------------------------------------------------------- */

static char g_home[64];

static void sandbox_strict(psy_tools_config *c)
{
    c->sandbox = true;
    c->sandbox_tmp = false;
}

static void test_sandbox(void **state)
{
    fixture *f = *state;
    /* a fake home with a secret next to an ordinary file */
    snprintf(g_home, sizeof g_home, "/tmp/psy-home-XXXXXX");
    assert_non_null(mkdtemp(g_home));
    char p[PATH_MAX], old_home[PATH_MAX] = "";
    if (getenv("HOME")) snprintf(old_home, sizeof old_home, "%s", getenv("HOME"));
    snprintf(p, sizeof p, "%s/.ssh", g_home);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "echo secret > %s/.ssh/id_rsa; echo notes > %s/notes.txt", g_home, g_home);
    assert_int_equal(system(p), 0);
    setenv("HOME", g_home, 1);
    retool(f, sandbox_strict);
    if (old_home[0]) setenv("HOME", old_home, 1);

    const psy_sandbox *sb = psy_tools_get_sandbox(f->t);
    print_message("sandbox: %s\n", psy_sandbox_detail(sb));
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -r '%s'", g_home);
    if (!psy_sandbox_active(sb)) {
        assert_int_equal(system(cmd), 0);
        skip();
    }
    char outside[64] = "/tmp/psy-outside-XXXXXX";
    assert_non_null(mkdtemp(outside));
    bool ok;
    char args[PATH_MAX + 128];
    snprintf(args, sizeof args, "{\"command\": \"echo x > %s/f\"}", outside);
    cJSON *r = call(f, "execute_bash", args, &ok);
    assert_false(ok);
    assert_contains(str(r, "sandbox"), "landlock");
    snprintf(p, sizeof p, "%s/f", outside);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(args, sizeof args, "{\"command\": \"touch %s/g || exit 9\"}", outside);
    r = call(f, "execute_bash", args, &ok);
    assert_int_equal((int)num(r, "exit_code"), 9);

    /* inside: writes, deletes, renames; reads elsewhere; /dev/null and pipes */
    r = call(f, "execute_bash",
             "{\"command\": \"mkdir -p d && echo in > d/x && mv d/x y && rm y && cat /etc/passwd > /dev/null && "
             "echo e > /dev/stderr && ls / > /dev/null\"}",
             &ok);
    if (!ok) fail_msg("inside: %s / %s", str(r, "error"), str(r, "stderr"));
    /* the fake home: notes readable, .ssh not */
    snprintf(args, sizeof args, "{\"command\": \"cat %s/notes.txt\"}", g_home);
    r = call(f, "execute_bash", args, &ok);
    assert_true(ok);
    assert_string_equal(str(r, "stdout"), "notes\n");
    snprintf(args, sizeof args, "{\"command\": \"cat %s/.ssh/id_rsa\"}", g_home);
    r = call(f, "execute_bash", args, &ok);
    assert_false(ok);
    assert_null(strstr(str(r, "stdout"), "secret"));
    /* no network: a listener of ours on 127.0.0.1 cannot be reached */
    if (sb->netns || sb->net_tcp) {
        int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof sa;
        assert_int_equal(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(listen(ls, 4), 0);
        assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
        snprintf(args, sizeof args,
                 "{\"command\": \"command -v python3 >/dev/null || exit 7; python3 -c 'import socket; "
                 "socket.create_connection((\\\"127.0.0.1\\\", %d), timeout=2)'\"}",
                 ntohs(sa.sin_port));
        r = call(f, "execute_bash", args, &ok);
        const char *e = str(r, "stderr");
        print_message("connect from the sandbox: exit %d, ...%s", (int)num(r, "exit_code"),
                      strlen(e) > 50 ? e + strlen(e) - 50 : e);
        if ((int)num(r, "exit_code") != 7) {
            assert_false(ok);
            assert_contains(str(r, "stderr"), "rror"); /* PermissionError / ConnectionRefusedError / OSError */
        }
        close(ls);
    }
    /* with the default sandbox_tmp, /tmp is writable (compilers need it) but the rest is not */
    retool(f, NULL);
    snprintf(args, sizeof args, "{\"command\": \"touch %s/tmp-ok && ! touch /var/lib/psyche-nope 2>/dev/null\"}",
             outside);
    r = call(f, "execute_bash", args, &ok);
    if (!ok) fail_msg("tmp: %s / %s", str(r, "error"), str(r, "stderr"));
    snprintf(p, sizeof p, "%s/tmp-ok", outside);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "rm -r '%s'", outside);
    assert_int_equal(system(p), 0);
    assert_int_equal(system(cmd), 0);
}

/* Secrets below the top of a home and inside the workspace: ~/proj/.env,
 * ~/proj/server.key, <workspace>/.env, with the home under /tmp (which is
 * writable by default) - the reviewer's cases. */
static void secrets_default(psy_tools_config *c) { c->sandbox = true; /* sandbox_tmp stays at its default, true */ }

static void small_scan(psy_tools_config *c)
{
    c->sandbox = true;
    c->sandbox_scan_budget = 3;
}

static void test_sandbox_nested_secrets(void **state)
{
    fixture *f = *state;
    snprintf(g_home, sizeof g_home, "/tmp/psy-home-XXXXXX");
    assert_non_null(mkdtemp(g_home));
    char p[PATH_MAX * 2], old_home[PATH_MAX] = "";
    if (getenv("HOME")) snprintf(old_home, sizeof old_home, "%s", getenv("HOME"));
    snprintf(p, sizeof p,
             "mkdir -p %s/proj/deep/er && echo home-env-secret > %s/proj/.env && "
             "echo home-key-secret > %s/proj/server.key && echo deep-secret > %s/proj/deep/er/id_rsa && "
             "echo home-notes > %s/proj/notes.txt && echo deep-notes > %s/proj/deep/er/ok.txt",
             g_home, g_home, g_home, g_home, g_home, g_home);
    assert_int_equal(system(p), 0);
    puts_file(f, ".env", "ws-env-secret\n");
    puts_file(f, "app/config/.env.local", "ws-local-secret\n");
    puts_file(f, "app/config/tls.pem", "ws-pem-secret\n");
    puts_file(f, "app/config/settings.ini", "ws-settings\n");
    puts_file(f, "app/main.c", "int main(void) { return 0; }\n");
    setenv("HOME", g_home, 1);
    retool(f, secrets_default);
    if (old_home[0]) setenv("HOME", old_home, 1);
    const psy_sandbox *sb = psy_tools_get_sandbox(f->t);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -r '%s'", g_home);
    if (!psy_sandbox_active(sb)) {
        assert_int_equal(system(cmd), 0);
        skip();
    }
    print_message("sandbox: %s\n", psy_sandbox_detail(sb));
    assert_contains(psy_sandbox_detail(sb), "home directories and the workspace");
    bool ok;
    cJSON *r;
    char args[PATH_MAX + 128];
    static const char *const secrets[] = {"proj/.env", "proj/server.key", "proj/deep/er/id_rsa"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "{\"command\": \"cat %s/%s\"}", g_home, secrets[i]);
        r = call(f, "execute_bash", args, &ok);
        if (ok || strstr(str(r, "stdout"), "secret")) fail_msg("%s was readable: %s", secrets[i], str(r, "stdout"));
    }
    static const char *const readable[] = {"proj/notes.txt", "proj/deep/er/ok.txt"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "{\"command\": \"cat %s/%s\"}", g_home, readable[i]);
        r = call(f, "execute_bash", args, &ok);
        if (!ok) fail_msg("%s: %s", readable[i], str(r, "stderr"));
    }
    /* the workspace: its secrets stay closed, everything else works as before */
    static const char *const ws_secrets[] = {".env", "app/config/.env.local", "app/config/tls.pem"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(args, sizeof args, "{\"command\": \"cat %s\"}", ws_secrets[i]);
        r = call(f, "execute_bash", args, &ok);
        if (ok || strstr(str(r, "stdout"), "secret")) fail_msg("%s was readable: %s", ws_secrets[i], str(r, "stdout"));
    }
    r = call(f, "execute_bash", "{\"command\": \"cat app/config/settings.ini app/main.c && ls -a . app/config\"}", &ok);
    if (!ok) fail_msg("workspace reads: %s", str(r, "stderr"));
    assert_contains(str(r, "stdout"), ".env"); /* names stay listable */
    /* files made in a directory that holds a secret: writable now, readable from the next command on */
    r = call(f, "execute_bash",
             "{\"command\": \"echo fresh > new.txt && mkdir -p made/sub && echo deep > made/sub/x\"}", &ok);
    if (!ok) fail_msg("writes: %s", str(r, "stderr"));
    r = call(f, "execute_bash", "{\"command\": \"cat new.txt made/sub/x\"}", &ok);
    if (!ok) fail_msg("reading what the last command made: %s", str(r, "stderr"));
    assert_string_equal(str(r, "stdout"), "fresh\ndeep\n");
    /* /tmp holds the workspace and the home, so commands get a TMPDIR of their own */
    r = call(f, "execute_bash", "{\"command\": \"f=$(mktemp) && echo scratch > $f && cat $f && echo $TMPDIR\"}", &ok);
    if (!ok) fail_msg("scratch: %s / %s", str(r, "stderr"), psy_sandbox_detail(sb));
    assert_contains(str(r, "stdout"), "scratch\n/tmp/psyche-sandbox-");
    char scratch[PATH_MAX];
    snprintf(scratch, sizeof scratch, "%s", psy_sandbox_tmpdir(sb));

    /* a small scan budget says so */
    setenv("HOME", g_home, 1);
    retool(f, small_scan);
    if (old_home[0]) setenv("HOME", old_home, 1);
    assert_contains(psy_sandbox_detail(psy_tools_get_sandbox(f->t)), "partial");
    assert_int_equal(access(scratch, F_OK), -1); /* the old scratch directory was removed */
    assert_int_equal(system(cmd), 0);
}

static void sandbox_off(psy_tools_config *c) { c->sandbox = false; }

static void test_sandbox_disabled(void **state)
{
    fixture *f = *state;
    retool(f, sandbox_off);
    assert_false(psy_sandbox_active(psy_tools_get_sandbox(f->t)));
    assert_contains(psy_sandbox_detail(psy_tools_get_sandbox(f->t)), "not sandboxed");
    bool ok;
    cJSON *r = call(f, "execute_bash", "{\"command\": \"echo ok\"}", &ok);
    assert_true(ok);
    assert_contains(str(r, "sandbox"), "not sandboxed");
}


/* ---- the boundary's building blocks (issue 8) ------------------------------------------ */

/* psy_ws_openat: never outside, with openat2 and with the O_NOFOLLOW walk. */
static void test_ws_openat_beneath(void **state)
{
    fixture *f = *state;
    put(f, "d/in.txt", "in", 2);
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/out", f->ws);
    assert_int_equal(symlink("/etc", p), 0);
    snprintf(p, sizeof p, "%s/d/up", f->ws);
    assert_int_equal(symlink("..", p), 0);
    psy_workspace ws = *psy_tools_get_workspace(f->t); /* a copy: the flag is flipped below */
    for (int fallback = 0; fallback < 2; fallback++) {
        ws.no_openat2 = fallback;
        int fd;
        assert_int_equal(psy_ws_openat(&ws, "d/in.txt", O_RDONLY, 0, &fd), 0);
        close(fd);
        int rc = psy_ws_openat(&ws, "out/passwd", O_RDONLY, 0, &fd);
        assert_true(rc == -EXDEV || rc == -ELOOP);
        assert_int_equal(fd, -1);
        rc = psy_ws_openat(&ws, "../../etc/passwd", O_RDONLY, 0, &fd);
        assert_true(rc == -EXDEV || rc == -ELOOP);
        rc = psy_ws_openat(&ws, "/proc/self/root/etc/passwd", O_RDONLY, 0, &fd);
        assert_true(rc < 0);
        /* a symlink that stays inside: openat2 follows it, the walk refuses it */
        rc = psy_ws_openat(&ws, "d/up/d/in.txt", O_RDONLY, 0, &fd);
        if (fallback) {
            assert_int_equal(rc, -ELOOP);
        } else {
            assert_int_equal(rc, 0);
            close(fd);
        }
    }
    assert_int_equal(psy_ws_mkdirs(&ws, "a/b/c"), 0);
    assert_int_not_equal(psy_ws_mkdirs(&ws, "out/x"), 0); /* through a symlink: refused */
    snprintf(p, sizeof p, "%s/a/b/c", f->ws);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(access("/etc/x", F_OK), -1);
}

/* Secrets are known by identity: a rename or a hard link keeps them protected. */
static void test_secrets_by_identity(void **state)
{
    fixture *f = *state;
    put(f, ".env", "TOKEN=1\n", 8);
    put(f, "sub/.aws/config", "k\n", 2);
    put(f, "plain.txt", "ok\n", 3);
    psy_secrets s = {0};
    assert_int_equal(psy_secrets_scan(&s, psy_tools_get_workspace(f->t)->root_fd), 0);
    assert_true(s.complete);
    assert_int_equal(s.n_paths, 3); /* .env, sub/.aws, sub/.aws/config */
    char a[PATH_MAX], b[PATH_MAX];
    snprintf(a, sizeof a, "%s/.env", f->ws);
    snprintf(b, sizeof b, "%s/renamed.txt", f->ws);
    assert_int_equal(rename(a, b), 0);
    snprintf(a, sizeof a, "%s/sub/.aws/config", f->ws);
    snprintf(b, sizeof b, "%s/linked", f->ws);
    assert_int_equal(link(a, b), 0);
    struct stat st;
    assert_int_equal(stat(b, &st), 0);
    assert_true(psy_secrets_has(&s, &st));
    snprintf(b, sizeof b, "%s/renamed.txt", f->ws);
    assert_int_equal(stat(b, &st), 0);
    assert_true(psy_secrets_has(&s, &st));
    snprintf(b, sizeof b, "%s/plain.txt", f->ws);
    assert_int_equal(stat(b, &st), 0);
    assert_false(psy_secrets_has(&s, &st));
    /* the next scan names them under their new names */
    assert_int_equal(psy_secrets_scan(&s, psy_tools_get_workspace(f->t)->root_fd), 0);
    bool renamed = false, linked = false;
    for (size_t i = 0; i < s.n_paths; i++) {
        renamed |= strcmp(s.paths[i], "renamed.txt") == 0;
        linked |= strcmp(s.paths[i], "linked") == 0;
    }
    assert_true(renamed && linked);
    psy_secrets_free(&s);
    /* and the file tools refuse them (a new tool set scans at start) */
    retool(f, NULL);
    bool ok;
    cJSON *r = call(f, "read_file", "{\"file_path\": \"renamed.txt\"}", &ok);
    assert_true(ok); /* not protected: this tool set never saw it as .env */
    r = call(f, "read_file", "{\"file_path\": \"linked\"}", &ok);
    assert_false(ok); /* a hard link of sub/.aws/config, which is still there */
    assert_contains(str(r, "error"), "protected");
}

/* The seccomp filter refuses TIOCSTI and TIOCLINUX (also with high bits set
 * in the request), and nothing else. The kernel's own legacy_tiocsti switch
 * answers EIO, so EPERM shows the filter did it. */
static void test_seccomp_refuses_tty_push(void **state)
{
    (void)state;
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(m >= 0);
    assert_int_equal(grantpt(m), 0);
    assert_int_equal(unlockpt(m), 0);
    int sl = open(ptsname(m), O_RDWR | O_NOCTTY);
    assert_true(sl >= 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (psy_seccomp_deny_tty_push()) _exit(10);
        char c = 'x';
        if (ioctl(sl, TIOCSTI, &c) == 0 || errno != EPERM) _exit(11);
        if (syscall(SYS_ioctl, sl, (unsigned long)TIOCSTI | (1UL << 32), &c) == 0 || errno != EPERM) _exit(12);
        char sub = 2;
        if (ioctl(sl, TIOCLINUX, &sub) == 0 || errno != EPERM) _exit(13);
        struct winsize w;
        if (ioctl(sl, TIOCGWINSZ, &w) != 0) _exit(14);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(sl);
    close(m);
}

/* Index of a in v, or -1. */
static int argv_find(char **v, const char *a)
{
    for (int i = 0; v[i]; i++)
        if (!strcmp(v[i], a)) return i;
    return -1;
}

/* Bubblewrap mode with the inner layer: the helper is bound read-only at its
 * fixed path and runs the command with the sandbox's settings; without it
 * bwrap runs /bin/sh itself, and the report says which. */
static void test_sandbox_inner_argv_and_report(void **state)
{
    (void)state;
    static psy_sandbox sb; /* large: not on the stack */
    memset(&sb, 0, sizeof sb);
    sb.ruleset_fd = -1;
    sb.enabled = sb.bwrap = sb.inner = true;
    snprintf(sb.bwrap_path, sizeof sb.bwrap_path, "/usr/bin/bwrap");
    snprintf(sb.inner_path, sizeof sb.inner_path, "/opt/psyche/libexec/psyche-sandbox-exec");
    snprintf(sb.inner_why, sizeof sb.inner_why, "Landlock ABI 9 inside bubblewrap");
    snprintf(sb.workspace, sizeof sb.workspace, "/srv/ws");
    char *extra[] = {"/srv/cache", NULL};
    sb.extra_write = extra;
    char **v = NULL;
    assert_int_equal(psy_sandbox_argv(&sb, "echo hi", &v), 0);
    int bind = argv_find(v, "/opt/psyche/libexec/psyche-sandbox-exec");
    assert_true(bind > 0);
    assert_string_equal(v[bind - 1], "--ro-bind");
    assert_string_equal(v[bind + 1], PSY_SANDBOX_EXEC_INSIDE);
    int helper = argv_find(v, "--") + 1;
    assert_string_equal(v[helper], PSY_SANDBOX_EXEC_INSIDE);
    assert_string_equal(v[argv_find(v, "--workspace") + 1], "/srv/ws");
    assert_true(argv_find(v, "--no-tmp") > helper); /* allow_tmp is false here */
    assert_string_equal(v[argv_find(v, "--write") + 1], "/srv/cache");
    assert_true(argv_find(v, "--check") < 0);
    int sh = argv_find(v, "/bin/sh");
    assert_string_equal(v[sh - 1], "--");
    assert_true(sh > helper);
    assert_string_equal(v[sh + 2], "echo hi");
    psy_sandbox_strv_free(v);
    cJSON *rep = psy_sandbox_report(&sb);
    const cJSON *ll = cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "protections"), "landlock_files");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(ll, "on")));
    cJSON_Delete(rep);

    sb.inner = false; /* the helper missing: bwrap runs the shell, the report says OFF and why */
    snprintf(sb.inner_why, sizeof sb.inner_why, "Landlock inner layer not applied: helper missing");
    assert_int_equal(psy_sandbox_argv(&sb, "echo hi", &v), 0);
    assert_int_equal(argv_find(v, PSY_SANDBOX_EXEC_INSIDE), -1);
    assert_string_equal(v[argv_find(v, "--") + 1], "/bin/sh");
    psy_sandbox_strv_free(v);
    rep = psy_sandbox_report(&sb);
    ll = cJSON_GetObjectItem(cJSON_GetObjectItem(rep, "protections"), "landlock_files");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(ll, "on")));
    assert_contains(cJSON_GetObjectItem(ll, "why")->valuestring, "helper missing");
    cJSON_Delete(rep);
    sb.extra_write = NULL; /* not owned here */
}

/* The helper's usage errors exit 2 and run nothing. */
static void test_sandbox_exec_usage(void **state)
{
    (void)state;
    char *no_ws[] = {"psyche-sandbox-exec", "--", "/bin/true", NULL};
    char *no_prog[] = {"psyche-sandbox-exec", "--workspace", "/tmp", "--", NULL};
    char *unknown[] = {"psyche-sandbox-exec", "--bogus", "--workspace", "/tmp", "--", "/bin/true", NULL};
    assert_int_equal(psy_sandbox_exec_main(3, no_ws), 2);
    assert_int_equal(psy_sandbox_exec_main(4, no_prog), 2);
    assert_int_equal(psy_sandbox_exec_main(6, unknown), 2);
}

int main(void)
{
    log_init("test", LOG_WARN, NULL);
    /* These tests check the Landlock layer (home reads, TMPDIR scratch,
     * background pids seen from outside): pin it. The bubblewrap mode is
     * tested by tests/security/ (run both with and without bubblewrap). */
    setenv("PSYCHE_SANDBOX", "landlock", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sandbox_inner_argv_and_report),
        cmocka_unit_test(test_sandbox_exec_usage),
        cmocka_unit_test_setup_teardown(test_path_confinement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sensitive_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocklist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocklist_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_timeout_kills_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_output_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_file_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edit_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_codebase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_outcomes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_before_the_call_is_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_nested_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sandbox_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_openat_beneath, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_by_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seccomp_refuses_tty_push, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
