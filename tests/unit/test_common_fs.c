/* test_common_fs.c - common/fs.c: mkdir -p (nested, existing, a file in the
 * way), atomic replacement (content, mode, no temporary left, the old file
 * kept on failure) and log tails (lines, bytes, character boundaries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fs.h"
#include "util.h"

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/psyche-fs-XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static char *path_of(buf *b, const char *rel)
{
    buf_reset(b);
    buf_printf(b, "%s/%s", root, rel);
    return b->data;
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_mkdir_p(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    struct stat st;
    assert_int_equal(fs_mkdir_p(path_of(&b, "a/b//c/"), 0700), 0);
    assert_int_equal(stat(path_of(&b, "a/b/c"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(fs_mkdir_p(path_of(&b, "a/b/c"), 0700), 0); /* exists: fine */
    put(path_of(&b, "file"), "x");
    assert_int_equal(fs_mkdir_p(path_of(&b, "file"), 0700), -ENOTDIR);
    assert_int_equal(fs_mkdir_p(path_of(&b, "file/sub"), 0700), -ENOTDIR);
    assert_int_equal(fs_mkdir_p("", 0700), -EINVAL);
    assert_int_equal(fs_mkdir_parent(path_of(&b, "p/q/memories.db"), 0700), 0);
    assert_int_equal(stat(path_of(&b, "p/q"), &st), 0);
    assert_int_not_equal(stat(path_of(&b, "p/q/memories.db"), &st), 0);
    assert_int_equal(fs_mkdir_parent("plain.db", 0700), 0);
    buf_free(&b);
}

static size_t entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void test_write_atomic(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    char *text = NULL;
    size_t len;
    const char *p = path_of(&b, "f.txt");
    assert_int_equal(fs_write_file_atomic(p, "one\n", 4, 0640), 0);
    assert_int_equal(read_file_all(p, 100, &text, &len), 0);
    assert_string_equal(text, "one\n");
    free(text);
    assert_int_equal(fs_write_file_atomic(p, "two\0x", 5, 0600), 0); /* binary, NUL inside */
    assert_int_equal(read_file_all(p, 100, &text, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(text, "two\0x", 5);
    free(text);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(entries(root), 1); /* no temporary file left behind */
    /* a folder in the way: the rename fails, nothing is left behind */
    assert_int_equal(fs_mkdir_p(path_of(&b, "d/sub"), 0700), 0);
    assert_int_not_equal(fs_write_file_atomic(path_of(&b, "d"), "x", 1, 0600), 0);
    assert_int_equal(entries(root), 2);
    assert_int_equal(fs_write_file_atomic(path_of(&b, "missing/f"), "x", 1, 0600), -ENOENT);
    buf_free(&b);
}

static void test_tail(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    char *t = NULL;
    size_t len;
    const char *p = path_of(&b, "log");
    put(p, "l1\nl2\nl3\nl4\n");
    assert_int_equal(fs_file_tail(p, 0, 2, &t, &len), 0);
    assert_string_equal(t, "l3\nl4\n");
    assert_int_equal(len, 6);
    free(t);
    assert_int_equal(fs_file_tail(p, 0, 0, &t, NULL), 0);
    assert_string_equal(t, "l1\nl2\nl3\nl4\n");
    free(t);
    assert_int_equal(fs_file_tail(p, 0, 10, &t, NULL), 0);
    assert_string_equal(t, "l1\nl2\nl3\nl4\n");
    free(t);
    put(p, "x\n\xe2\x82\xac\xe2\x82\xac"); /* € €: the last 5 bytes start inside the first € */
    assert_int_equal(fs_file_tail(p, 5, 0, &t, NULL), 0);
    assert_string_equal(t, "\xe2\x82\xac");
    free(t);
    put(p, "");
    assert_int_equal(fs_file_tail(p, 0, 3, &t, &len), 0);
    assert_int_equal(len, 0);
    free(t);
    assert_int_equal(fs_file_tail(path_of(&b, "nope"), 0, 3, &t, NULL), -ENOENT);
    assert_int_equal(fs_file_tail(root, 0, 3, &t, NULL), -EINVAL);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
