/* SPDX-License-Identifier: MIT */
/* tests/unit/test-chardev.c - backends, front-ends, mux escapes, sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "chardev/chardev.h"
#include "common/loop.h"
#include "common/opts.h"

struct fe_rec {
    char in[4096];
    size_t in_len;
    size_t room; /* what can_read answers */
    int opened, closed, mux_in, mux_out, brk;
};

static size_t rec_can_read(void *opaque)
{
    return ((struct fe_rec *)opaque)->room;
}

static void rec_read(void *opaque, const uint8_t *src, size_t len)
{
    struct fe_rec *r = opaque;

    assert_true(len <= r->room);
    memcpy(r->in + r->in_len, src, len);
    r->in_len += len;
    r->room -= len;
}

static void rec_event(void *opaque, enum chr_event ev)
{
    struct fe_rec *r = opaque;

    r->opened += ev == CHR_EVENT_OPENED;
    r->closed += ev == CHR_EVENT_CLOSED;
    r->mux_in += ev == CHR_EVENT_MUX_IN;
    r->mux_out += ev == CHR_EVENT_MUX_OUT;
    r->brk += ev == CHR_EVENT_BREAK;
}

static const struct chr_fe_ops rec_ops = {rec_can_read, rec_read, rec_event};

static int quits;

static void on_quit(void *opaque)
{
    quits++;
}

struct env {
    struct loop *l;
    struct chr_ctx *ctx;
    char dir[64];
};

static int env_setup(void **state)
{
    static const struct chr_host_ops host = {NULL, on_quit, NULL};
    struct env *e = calloc(1, sizeof(*e));

    assert_int_equal(loop_new(&e->l, NULL), 0);
    assert_int_equal(chr_ctx_new(e->l, &host, &e->ctx, NULL), 0);
    snprintf(e->dir, sizeof(e->dir), "/tmp/rrvm-chr-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    char cmd[128];

    chr_ctx_free(e->ctx);
    loop_free(e->l);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    assert_int_equal(system(cmd), 0);
    free(e);
    return 0;
}

static struct chr *new_chardev(struct env *e, const char *spec)
{
    struct opts *o = NULL;
    struct chr *c = NULL;
    struct err err = {0};
    int ret;

    assert_int_equal(opts_parse(chr_opts_list(), spec, 0, &o, &err), 0);
    ret = chr_new_opts(e->ctx, o, NULL, NULL, &c, &err);
    opts_free(o);
    if (ret < 0) {
        print_error("%s: %s\n", spec, err.msg);
    }
    assert_int_equal(ret, 0);
    return c;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

static void spin(struct env *e, int n)
{
    for (int i = 0; i < n; i++) {
        loop_run_once(e->l, 10000000);
    }
}

static void test_errors_and_lookup(void **state)
{
    struct env *e = *state;
    struct opts *o = NULL;
    struct chr *c = NULL;
    struct err err = {0};
    bool mon = true;

    assert_int_equal(opts_parse(chr_opts_list(), "null", 0, &o, &err), 0);
    assert_int_equal(chr_new_opts(e->ctx, o, NULL, NULL, &c, &err), -EINVAL);
    assert_string_equal(err.msg, "chardev: no id specified");
    opts_free(o);
    assert_int_equal(opts_parse(chr_opts_list(), "bogus,id=x", 0, &o, &err), 0);
    assert_int_equal(chr_new_opts(e->ctx, o, NULL, NULL, &c, &err), -EINVAL);
    assert_string_equal(err.msg, "'bogus' is not a valid char driver name");
    opts_free(o);
    c = new_chardev(e, "null,id=a");
    assert_ptr_equal(chr_find(e->ctx, "a"), c);
    assert_string_equal(chr_filename(c), "null");
    assert_int_equal(opts_parse(chr_opts_list(), "null,id=a", 0, &o, &err), 0);
    assert_int_equal(chr_new_opts(e->ctx, o, NULL, NULL, &c, &err), -EEXIST);
    assert_string_equal(err.msg, "Duplicate ID 'a' for chardev");
    opts_free(o);
    assert_int_equal(chr_new_legacy(e->ctx, "telepathy", "serial0", NULL, NULL,
                                    &mon, &c, &err),
                     -EINVAL);
    assert_string_equal(err.msg, "'telepathy' is not a valid char driver");
    assert_int_equal(chr_new_legacy(e->ctx, "chardev:a", "serial0", NULL, NULL,
                                    &mon, &c, &err),
                     0);
    assert_ptr_equal(c, chr_find(e->ctx, "a"));
    assert_int_equal(
        chr_new_legacy(e->ctx, "mon:vc", "mon0", NULL, NULL, &mon, &c, &err),
        0);
    assert_true(mon);
    assert_true(chr_is_mux(c));
    assert_string_equal(chr_filename(c), "vc");
    assert_int_equal(chr_count(e->ctx), 2);
    assert_int_equal(chr_remove(e->ctx, "a", &err), 0);
    assert_int_equal(chr_count(e->ctx), 1);
}

static void test_file_output(void **state)
{
    struct env *e = *state;
    struct chr_fe *fe = NULL;
    struct fe_rec r = {.room = 100};
    char spec[128], path[96], buf[64];
    struct chr *c;
    FILE *f;

    snprintf(path, sizeof(path), "%s/out.txt", e->dir);
    snprintf(spec, sizeof(spec), "file,id=f,path=%s", path);
    c = new_chardev(e, spec);
    assert_int_equal(chr_fe_attach(c, &rec_ops, &r, &fe, NULL), 0);
    assert_int_equal(r.opened, 1);
    assert_int_equal(chr_fe_attach(c, &rec_ops, &r, &fe, NULL), -EBUSY);
    assert_int_equal(chr_fe_write(fe, "hello\n", 6), 6);
    chr_ctx_flush(e->ctx, 100);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "hello\n");
    chr_fe_detach(fe);
}

static void test_unix_server(void **state)
{
    struct env *e = *state;
    struct chr_fe *fe = NULL;
    struct fe_rec r = {.room = 3};
    char spec[160], path[96], buf[16];
    struct stat st;
    struct chr *c;
    struct opts *o = NULL;
    struct err err = {0};
    mode_t old = umask(0);
    int fd;

    snprintf(path, sizeof(path), "%s/sock", e->dir);
    snprintf(spec, sizeof(spec), "socket,id=s,path=%s,server=on,wait=off",
             path);
    c = new_chardev(e, spec);
    umask(old);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(buf, sizeof(buf), "x");
    assert_int_equal(chr_fe_attach(c, &rec_ops, &r, &fe, NULL), 0);
    assert_int_equal(r.opened, 0);
    assert_false(chr_fe_connected(fe));
    assert_int_equal(chr_fe_write(fe, "lost", 4), 4);

    fd = unix_connect(path);
    spin(e, 2);
    assert_int_equal(r.opened, 1);
    assert_true(chr_fe_connected(fe));
    assert_string_equal(
        chr_filename(c),
        strcat(strcat(strcpy(spec, "unix:"), path), ",server=on"));
    /* Input is taken only as far as can_read allows. */
    assert_int_equal(write(fd, "abcdef", 6), 6);
    spin(e, 3);
    assert_int_equal(r.in_len, 3);
    r.room = 100;
    chr_fe_accept_input(fe);
    spin(e, 2);
    assert_int_equal(r.in_len, 6);
    assert_memory_equal(r.in, "abcdef", 6);
    assert_int_equal(chr_fe_write(fe, "out", 3), 3);
    assert_int_equal(read(fd, buf, sizeof(buf)), 3);
    close(fd);
    spin(e, 2);
    assert_int_equal(r.closed, 1);
    assert_false(chr_fe_connected(fe));
    /* Listening again. */
    fd = unix_connect(path);
    spin(e, 2);
    assert_int_equal(r.opened, 2);
    close(fd);
    spin(e, 2);
    chr_fe_detach(fe);
    assert_int_equal(chr_remove(e->ctx, "s", NULL), 0);

    /* A regular file at the path is never replaced. */
    fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    close(fd);
    snprintf(spec, sizeof(spec), "socket,id=s2,path=%s,server=on,wait=off",
             path);
    assert_int_equal(opts_parse(chr_opts_list(), spec, 0, &o, &err), 0);
    assert_int_equal(chr_new_opts(e->ctx, o, NULL, NULL, &c, &err), -EEXIST);
    opts_free(o);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void test_stalled_client(void **state)
{
    struct env *e = *state;
    struct chr_fe *fe = NULL;
    struct fe_rec r = {.room = 100};
    char spec[160], path[96];
    static char blob[64 << 10];
    size_t total = 0;
    struct chr *c;
    int fd;

    snprintf(path, sizeof(path), "%s/slow", e->dir);
    snprintf(spec, sizeof(spec), "socket,id=slow,path=%s,server=on,wait=off",
             path);
    c = new_chardev(e, spec);
    assert_int_equal(chr_fe_attach(c, &rec_ops, &r, &fe, NULL), 0);
    fd = unix_connect(path);
    spin(e, 2);
    assert_int_equal(r.opened, 1);
    /* 64 MiB to a client that never reads: never blocks, drops the excess. */
    for (int i = 0; i < 1024; i++) {
        total += chr_fe_write(fe, blob, sizeof(blob));
        loop_run_once(e->l, 0);
    }
    assert_true(total < 8u << 20);
    assert_true(total >= CHR_OUT_MAX);
    close(fd);
    spin(e, 2);
    chr_fe_detach(fe);
}

static void test_mux_escapes(void **state)
{
    struct env *e = *state;
    struct chr_fe *fe1 = NULL, *fe2 = NULL;
    struct fe_rec r1 = {.room = 100}, r2 = {.room = 100};
    char spec[160], path[96], buf[512];
    struct chr *c;
    ssize_t n;
    int fd;

    snprintf(path, sizeof(path), "%s/mux", e->dir);
    snprintf(spec, sizeof(spec),
             "socket,id=m,path=%s,server=on,wait=off,mux=on", path);
    c = new_chardev(e, spec);
    assert_int_equal(chr_fe_attach(c, &rec_ops, &r1, &fe1, NULL), 0);
    assert_int_equal(r1.mux_in, 1);
    assert_int_equal(chr_fe_attach(c, &rec_ops, &r2, &fe2, NULL), 0);
    chr_ctx_open_muxes(e->ctx);
    assert_int_equal(r1.mux_out, 1);
    assert_int_equal(r2.mux_in, 1);
    fd = unix_connect(path);
    spin(e, 2);
    assert_int_equal(r1.opened, 1);
    assert_int_equal(r2.opened, 1);
    /* The last attached has the focus; Ctrl-a c moves it; Ctrl-a Ctrl-a
     * sends Ctrl-a. */
    assert_int_equal(write(fd, "a\001cb\001\001", 6), 6);
    spin(e, 2);
    assert_int_equal(r2.in_len, 1);
    assert_int_equal(r2.in[0], 'a');
    assert_int_equal(r1.in_len, 2);
    assert_memory_equal(r1.in, "b\001", 2);
    assert_int_equal(r2.mux_out, 1);
    assert_int_equal(r1.mux_in, 2);
    /* Ctrl-a h: QEMU's help text, to the backend. */
    assert_int_equal(write(fd, "\001h", 2), 2);
    spin(e, 2);
    n = read(fd, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "\n\r"
                             "C-a h    print this help\n\r"
                             "C-a x    exit emulator\n\r"
                             "C-a s    save disk data back to file (if "
                             "-snapshot)\n\r"
                             "C-a t    toggle console timestamps\n\r"
                             "C-a b    send break (magic sysrq)\n\r"
                             "C-a c    switch between console and monitor\n\r"
                             "C-a C-a  sends C-a\n\r");
    /* Both front-ends write whatever the focus. */
    chr_fe_write(fe1, "1", 1);
    chr_fe_write(fe2, "2", 1);
    assert_int_equal(read(fd, buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "12", 2);
    /* Ctrl-a b, Ctrl-a x. */
    assert_int_equal(write(fd, "\001b\001x", 4), 4);
    spin(e, 2);
    assert_int_equal(r1.brk, 1);
    assert_int_equal(quits, 1);
    n = read(fd, buf, sizeof(buf));
    assert_int_equal(n, 18);
    assert_memory_equal(buf, "QEMU: Terminated\n\r", 18);
    close(fd);
    spin(e, 2);
    chr_fe_detach(fe1);
    chr_fe_detach(fe2);
}

static void test_telnet(void **state)
{
    static const uint8_t nego[] = {255, 251, 1, 255, 251, 3,
                                   255, 251, 0, 255, 253, 0};
    struct env *e = *state;
    struct chr_fe *fe = NULL;
    struct fe_rec r = {.room = 100};
    struct err err = {0};
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    uint8_t buf[64];
    struct chr *c = NULL;
    char spec[64];
    bool mon = false;
    int fd, port;

    /* Port 0: bind an ephemeral port, then find it through a probe. */
    for (port = 47100; port < 47200; port++) {
        snprintf(spec, sizeof(spec), "telnet:127.0.0.1:%d,server,nowait", port);
        if (chr_new_legacy(e->ctx, spec, "tn", NULL, NULL, &mon, &c, &err) ==
            0) {
            break;
        }
    }
    assert_non_null(c);
    snprintf(spec, sizeof(spec), "disconnected:telnet:127.0.0.1:%d,server=on",
             port);
    assert_string_equal(chr_filename(c), spec);
    assert_int_equal(chr_fe_attach(c, &rec_ops, &r, &fe, NULL), 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sl), 0);
    spin(e, 2);
    assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(nego));
    assert_memory_equal(buf, nego, sizeof(nego));
    assert_int_equal(write(fd, "a\377\377b\377\373\001c\377\363d", 11), 11);
    spin(e, 2);
    assert_int_equal(r.in_len, 5);
    assert_memory_equal(r.in, "a\377bcd", 5);
    assert_int_equal(r.brk, 1);
    close(fd);
    spin(e, 2);
    chr_fe_detach(fe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_errors_and_lookup, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_file_output, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_unix_server, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_stalled_client, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_mux_escapes, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_telnet, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
