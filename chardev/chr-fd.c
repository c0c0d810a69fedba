/* SPDX-License-Identifier: MIT */
/*
 * chardev/chr-fd.c - the descriptor backends: null, vc (output discarded),
 * stdio, file, pipe, pty and host serial ttys, with QEMU's messages.
 */
#include "chardev/chardev.h"
#include "chardev/chardev-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/opts.h"

/* A pty nobody has open is polled for a reader this often (QEMU: 1 s). */
#define PTY_POLL_NS 1000000000ull
/* Writes to a tty we do not own stay under its wake-up threshold. */
#define TTY_CHUNK 256

struct pty_state {
    int64_t timer;
};

bool chr_fd_backend_known(const char *backend)
{
    static const char *const names[] = {
        "null", "vc", "stdio", "file", "pipe", "pty", "serial", "tty", NULL};

    for (unsigned i = 0; names[i]; i++) {
        if (!strcmp(backend, names[i])) {
            return true;
        }
    }
    return false;
}

static const struct chr_driver null_driver = {"null", NULL, NULL, NULL};

/* QEMU's qemu_chr_set_echo_stdio(false) / tty_serial_init raw mode. */
static void tty_raw(struct chr *c, int fd, bool allow_signal)
{
    struct termios t;

    if (!isatty(fd) || tcgetattr(fd, &t) < 0) {
        return;
    }
    c->saved_tty = t;
    c->tty_saved = true;
    c->tty_fd = fd;
    t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                             ICRNL | IXON);
    t.c_oflag |= OPOST;
    t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | IEXTEN);
    if (!allow_signal) {
        t.c_lflag &= ~(unsigned)ISIG;
    }
    t.c_cflag &= ~(unsigned)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(fd, TCSANOW, &t);
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- pty ---- */

static void pty_check(void *opaque);

static void pty_wait_reader(struct chr *c)
{
    struct pty_state *s = c->drv_state;

    c->connected = false;
    c->out_off = 0;
    c->out_len = 0;
    chr_update_mask(c);
    if (s->timer <= 0) {
        s->timer = loop_timer_add(c->ctx->loop, loop_now_ns() + PTY_POLL_NS,
                                  pty_check, c);
    }
}

/* Does someone hold the slave open? (POLLHUP while nobody does.) */
static void pty_check(void *opaque)
{
    struct chr *c = opaque;
    struct pty_state *s = c->drv_state;
    struct pollfd p = {c->in_fd, POLLIN, 0};

    s->timer = 0;
    if (poll(&p, 1, 0) >= 0 && (p.revents & POLLHUP)) {
        pty_wait_reader(c);
        return;
    }
    if (!c->connected) {
        c->connected = true;
        chr_event_send(c, CHR_EVENT_OPENED);
    }
    chr_update_mask(c);
}

static void pty_hangup(struct chr *c)
{
    bool was = c->connected;

    pty_wait_reader(c);
    if (was) {
        chr_event_send(c, CHR_EVENT_CLOSED);
    }
}

static void pty_close(struct chr *c)
{
    struct pty_state *s = c->drv_state;

    if (s) {
        loop_timer_del(c->ctx->loop, s->timer);
        mem_free(s);
        c->drv_state = NULL;
    }
}

static const struct chr_driver pty_driver = {"pty", pty_hangup, pty_close,
                                             NULL};

static int open_pty(struct chr *c, chr_info_fn *info, void *info_opaque,
                    struct err *err)
{
    struct pty_state *s;
    struct termios t;
    char line[CHR_FILENAME_MAX + 64];
    const char *name;
    int fd, ret;

    s = mem_calloc(1, sizeof(*s));
    if (!s) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    c->drv_state = s;
    fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
        ret = -errno;
        if (fd >= 0) {
            close(fd);
        }
        return err_set(err, ret, "Failed to create PTY: %s", strerror(-ret));
    }
    name = ptsname(fd);
    set_nonblock(fd);
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    snprintf(c->filename, sizeof(c->filename), "pty:%s", name ? name : "");
    c->owns_fds = true;
    ret = chr_fds_set(c, fd, fd, err);
    if (ret < 0) {
        return ret;
    }
    snprintf(line, sizeof(line), "char device redirected to %s (label %s)",
             name ? name : "", c->label);
    if (info) {
        info(info_opaque, false, line);
    }
    pty_check(c);
    return 0;
}

/* ---- the others ---- */

static int open_out_file(const char *path, bool append, int *out,
                         struct err *err)
{
    int fd = open(
        path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
        0666);

    if (fd < 0) {
        return err_set(err, -errno, "Could not open '%s': %s", path,
                       strerror(errno));
    }
    *out = fd;
    return 0;
}

static int open_pipe(struct chr *c, const char *path, struct err *err)
{
    size_t n = strlen(path) + 5;
    char *in_path = mem_alloc(n), *out_path = mem_alloc(n);
    int in = -1, out = -1, ret;

    if (!in_path || !out_path) {
        mem_free(in_path);
        mem_free(out_path);
        return err_set(err, -ENOMEM, "out of memory");
    }
    snprintf(in_path, n, "%s.in", path);
    snprintf(out_path, n, "%s.out", path);
    out = open(out_path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    in = open(in_path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
    mem_free(in_path);
    mem_free(out_path);
    if (in < 0 || out < 0) {
        if (in >= 0) {
            close(in);
        }
        if (out >= 0) {
            close(out);
        }
        in = out = open(path, O_RDWR | O_CLOEXEC | O_NONBLOCK);
        if (in < 0) {
            return err_set(err, -errno, "Could not open '%s': %s", path,
                           strerror(errno));
        }
    }
    c->owns_fds = true;
    ret = chr_fds_set(c, in, out, err);
    if (ret < 0 && c->in_fd < 0) {
        close(in);
        if (out != in) {
            close(out);
        }
    }
    return ret;
}

int chr_open_fd_backend(struct chr_ctx *ctx, const char *backend,
                        const struct opts *o, const char *label,
                        chr_info_fn *info, void *info_opaque, struct chr **out,
                        struct err *err)
{
    const char *path = opts_get(o, "path");
    struct chr *c = NULL;
    int fd = -1, ret;

    if (!strcmp(backend, "pty")) {
        ret = chr_alloc(ctx, label, &pty_driver, &c, err);
        if (ret == 0) {
            ret = open_pty(c, info, info_opaque, err);
        }
        goto done;
    }
    if ((!strcmp(backend, "file") || !strcmp(backend, "pipe") ||
         !strcmp(backend, "serial") || !strcmp(backend, "tty")) &&
        !path) {
        return err_set(err, -EINVAL, "chardev: %s: no %s given", backend,
                       strcmp(backend, "file") ? "device path" : "filename");
    }
    if (!strcmp(backend, "stdio") && ctx->stdio_used) {
        return err_set(err, -EBUSY,
                       "cannot use stdio by multiple character devices");
    }
    ret = chr_alloc(ctx, label, &null_driver, &c, err);
    if (ret < 0) {
        return ret;
    }
    snprintf(c->filename, sizeof(c->filename), "%s", backend);
    if (!strcmp(backend, "null") || !strcmp(backend, "vc")) {
        goto done;
    }
    if (!strcmp(backend, "stdio")) {
        bool sig = true;

        ret = opts_get_bool(o, "signal", true, &sig, err);
        if (ret < 0) {
            goto done;
        }
        ctx->stdio_used = true;
        c->is_stdio = true;
        tty_raw(c, STDIN_FILENO, sig);
        c->out_chunk = isatty(STDOUT_FILENO) ? TTY_CHUNK : PIPE_BUF;
        ret = chr_fds_set(c, STDIN_FILENO, STDOUT_FILENO, err);
        goto done;
    }
    if (!strcmp(backend, "file")) {
        bool append = false;

        ret = opts_get_bool(o, "append", false, &append, err);
        if (ret == 0) {
            ret = open_out_file(path, append, &fd, err);
        }
        if (ret == 0) {
            c->owns_fds = true;
            ret = chr_fds_set(c, -1, fd, err);
            if (ret < 0 && c->out_fd < 0) {
                close(fd);
            }
        }
        goto done;
    }
    if (!strcmp(backend, "pipe")) {
        ret = open_pipe(c, path, err);
        goto done;
    }
    /* serial / tty: a host serial device in raw mode. */
    fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        ret = err_set(err, -errno, "Could not open '%s': %s", path,
                      strerror(errno));
        goto done;
    }
    tty_raw(c, fd, false);
    snprintf(c->filename, sizeof(c->filename), "serial");
    c->owns_fds = true;
    ret = chr_fds_set(c, fd, fd, err);
    if (ret < 0 && c->in_fd < 0) {
        close(fd);
    }
done:
    if (ret < 0) {
        chr_destroy(c);
        return ret;
    }
    *out = c;
    return 0;
}
