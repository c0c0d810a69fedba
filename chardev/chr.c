/* SPDX-License-Identifier: MIT */
/*
 * chardev/chr.c - the chardev core: the registry, front-ends, input
 * dispatch from the loop, non-blocking output with a bounded buffer, and
 * the -chardev / legacy spellings.
 *
 * DESIGN NOTES
 * 1. Every descriptor is served by the loop; nothing here blocks except
 *    chr_ctx_flush() (bounded), a server's wait=on accept at creation and
 *    a local backend's full output buffer (3).
 * 2. Input is read only while the front-end can take it (can_read > 0);
 *    otherwise the fd's read interest is dropped until accept_input.
 * 3. Output is written at once when possible; the rest is kept up to
 *    CHR_OUT_MAX and written when the fd is writable. Past it, a socket
 *    drops and counts the excess (a stalled client never stops the
 *    guest), while a local backend (stdio, file, pipe, tty, pty) waits in
 *    poll(POLLOUT) until its reader makes room, as QEMU blocks: nothing
 *    is lost and the guest, stopped meanwhile, sees no difference.
 *    Without a peer, output is discarded.
 */
#include "chardev/chardev.h"
#include "chardev/chardev-int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/opts.h"

#define CHR_READ_CHUNK 4096

static const struct opts_desc chardev_desc[] = {
    {"backend", OPTS_STRING},
    {"path", OPTS_STRING},
    {"host", OPTS_STRING},
    {"port", OPTS_STRING},
    {"fd", OPTS_STRING},
    {"local", OPTS_BOOL},
    {"localaddr", OPTS_STRING},
    {"localport", OPTS_STRING},
    {"to", OPTS_NUMBER},
    {"ipv4", OPTS_BOOL},
    {"ipv6", OPTS_BOOL},
    {"wait", OPTS_BOOL},
    {"server", OPTS_BOOL},
    {"delay", OPTS_BOOL},
    {"nodelay", OPTS_BOOL},
    {"reconnect", OPTS_NUMBER},
    {"telnet", OPTS_BOOL},
    {"tn3270", OPTS_BOOL},
    {"tls-creds", OPTS_STRING},
    {"tls-authz", OPTS_STRING},
    {"websocket", OPTS_BOOL},
    {"width", OPTS_NUMBER},
    {"height", OPTS_NUMBER},
    {"cols", OPTS_NUMBER},
    {"rows", OPTS_NUMBER},
    {"mux", OPTS_BOOL},
    {"signal", OPTS_BOOL},
    {"name", OPTS_STRING},
    {"debug", OPTS_NUMBER},
    {"size", OPTS_SIZE},
    {"chardev", OPTS_STRING},
    {"append", OPTS_BOOL},
    {"logfile", OPTS_STRING},
    {"logappend", OPTS_BOOL},
    {"mouse", OPTS_BOOL},
    {"clipboard", OPTS_BOOL},
    {"abstract", OPTS_BOOL},
    {"tight", OPTS_BOOL},
    {NULL, 0},
};

/* The -chardev option list (QEMU's qemu_chardev_opts). */
static const struct opts_list chardev_list = {"chardev", "backend",
                                              chardev_desc};

static void chr_fd_ready(void *opaque, int fd, unsigned events);

const struct opts_list *chr_opts_list(void)
{
    return &chardev_list;
}

int chr_ctx_new(struct loop *loop, const struct chr_host_ops *host,
                struct chr_ctx **out, struct err *err)
{
    struct chr_ctx *ctx;

    CHECK_ARG(loop && out);
    ctx = mem_calloc(1, sizeof(*ctx));
    if (!ctx) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    ctx->loop = loop;
    if (host) {
        ctx->host = *host;
    }
    *out = ctx;
    return 0;
}

void chr_destroy(struct chr *c)
{
    if (!c) {
        return;
    }
    for (unsigned i = 0; i < CHR_MUX_MAX; i++) {
        if (c->fes[i]) {
            c->fes[i]->chr = NULL;
        }
    }
    if (c->drv && c->drv->close) {
        c->drv->close(c);
    }
    if (c->tty_saved) {
        tcsetattr(c->tty_fd, TCSANOW, &c->saved_tty);
    }
    if (c->owns_fds) {
        int in = c->in_fd, out = c->out_fd;

        chr_fds_clear(c);
        if (in >= 0) {
            close(in);
        }
        if (out >= 0 && out != in) {
            close(out);
        }
    } else {
        chr_fds_clear(c);
    }
    if (c->is_stdio && c->ctx) {
        c->ctx->stdio_used = false;
    }
    mem_free(c->out);
    mem_free(c->label);
    mem_free(c);
}

void chr_ctx_free(struct chr_ctx *ctx)
{
    if (!ctx) {
        return;
    }
    for (size_t i = ctx->nb_chrs; i-- > 0;) {
        chr_destroy(ctx->chrs[i]);
    }
    mem_free(ctx->chrs);
    mem_free(ctx);
}

int chr_alloc(struct chr_ctx *ctx, const char *label,
              const struct chr_driver *drv, struct chr **out, struct err *err)
{
    struct chr *c = mem_calloc(1, sizeof(*c));

    if (!c) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    c->label = mem_strdup(label);
    c->out = mem_alloc(CHR_OUT_MAX);
    if (!c->label || !c->out) {
        mem_free(c->label);
        mem_free(c->out);
        mem_free(c);
        return err_set(err, -ENOMEM, "out of memory");
    }
    c->ctx = ctx;
    c->drv = drv;
    c->in_fd = -1;
    c->out_fd = -1;
    c->tty_fd = -1;
    c->focus = -1;
    c->connected = true;
    *out = c;
    return 0;
}

static int chr_register(struct chr_ctx *ctx, struct chr *c, struct err *err)
{
    struct chr **n = mem_realloc(ctx->chrs, (ctx->nb_chrs + 1) * sizeof(*n));

    if (!n) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    ctx->chrs = n;
    ctx->chrs[ctx->nb_chrs++] = c;
    return 0;
}

/* ---- descriptors and the loop ---- */

static size_t fe_can_read(struct chr *c)
{
    struct chr_fe *fe;

    if (c->mux) {
        return chr_mux_can_read(c);
    }
    fe = c->fes[0];
    if (!fe) {
        return 0;
    }
    if (!fe->ops->can_read) {
        return CHR_READ_CHUNK;
    }
    return fe->ops->can_read(fe->opaque);
}

void chr_update_mask(struct chr *c)
{
    struct loop *l = c->ctx->loop;
    unsigned in_mask = 0, out_mask = 0;

    if (c->in_fd >= 0 && c->connected) {
        c->in_paused = fe_can_read(c) == 0;
        if (!c->in_paused) {
            in_mask = LOOP_READ;
        }
    }
    if (c->out_fd >= 0 && c->out_len) {
        out_mask = LOOP_WRITE;
    }
    if (c->in_fd >= 0 && c->in_fd == c->out_fd) {
        loop_fd_mask(l, c->in_fd, in_mask | out_mask);
        return;
    }
    if (c->in_fd >= 0) {
        loop_fd_mask(l, c->in_fd, in_mask);
    }
    if (c->out_fd >= 0) {
        loop_fd_mask(l, c->out_fd, out_mask);
    }
}

int chr_fds_set(struct chr *c, int in_fd, int out_fd, struct err *err)
{
    int ret;

    c->in_fd = in_fd;
    c->out_fd = out_fd;
    if (in_fd >= 0) {
        ret = loop_fd_set(c->ctx->loop, in_fd, 0, chr_fd_ready, c, err);
        if (ret < 0) {
            return ret;
        }
    }
    if (out_fd >= 0 && out_fd != in_fd) {
        ret = loop_fd_set(c->ctx->loop, out_fd, 0, chr_fd_ready, c, err);
        if (ret < 0) {
            return ret;
        }
    }
    chr_update_mask(c);
    return 0;
}

void chr_fds_clear(struct chr *c)
{
    if (c->in_fd >= 0) {
        loop_fd_del(c->ctx->loop, c->in_fd);
    }
    if (c->out_fd >= 0) {
        loop_fd_del(c->ctx->loop, c->out_fd);
    }
    c->in_fd = -1;
    c->out_fd = -1;
    c->out_off = 0;
    c->out_len = 0;
}

static void chr_hangup(struct chr *c)
{
    if (c->drv && c->drv->hangup) {
        c->drv->hangup(c);
        return;
    }
    /* Input ended (stdin closed, file): keep the output side. */
    if (c->in_fd >= 0 && c->in_fd != c->out_fd) {
        loop_fd_del(c->ctx->loop, c->in_fd);
        c->in_fd = -1;
    }
}

static void fe_deliver(struct chr *c, const uint8_t *buf, size_t len)
{
    struct chr_fe *fe = c->fes[0];

    if (c->mux) {
        chr_mux_input(c, buf, len);
    } else if (fe && fe->ops->read) {
        fe->ops->read(fe->opaque, buf, len);
    }
}

static void chr_do_read(struct chr *c)
{
    uint8_t buf[CHR_READ_CHUNK];
    size_t room = fe_can_read(c);
    ssize_t n;

    if (room == 0) {
        chr_update_mask(c);
        return;
    }
    if (room > sizeof(buf)) {
        room = sizeof(buf);
    }
    n = read(c->in_fd, buf, room);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        chr_hangup(c);
        return;
    }
    if (c->drv && c->drv->filter) {
        n = (ssize_t)c->drv->filter(c, buf, (size_t)n);
    }
    if (n > 0) {
        fe_deliver(c, buf, (size_t)n);
    }
}

/* Write what the buffer holds; returns -EPIPE if the peer is gone. */
static int chr_out_drain(struct chr *c)
{
    while (c->out_len && c->out_fd >= 0) {
        size_t len = c->out_len;
        ssize_t n;

        if (c->out_chunk) {
            struct pollfd p = {c->out_fd, POLLOUT, 0};

            if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLOUT)) {
                break;
            }
            if (len > c->out_chunk) {
                len = c->out_chunk;
            }
        }
        if (c->out_socket) {
            n = send(c->out_fd, c->out + c->out_off, len,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            n = write(c->out_fd, c->out + c->out_off, len);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        if (n <= 0) {
            c->out_off = 0;
            c->out_len = 0;
            return -EPIPE;
        }
        c->out_off += (size_t)n;
        c->out_len -= (size_t)n;
    }
    if (!c->out_len) {
        c->out_off = 0;
    }
    return 0;
}

static void chr_fd_ready(void *opaque, int fd, unsigned events)
{
    struct chr *c = opaque;

    if ((events & LOOP_WRITE) && fd == c->out_fd) {
        if (chr_out_drain(c) < 0) {
            chr_hangup(c);
            return;
        }
        chr_update_mask(c);
    }
    if ((events & LOOP_READ) && fd == c->in_fd) {
        chr_do_read(c);
    }
}

/*
 * Wait until a local backend's fd takes more output, then write. Returns
 * -EPIPE if the reader is gone, -EINTR if a signal asks the program to
 * quit (chr_host_ops.interrupted).
 */
static int chr_out_wait(struct chr *c)
{
    const struct chr_host_ops *h = &c->ctx->host;
    struct pollfd p = {c->out_fd, POLLOUT, 0};

    if (poll(&p, 1, -1) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
        return h->interrupted && h->interrupted(h->opaque) ? -EINTR : 0;
    }
    if (p.revents & (POLLERR | POLLNVAL)) {
        return -EPIPE;
    }
    return chr_out_drain(c);
}

size_t chr_write_raw(struct chr *c, const void *src, size_t len)
{
    const uint8_t *p = src;
    size_t done = 0, room, n;
    int ret;

    if (!c->connected || c->out_fd < 0) {
        return len;
    }
    for (;;) {
        if (c->out_off &&
            c->out_off + c->out_len + (len - done) > CHR_OUT_MAX) {
            memmove(c->out, c->out + c->out_off, c->out_len);
            c->out_off = 0;
        }
        room = CHR_OUT_MAX - c->out_off - c->out_len;
        n = len - done < room ? len - done : room;
        memcpy(c->out + c->out_off + c->out_len, p + done, n);
        c->out_len += n;
        done += n;
        if (chr_out_drain(c) < 0) {
            chr_hangup(c);
            return len;
        }
        if (done == len) {
            break;
        }
        if (c->out_socket) {
            /* A network client never stops the guest: drop the excess. */
            c->out_dropped += len - done;
            break;
        }
        /* A local backend (stdio, file, pipe, tty, pty) waits for its
         * reader, as QEMU blocks; the guest does not run meanwhile. */
        ret = chr_out_wait(c);
        if (ret == -EINTR) {
            c->out_dropped += len - done;
            break;
        }
        if (ret < 0) {
            chr_hangup(c);
            return len;
        }
        if (!c->connected || c->out_fd < 0) {
            return len;
        }
    }
    chr_update_mask(c);
    return done;
}

void chr_event_send(struct chr *c, enum chr_event ev)
{
    for (unsigned i = 0; i < CHR_MUX_MAX; i++) {
        struct chr_fe *fe = c->fes[i];

        if (fe && fe->ops->event) {
            fe->ops->event(fe->opaque, ev);
        }
        if (!c->mux) {
            break;
        }
    }
}

void chr_ctx_open_muxes(struct chr_ctx *ctx)
{
    if (!ctx || ctx->muxes_open) {
        return;
    }
    ctx->muxes_open = true;
    for (size_t i = 0; i < ctx->nb_chrs; i++) {
        struct chr *c = ctx->chrs[i];

        if (c->mux && c->connected) {
            chr_event_send(c, CHR_EVENT_OPENED);
        }
    }
}

void chr_ctx_flush(struct chr_ctx *ctx, int timeout_ms)
{
    uint64_t end = loop_now_ns() + (uint64_t)timeout_ms * 1000000ull;

    if (!ctx) {
        return;
    }
    for (;;) {
        bool pending = false;

        for (size_t i = 0; i < ctx->nb_chrs; i++) {
            struct chr *c = ctx->chrs[i];

            if (c->out_len && chr_out_drain(c) < 0) {
                c->out_len = 0;
            }
            pending |= c->out_len != 0;
        }
        if (!pending || loop_now_ns() >= end) {
            return;
        }
        usleep(1000);
    }
}

/* ---- creation ---- */

static int chr_check_new_id(struct chr_ctx *ctx, const char *id,
                            struct err *err)
{
    if (chr_find(ctx, id)) {
        return err_set(err, -EEXIST, "Duplicate ID '%s' for chardev", id);
    }
    return 0;
}

static int chr_new_common(struct chr_ctx *ctx, const struct opts *o,
                          const char *label, chr_info_fn *info,
                          void *info_opaque, struct chr **out, struct err *err)
{
    const char *backend = opts_get(o, "backend");
    struct chr *c = NULL;
    bool mux = false;
    int ret;

    ret = opts_get_bool(o, "mux", false, &mux, err);
    if (ret < 0) {
        return ret;
    }
    if (!backend) {
        return err_set(err, -EINVAL, "chardev: \"%s\" missing backend", label);
    }
    ret = chr_check_new_id(ctx, label, err);
    if (ret < 0) {
        return ret;
    }
    if (!strcmp(backend, "socket")) {
        ret = chr_open_socket(ctx, o, label, info, info_opaque, &c, err);
    } else if (chr_fd_backend_known(backend)) {
        ret = chr_open_fd_backend(ctx, backend, o, label, info, info_opaque, &c,
                                  err);
    } else {
        return err_set(err, -EINVAL, "'%s' is not a valid char driver name",
                       backend);
    }
    if (ret < 0) {
        return ret;
    }
    c->mux = mux;
    ret = chr_register(ctx, c, err);
    if (ret < 0) {
        chr_destroy(c);
        return ret;
    }
    *out = c;
    return 0;
}

int chr_new_opts(struct chr_ctx *ctx, const struct opts *o, chr_info_fn *info,
                 void *info_opaque, struct chr **out, struct err *err)
{
    const char *id;

    CHECK_ARG(ctx && o && out);
    id = opts_get(o, "id");
    if (!id) {
        return err_set(err, -EINVAL, "chardev: no id specified");
    }
    return chr_new_common(ctx, o, id, info, info_opaque, out, err);
}

/* Append "key=value" (value with ',' doubled) to @buf. */
static int spec_add(char *buf, size_t cap, const char *key, const char *val)
{
    size_t n = strlen(buf);

    if (n && n < cap) {
        buf[n++] = ',';
    }
    n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s=", key);
    for (; *val && n + 2 < cap; val++) {
        buf[n++] = *val;
        if (*val == ',') {
            buf[n++] = ',';
        }
    }
    if (n >= cap) {
        return -ERANGE;
    }
    buf[n] = '\0';
    return 0;
}

/* Translate a legacy spelling into a -chardev option string in @buf. */
static int legacy_to_opts(const char *spec, char *buf, size_t cap,
                          struct err *err)
{
    static const char *const plain[] = {"stdio", "null", "pty",
                                        "vc",    "none", NULL};
    const char *p;
    int ret = 0;

    buf[0] = '\0';
    for (unsigned i = 0; plain[i]; i++) {
        if (!strcmp(spec, plain[i])) {
            return spec_add(buf, cap, "backend",
                            strcmp(spec, "none") ? spec : "null");
        }
    }
    if (!strncmp(spec, "vc:", 3)) {
        return spec_add(buf, cap, "backend", "vc");
    }
    if (!strncmp(spec, "file:", 5)) {
        ret = spec_add(buf, cap, "backend", "file");
        return ret < 0 ? ret : spec_add(buf, cap, "path", spec + 5);
    }
    if (!strncmp(spec, "pipe:", 5)) {
        ret = spec_add(buf, cap, "backend", "pipe");
        return ret < 0 ? ret : spec_add(buf, cap, "path", spec + 5);
    }
    if (!strncmp(spec, "/dev/", 5)) {
        ret = spec_add(buf, cap, "backend", "serial");
        return ret < 0 ? ret : spec_add(buf, cap, "path", spec);
    }
    if (!strncmp(spec, "tcp:", 4) || !strncmp(spec, "telnet:", 7)) {
        char host[65] = "", port[33] = "";
        int pos = 0;

        p = strchr(spec, ':') + 1;
        if (sscanf(p, "%64[^:]:%32[^,]%n", host, port, &pos) < 2) {
            host[0] = '\0';
            pos = 0;
            if (sscanf(p, ":%32[^,]%n", port, &pos) < 1) {
                return err_set(err, -EINVAL, "'%s' is not a valid char driver",
                               spec);
            }
        }
        ret = spec_add(buf, cap, "backend", "socket");
        if (ret == 0) {
            ret = spec_add(buf, cap, "host", host);
        }
        if (ret == 0) {
            ret = spec_add(buf, cap, "port", port);
        }
        if (ret == 0 && spec[0] == 't' && spec[1] == 'e') {
            ret = spec_add(buf, cap, "telnet", "on");
        }
        if (ret == 0 && p[pos] == ',') {
            size_t n = strlen(buf);

            if (n + strlen(p + pos) + 1 > cap) {
                return -ERANGE;
            }
            strcat(buf, p + pos);
        }
        return ret;
    }
    if (!strncmp(spec, "unix:", 5)) {
        size_t n;

        ret = spec_add(buf, cap, "backend", "socket");
        n = strlen(buf);
        /* The rest parses with "path" implied: keep its escapes. */
        if (ret == 0 && n + strlen(spec + 5) + 7 > cap) {
            return -ERANGE;
        }
        if (ret == 0) {
            snprintf(buf + n, cap - n, ",path=%s", spec + 5);
        }
        return ret;
    }
    return err_set(err, -EINVAL, "'%s' is not a valid char driver", spec);
}

int chr_new_legacy(struct chr_ctx *ctx, const char *spec, const char *label,
                   chr_info_fn *info, void *info_opaque, bool *mon_out,
                   struct chr **out, struct err *err)
{
    static const struct opts_list legacy_list = {"chardev", NULL, chardev_desc};
    struct opts *o = NULL;
    char *buf;
    size_t cap;
    bool mon = false;
    int ret;

    CHECK_ARG(ctx && spec && label && out);
    if (!strncmp(spec, "chardev:", 8)) {
        struct chr *c = chr_find(ctx, spec + 8);

        if (!c) {
            return err_set(err, -ENOENT, "chardev '%s' not found", spec + 8);
        }
        *out = c;
        return 0;
    }
    if (!strncmp(spec, "mon:", 4)) {
        spec += 4;
        mon = true;
    }
    cap = 2 * strlen(spec) + 128;
    buf = mem_alloc(cap);
    if (!buf) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    ret = legacy_to_opts(spec, buf, cap, err);
    if (ret == -ERANGE) {
        ret = err_set(err, -ERANGE, "'%s' is too long", spec);
    }
    if (ret == 0 && mon) {
        ret = spec_add(buf, cap, "mux", "on");
        if (ret == 0 && !strcmp(spec, "stdio")) {
            ret = spec_add(buf, cap, "signal", "off");
        }
    }
    if (ret == 0) {
        ret = opts_parse(&legacy_list, buf, 0, &o, err);
    }
    mem_free(buf);
    if (ret < 0) {
        return ret;
    }
    ret = chr_new_common(ctx, o, label, info, info_opaque, out, err);
    opts_free(o);
    if (ret == 0 && mon_out) {
        *mon_out = mon;
    }
    return ret;
}

/* ---- lookups ---- */

struct chr *chr_find(struct chr_ctx *ctx, const char *id)
{
    for (size_t i = 0; ctx && i < ctx->nb_chrs; i++) {
        if (!strcmp(ctx->chrs[i]->label, id)) {
            return ctx->chrs[i];
        }
    }
    return NULL;
}

size_t chr_count(const struct chr_ctx *ctx)
{
    return ctx ? ctx->nb_chrs : 0;
}

struct chr *chr_at(const struct chr_ctx *ctx, size_t i)
{
    return ctx && i < ctx->nb_chrs ? ctx->chrs[i] : NULL;
}

const char *chr_label(const struct chr *c)
{
    return c->label;
}

const char *chr_filename(const struct chr *c)
{
    return c->filename;
}

bool chr_fe_attached(const struct chr *c)
{
    return c->nb_fes > 0;
}

bool chr_is_mux(const struct chr *c)
{
    return c->mux;
}

int chr_remove(struct chr_ctx *ctx, const char *id, struct err *err)
{
    for (size_t i = 0; ctx && i < ctx->nb_chrs; i++) {
        struct chr *c = ctx->chrs[i];

        if (strcmp(c->label, id)) {
            continue;
        }
        if (c->nb_fes) {
            return err_set(err, -EBUSY, "Chardev '%s' is busy", id);
        }
        memmove(&ctx->chrs[i], &ctx->chrs[i + 1],
                (ctx->nb_chrs - i - 1) * sizeof(ctx->chrs[0]));
        ctx->nb_chrs--;
        chr_destroy(c);
        return 0;
    }
    return err_set(err, -ENOENT, "Chardev '%s' not found", id);
}

int chr_send_break(struct chr_ctx *ctx, const char *id, struct err *err)
{
    static const char base[] = "-base";
    struct chr *c = chr_find(ctx, id);
    size_t n = strlen(id);

    if (c && c->mux) {
        chr_mux_send_focus_event(c, CHR_EVENT_BREAK);
        return 0;
    }
    if (c) {
        chr_event_send(c, CHR_EVENT_BREAK);
        return 0;
    }
    /* A mux and its backend are one struct chr here; QEMU names the
     * backend "ID-base". */
    if (n > sizeof(base) - 1 && !strcmp(id + n - (sizeof(base) - 1), base)) {
        for (size_t i = 0; ctx && i < ctx->nb_chrs; i++) {
            c = ctx->chrs[i];
            if (c->mux && strlen(c->label) == n - (sizeof(base) - 1) &&
                !strncmp(c->label, id, n - (sizeof(base) - 1))) {
                chr_event_send(c, CHR_EVENT_BREAK);
                return 0;
            }
        }
    }
    return err_set(err, -ENOENT, "Chardev '%s' not found", id);
}

/* ---- front-ends ---- */

int chr_fe_attach(struct chr *c, const struct chr_fe_ops *ops, void *opaque,
                  struct chr_fe **out, struct err *err)
{
    static const struct chr_fe_ops no_ops;
    struct chr_fe *fe;
    unsigned tag = 0;

    CHECK_ARG(c && out);
    if (c->mux) {
        while (tag < CHR_MUX_MAX && c->fes[tag]) {
            tag++;
        }
        if (tag == CHR_MUX_MAX) {
            return err_set(err, -EBUSY,
                           "too many uses of multiplexed chardev '%s' "
                           "(maximum is %u)",
                           c->label, CHR_MUX_MAX);
        }
    } else if (c->fes[0]) {
        return err_set(err, -EBUSY, "chardev '%s' is already in use", c->label);
    }
    fe = mem_calloc(1, sizeof(*fe));
    if (!fe) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    fe->chr = c;
    fe->ops = ops ? ops : &no_ops;
    fe->opaque = opaque;
    fe->tag = tag;
    c->fes[tag] = fe;
    c->nb_fes++;
    *out = fe;
    if (c->mux) {
        chr_mux_set_focus(c, tag);
    }
    if (c->connected && fe->ops->event && (!c->mux || c->ctx->muxes_open)) {
        fe->ops->event(fe->opaque, CHR_EVENT_OPENED);
    }
    if (fe->chr) {
        chr_update_mask(c);
    }
    return 0;
}

void chr_fe_detach(struct chr_fe *fe)
{
    struct chr *c;

    if (!fe) {
        return;
    }
    c = fe->chr;
    if (c) {
        c->fes[fe->tag] = NULL;
        c->nb_fes--;
        if (c->mux && c->focus == (int)fe->tag) {
            c->focus = -1; /* no event: Ctrl-a c picks the next */
        }
        chr_update_mask(c);
    }
    mem_free(fe);
}

size_t chr_fe_write(struct chr_fe *fe, const void *src, size_t src_len)
{
    if (!fe || !fe->chr) {
        return src_len;
    }
    if (fe->chr->mux) {
        return chr_mux_write(fe->chr, src, src_len);
    }
    return chr_write_raw(fe->chr, src, src_len);
}

void chr_fe_accept_input(struct chr_fe *fe)
{
    if (!fe || !fe->chr) {
        return;
    }
    if (fe->chr->mux) {
        chr_mux_accept_input(fe->chr);
    }
    if (fe->chr->in_paused) {
        chr_update_mask(fe->chr);
    }
}

bool chr_fe_connected(const struct chr_fe *fe)
{
    return fe && fe->chr && fe->chr->connected;
}

struct chr *chr_fe_chr(const struct chr_fe *fe)
{
    return fe ? fe->chr : NULL;
}

void chr_fe_take_focus(struct chr_fe *fe)
{
    if (fe && fe->chr && fe->chr->mux) {
        chr_mux_set_focus(fe->chr, fe->tag);
    }
}
