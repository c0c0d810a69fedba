/* SPDX-License-Identifier: MIT */
/*
 * chardev/chr-socket.c - tcp, telnet and unix sockets, server (wait or
 * nowait, one client at a time) and client (with reconnect=), as QEMU's
 * chardev/char-socket.c behaves. Unix servers create their socket mode
 * 0600 and replace only a stale socket (a documented difference: QEMU
 * follows the umask and unlinks whatever is at the path).
 */
#include "chardev/chardev.h"
#include "chardev/chardev-int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/opts.h"

#define IAC       255
#define IAC_BREAK 243

struct sock_state {
    bool is_unix, server, telnet, nodelay;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char host[256], port[32];
    char addr_str[320]; /* "tcp:127.0.0.1:4444" */
    int listen_fd;
    uint64_t reconnect_s; /* 0: no reconnect */
    int64_t timer;
    unsigned telnet_state; /* QEMU's do_telnetopt: 1 normal, 2..3 in IAC */
    bool unlink_at_close;
};

static void sock_set_disconnected_name(struct chr *c)
{
    struct sock_state *s = c->drv_state;

    snprintf(c->filename, sizeof(c->filename), "disconnected:%s%s", s->addr_str,
             s->server ? ",server=on" : "");
}

static void sock_set_connected_name(struct chr *c, int fd)
{
    struct sock_state *s = c->drv_state;
    struct sockaddr_storage la, pa;
    socklen_t ll = sizeof(la), pl = sizeof(pa);
    char lh[NI_MAXHOST], ls[NI_MAXSERV], ph[NI_MAXHOST], ps[NI_MAXSERV];
    bool v6;

    if (s->is_unix) {
        snprintf(c->filename, sizeof(c->filename), "unix:%s%s", s->path,
                 s->server ? ",server=on" : "");
        return;
    }
    if (getsockname(fd, (struct sockaddr *)&la, &ll) < 0 ||
        getpeername(fd, (struct sockaddr *)&pa, &pl) < 0 ||
        getnameinfo((struct sockaddr *)&la, ll, lh, sizeof(lh), ls, sizeof(ls),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0 ||
        getnameinfo((struct sockaddr *)&pa, pl, ph, sizeof(ph), ps, sizeof(ps),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        sock_set_disconnected_name(c);
        return;
    }
    v6 = la.ss_family == AF_INET6;
    snprintf(c->filename, sizeof(c->filename), "%s:%s%s%s:%s%s <-> %s%s%s:%s",
             s->telnet ? "telnet" : "tcp", v6 ? "[" : "", lh, v6 ? "]" : "", ls,
             s->server ? ",server=on" : "", v6 ? "[" : "", ph, v6 ? "]" : "",
             ps);
}

static void sock_listen_ready(void *opaque, int fd, unsigned events);
static void sock_reconnect(void *opaque);

static void sock_connected(struct chr *c, int fd)
{
    static const uint8_t telnet_init[] = {
        IAC, 251, 1, /* WILL ECHO */
        IAC, 251, 3, /* WILL SUPPRESS-GO-AHEAD */
        IAC, 251, 0, /* WILL BINARY */
        IAC, 253, 0, /* DO BINARY */
    };
    struct sock_state *s = c->drv_state;
    int one = 1;

    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (s->nodelay && !s->is_unix) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (s->listen_fd >= 0) {
        loop_fd_mask(c->ctx->loop, s->listen_fd, 0);
    }
    c->out_socket = true;
    c->connected = true;
    s->telnet_state = 1;
    sock_set_connected_name(c, fd);
    if (chr_fds_set(c, fd, fd, NULL) < 0) {
        close(fd);
        c->connected = false;
        return;
    }
    if (s->telnet) {
        chr_write_raw(c, telnet_init, sizeof(telnet_init));
    }
    chr_event_send(c, CHR_EVENT_OPENED);
    chr_update_mask(c);
}

static void sock_hangup(struct chr *c)
{
    struct sock_state *s = c->drv_state;
    int fd = c->in_fd;

    chr_fds_clear(c);
    if (fd >= 0) {
        close(fd);
    }
    if (!c->connected) {
        return;
    }
    c->connected = false;
    sock_set_disconnected_name(c);
    chr_event_send(c, CHR_EVENT_CLOSED);
    if (s->listen_fd >= 0) {
        loop_fd_mask(c->ctx->loop, s->listen_fd, LOOP_READ);
    } else if (s->reconnect_s && s->timer <= 0) {
        s->timer = loop_timer_add(
            c->ctx->loop, loop_now_ns() + s->reconnect_s * 1000000000ull,
            sock_reconnect, c);
    }
}

static void sock_close(struct chr *c)
{
    struct sock_state *s = c->drv_state;
    int fd = c->in_fd;

    if (!s) {
        return;
    }
    chr_fds_clear(c);
    if (fd >= 0) {
        close(fd);
    }
    loop_timer_del(c->ctx->loop, s->timer);
    if (s->listen_fd >= 0) {
        loop_fd_del(c->ctx->loop, s->listen_fd);
        close(s->listen_fd);
        if (s->unlink_at_close) {
            unlink(s->path);
        }
    }
    mem_free(s);
    c->drv_state = NULL;
}

/* QEMU's tcp_chr_process_IAC_bytes for telnet (not tn3270). */
static size_t sock_filter(struct chr *c, uint8_t *buf, size_t len)
{
    struct sock_state *s = c->drv_state;
    size_t j = 0;

    if (!s->telnet) {
        return len;
    }
    for (size_t i = 0; i < len; i++) {
        if (s->telnet_state > 1) {
            if (buf[i] == IAC && s->telnet_state == 2) {
                buf[j++] = buf[i];
                s->telnet_state = 1;
            } else {
                if (buf[i] == IAC_BREAK && s->telnet_state == 2) {
                    chr_event_send(c, CHR_EVENT_BREAK);
                    s->telnet_state++;
                }
                s->telnet_state++;
            }
            if (s->telnet_state >= 4) {
                s->telnet_state = 1;
            }
        } else if (buf[i] == IAC) {
            s->telnet_state = 2;
        } else {
            buf[j++] = buf[i];
        }
    }
    return j;
}

static const struct chr_driver sock_driver = {"socket", sock_hangup, sock_close,
                                              sock_filter};

static void sock_listen_ready(void *opaque, int fd, unsigned events)
{
    struct chr *c = opaque;
    int cfd;

    if (c->connected) {
        loop_fd_mask(c->ctx->loop, fd, 0);
        return;
    }
    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd >= 0) {
        sock_connected(c, cfd);
    }
}

/* Fill @ss for the configured address; returns the socket family. */
static int sock_resolve(struct sock_state *s, bool passive,
                        struct addrinfo **res, struct err *err)
{
    struct addrinfo hints;
    int ret;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    ret = getaddrinfo(s->host[0] ? s->host : NULL, s->port, &hints, res);
    if (ret != 0) {
        return err_set(err, -EINVAL, "address resolution failed for %s:%s: %s",
                       s->host, s->port, gai_strerror(ret));
    }
    return 0;
}

static int sock_connect_now(struct chr *c, struct err *err)
{
    struct sock_state *s = c->drv_state;
    int fd = -1, e = 0;

    if (s->is_unix) {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        memcpy(sun.sun_path, s->path, strlen(s->path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
        if (fd < 0) {
            return err_set(err, -e, "Failed to connect to '%s': %s", s->path,
                           strerror(e));
        }
    } else {
        struct addrinfo *res = NULL, *ai;
        int ret = sock_resolve(s, false, &res, err);

        if (ret < 0) {
            return ret;
        }
        for (ai = res; ai; ai = ai->ai_next) {
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                e = errno;
                continue;
            }
            if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                break;
            }
            e = errno;
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0) {
            return err_set(err, -e, "Failed to connect to '%s:%s': %s", s->host,
                           s->port, strerror(e));
        }
    }
    sock_connected(c, fd);
    return 0;
}

static void sock_reconnect(void *opaque)
{
    struct chr *c = opaque;
    struct sock_state *s = c->drv_state;

    s->timer = 0;
    if (c->connected) {
        return;
    }
    if (sock_connect_now(c, NULL) < 0) {
        s->timer = loop_timer_add(
            c->ctx->loop, loop_now_ns() + s->reconnect_s * 1000000000ull,
            sock_reconnect, c);
    }
}

/* Bind a unix socket at @path mode 0600, replacing only a stale socket. */
static int unix_bind(struct sock_state *s, int fd, struct err *err)
{
    struct sockaddr_un sun;
    struct stat st;
    mode_t old;
    int ret;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, s->path, strlen(s->path));
    if (lstat(s->path, &st) == 0) {
        int probe;

        if (!S_ISSOCK(st.st_mode)) {
            return err_set(err, -EEXIST,
                           "Failed to bind socket to %s: %s (not a socket, "
                           "left in place)",
                           s->path, strerror(EEXIST));
        }
        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 &&
            connect(probe, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            close(probe);
            return err_set(err, -EADDRINUSE, "Failed to bind socket to %s: %s",
                           s->path, strerror(EADDRINUSE));
        }
        if (probe >= 0) {
            close(probe);
        }
        unlink(s->path);
    }
    old = umask(0177);
    ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (ret < 0) {
        return err_set(err, -errno, "Failed to bind socket to %s: %s", s->path,
                       strerror(errno));
    }
    chmod(s->path, 0600);
    s->unlink_at_close = true;
    return 0;
}

static int sock_listen(struct chr *c, struct err *err)
{
    struct sock_state *s = c->drv_state;
    int fd = -1, one = 1, ret = 0, e = 0;

    if (s->is_unix) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return err_set(err, -errno, "Failed to create socket: %s",
                           strerror(errno));
        }
        ret = unix_bind(s, fd, err);
    } else {
        struct addrinfo *res = NULL, *ai;

        ret = sock_resolve(s, true, &res, err);
        if (ret < 0) {
            return ret;
        }
        for (ai = res; ai; ai = ai->ai_next) {
            fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                e = errno;
                continue;
            }
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
                break;
            }
            e = errno;
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
        if (fd < 0) {
            return err_set(err, -e, "Failed to find an available port: %s",
                           strerror(e));
        }
    }
    if (ret == 0 && listen(fd, 1) < 0) {
        ret = err_set(err, -errno, "Failed to listen on socket: %s",
                      strerror(errno));
    }
    if (ret == 0) {
        ret =
            loop_fd_set(c->ctx->loop, fd, LOOP_READ, sock_listen_ready, c, err);
    }
    if (ret < 0) {
        close(fd);
        return ret;
    }
    s->listen_fd = fd;
    return 0;
}

int chr_open_socket(struct chr_ctx *ctx, const struct opts *o,
                    const char *label, chr_info_fn *info, void *info_opaque,
                    struct chr **out, struct err *err)
{
    const char *path = opts_get(o, "path"), *host = opts_get(o, "host");
    const char *port = opts_get(o, "port");
    struct sock_state *s;
    struct chr *c = NULL;
    bool wait = true, delay = true, nodelay = false, tn3270 = false;
    bool websocket = false;
    int ret;

    if (!path && !port) {
        return err_set(err, -EINVAL, "chardev: socket: no %s given",
                       host ? "port" : "host and/or port");
    }
    if (path && (host || port)) {
        return err_set(err, -EINVAL,
                       "chardev: socket: 'host' and 'path' are mutually "
                       "exclusive");
    }
    if (opts_get(o, "tls-creds") || opts_get(o, "fd")) {
        return err_set(err, -ENOTSUP, "chardev: socket: %s is not supported",
                       opts_get(o, "fd") ? "fd" : "tls-creds");
    }
    ret = chr_alloc(ctx, label, &sock_driver, &c, err);
    if (ret < 0) {
        return ret;
    }
    s = mem_calloc(1, sizeof(*s));
    if (!s) {
        chr_destroy(c);
        return err_set(err, -ENOMEM, "out of memory");
    }
    s->listen_fd = -1;
    c->drv_state = s;
    c->connected = false;
    if ((ret = opts_get_bool(o, "server", false, &s->server, err)) < 0 ||
        (ret = opts_get_bool(o, "wait", true, &wait, err)) < 0 ||
        (ret = opts_get_bool(o, "delay", true, &delay, err)) < 0 ||
        (ret = opts_get_bool(o, "nodelay", false, &nodelay, err)) < 0 ||
        (ret = opts_get_bool(o, "telnet", false, &s->telnet, err)) < 0 ||
        (ret = opts_get_bool(o, "tn3270", false, &tn3270, err)) < 0 ||
        (ret = opts_get_bool(o, "websocket", false, &websocket, err)) < 0 ||
        (ret = opts_get_number(o, "reconnect", 0, &s->reconnect_s, err)) < 0) {
        goto fail;
    }
    if (tn3270 || websocket) {
        ret = err_set(err, -ENOTSUP, "chardev: socket: %s is not supported",
                      tn3270 ? "tn3270" : "websocket");
        goto fail;
    }
    s->nodelay = nodelay || !delay;
    if (path) {
        if (!*path || strlen(path) >= sizeof(s->path)) {
            ret = err_set(err, -EINVAL, "UNIX socket path '%s' is too long",
                          path);
            goto fail;
        }
        s->is_unix = true;
        snprintf(s->path, sizeof(s->path), "%s", path);
        snprintf(s->addr_str, sizeof(s->addr_str), "unix:%s", path);
    } else {
        snprintf(s->host, sizeof(s->host), "%s", host ? host : "");
        snprintf(s->port, sizeof(s->port), "%s", port);
        snprintf(s->addr_str, sizeof(s->addr_str), "%s:%s:%s",
                 s->telnet ? "telnet" : "tcp", s->host, s->port);
    }
    sock_set_disconnected_name(c);
    if (s->server) {
        if (s->reconnect_s) {
            ret = err_set(err, -EINVAL,
                          "'reconnect' option is incompatible with socket in "
                          "server listen mode");
            goto fail;
        }
        ret = sock_listen(c, err);
        if (ret < 0) {
            goto fail;
        }
        if (wait) {
            char line[CHR_FILENAME_MAX + 64];
            int cfd;

            snprintf(line, sizeof(line), "QEMU waiting for connection on: %s",
                     c->filename);
            if (info) {
                info(info_opaque, true, line);
            }
            do {
                cfd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            } while (cfd < 0 && errno == EINTR);
            if (cfd < 0) {
                ret = err_set(err, -errno, "accept: %s", strerror(errno));
                goto fail;
            }
            sock_connected(c, cfd);
        }
    } else {
        ret = sock_connect_now(c, err);
        if (ret < 0 && s->reconnect_s) {
            ret = 0;
            s->timer = loop_timer_add(
                ctx->loop, loop_now_ns() + s->reconnect_s * 1000000000ull,
                sock_reconnect, c);
        }
        if (ret < 0) {
            goto fail;
        }
    }
    *out = c;
    return 0;
fail:
    chr_destroy(c);
    return ret;
}
