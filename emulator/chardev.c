/* SPDX-License-Identifier: MIT */
/*
 * emulator/chardev.c - serial backends as QEMU spells them: stdio (raw
 * terminal, Ctrl-a escapes under -nographic), null, file:, pty, tcp:,
 * unix:. Input is read without blocking between CPU slices; output blocks.
 */
#include "emulator/rv.h"
#include "emulator/rv-int.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/alloc.h"

#define CHARDEV_SPEC_MAX 1024 /* longest spec we parse */
#define ESC_CHAR         0x01 /* Ctrl-a */

enum chardev_kind {
    CD_STDIO,
    CD_NULL,
    CD_FILE,
    CD_PTY,
    CD_SOCKET,
};

struct rv_chardev {
    enum chardev_kind kind;
    int in_fd;     /* -1 if no input */
    int out_fd;    /* -1 if output is discarded */
    int listen_fd; /* socket servers: -1 otherwise */
    bool conn_is_socket;
    bool escapes;
    bool esc_pending;
    bool nodelay;
    bool tty_saved;
    struct termios saved_tty;
    char pty_path[128];
};

static const char esc_help[] =
    "\r\n"
    "C-a h    print this help\r\n"
    "C-a x    exit emulator\r\n"
    "C-a c    switch between console and monitor (no monitor yet)\r\n"
    "C-a C-a  sends C-a\r\n";

static const char esc_no_monitor[] =
    "\r\nrrvm: the monitor is not available yet (C-a x exits)\r\n";

static bool opt_on(const char *opts, const char *name, bool dflt)
{
    size_t n = strlen(name);
    const char *p = opts;

    while (p && *p) {
        if (*p == ',') {
            p++;
        }
        if (strncmp(p, name, n) == 0) {
            if (p[n] == '\0' || p[n] == ',') {
                return true;
            }
            if (p[n] == '=') {
                return strncmp(p + n + 1, "on", 2) == 0 ||
                       strncmp(p + n + 1, "yes", 3) == 0 ||
                       strncmp(p + n + 1, "true", 4) == 0;
            }
        }
        if (strncmp(p, "nowait", 6) == 0 && strcmp(name, "wait") == 0) {
            return false;
        }
        p = strchr(p, ',');
    }
    return dflt;
}

/* Every option in @opts must be one of the known names. */
static int check_opts(const char *spec, const char *opts, struct err *err)
{
    static const char *const known[] = {"server",  "wait",   "nowait",
                                        "nodelay", "telnet", NULL};
    const char *p = opts;

    while (p && *p) {
        size_t n = strcspn(p, "=,");
        bool ok = false;

        for (unsigned i = 0; known[i]; i++) {
            if (strlen(known[i]) == n && strncmp(p, known[i], n) == 0) {
                ok = true;
            }
        }
        if (!ok || strncmp(p, "telnet", 6) == 0) {
            return err_set(err, -ENOTSUP, "%s: unsupported option '%.*s'", spec,
                           (int)n, p);
        }
        p = strchr(p, ',');
        if (p) {
            p++;
        }
    }
    return 0;
}

static void tty_raw(struct rv_chardev *c, int fd)
{
    struct termios t;

    if (!isatty(fd) || tcgetattr(fd, &t) < 0) {
        return;
    }
    c->saved_tty = t;
    c->tty_saved = true;
    t.c_iflag &= ~(unsigned)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                             ICRNL | IXON);
    t.c_oflag |= OPOST;
    t.c_lflag &= ~(unsigned)(ECHO | ECHONL | ICANON | IEXTEN | ISIG);
    t.c_cflag &= ~(unsigned)(CSIZE | PARENB);
    t.c_cflag |= CS8;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(fd, TCSANOW, &t);
}

static int open_pty(struct rv_chardev *c, struct err *err)
{
    struct termios t;
    const char *name;
    int fd;

    fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || grantpt(fd) < 0 || unlockpt(fd) < 0) {
        int e = errno;

        if (fd >= 0) {
            close(fd);
        }
        return err_set(err, -e, "pty: %s", strerror(e));
    }
    name = ptsname(fd);
    snprintf(c->pty_path, sizeof(c->pty_path), "%s", name ? name : "?");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (tcgetattr(fd, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(fd, TCSANOW, &t);
    }
    c->in_fd = fd;
    c->out_fd = fd;
    return 0;
}

static int sock_connect_or_listen(struct rv_chardev *c, const char *spec,
                                  bool is_unix, const char *addr,
                                  const char *opts, struct err *err)
{
    bool server = opt_on(opts, "server", false);
    bool wait = opt_on(opts, "wait", true);
    struct addrinfo hints, *res = NULL;
    struct sockaddr_un sun;
    char host[256], *colon;
    int fd = -1, one = 1, ret;

    c->nodelay = opt_on(opts, "nodelay", false);
    if (is_unix) {
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(addr) >= sizeof(sun.sun_path) || !*addr) {
            return err_set(err, -EINVAL, "%s: bad socket path", spec);
        }
        strcpy(sun.sun_path, addr);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return err_set(err, -errno, "%s: %s", spec, strerror(errno));
        }
        if (server) {
            unlink(addr);
            ret = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
        } else {
            ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
        }
    } else {
        snprintf(host, sizeof(host), "%s", addr);
        colon = strrchr(host, ':');
        if (!colon) {
            return err_set(err, -EINVAL, "%s: expected HOST:PORT", spec);
        }
        *colon = '\0';
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = server ? AI_PASSIVE : 0;
        ret = getaddrinfo(*host ? host : NULL, colon + 1, &hints, &res);
        if (ret != 0) {
            return err_set(err, -EINVAL, "%s: %s", spec, gai_strerror(ret));
        }
        fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            ret = err_set(err, -errno, "%s: %s", spec, strerror(errno));
            freeaddrinfo(res);
            return ret;
        }
        if (server) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            ret = bind(fd, res->ai_addr, res->ai_addrlen);
        } else {
            ret = connect(fd, res->ai_addr, res->ai_addrlen);
        }
        freeaddrinfo(res);
    }
    if (ret < 0 || (server && listen(fd, 1) < 0)) {
        ret = err_set(err, -errno, "%s: %s", spec, strerror(errno));
        close(fd);
        return ret;
    }
    c->conn_is_socket = true;
    if (!server) {
        c->in_fd = fd;
        c->out_fd = fd;
    } else {
        c->listen_fd = fd;
        if (wait) {
            int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

            if (cfd < 0) {
                return err_set(err, -errno, "%s: accept: %s", spec,
                               strerror(errno));
            }
            c->in_fd = cfd;
            c->out_fd = cfd;
        }
    }
    if (c->nodelay && !is_unix && c->in_fd >= 0) {
        setsockopt(c->in_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return 0;
}

int rv_chardev_open(const char *spec, bool escapes, struct rv_chardev **out,
                    struct err *err)
{
    struct rv_chardev *c;
    char buf[CHARDEV_SPEC_MAX];
    char *opts;
    int ret = 0;

    CHECK_ARG(spec && out);
    if (strlen(spec) >= sizeof(buf)) {
        return err_set(err, -ERANGE, "serial backend spec too long");
    }
    c = mem_calloc(1, sizeof(*c));
    if (!c) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    c->in_fd = -1;
    c->out_fd = -1;
    c->listen_fd = -1;
    snprintf(buf, sizeof(buf), "%s", spec);
    if (strcmp(buf, "stdio") == 0) {
        c->kind = CD_STDIO;
        c->in_fd = STDIN_FILENO;
        c->out_fd = STDOUT_FILENO;
        c->escapes = escapes;
        tty_raw(c, STDIN_FILENO);
    } else if (strcmp(buf, "null") == 0 || strcmp(buf, "none") == 0) {
        c->kind = CD_NULL;
    } else if (strncmp(buf, "file:", 5) == 0) {
        c->kind = CD_FILE;
        c->out_fd =
            open(buf + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (c->out_fd < 0) {
            ret = err_set(err, -errno, "%s: %s", buf + 5, strerror(errno));
        }
    } else if (strcmp(buf, "pty") == 0) {
        c->kind = CD_PTY;
        ret = open_pty(c, err);
    } else if (strncmp(buf, "tcp:", 4) == 0 || strncmp(buf, "unix:", 5) == 0) {
        bool is_unix = buf[0] == 'u';
        char *addr = buf + (is_unix ? 5 : 4);

        c->kind = CD_SOCKET;
        opts = strchr(addr, ',');
        if (opts) {
            *opts++ = '\0';
        }
        ret = check_opts(spec, opts, err);
        if (ret == 0) {
            ret = sock_connect_or_listen(c, spec, is_unix, addr, opts, err);
        }
    } else {
        ret = err_set(err, -ENOTSUP, "serial backend '%s' is not supported",
                      spec);
    }
    if (ret < 0) {
        rv_chardev_close(c);
        return ret;
    }
    *out = c;
    return 0;
}

void rv_chardev_close(struct rv_chardev *c)
{
    if (!c) {
        return;
    }
    if (c->tty_saved) {
        tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_tty);
    }
    if (c->kind != CD_STDIO) {
        if (c->in_fd >= 0) {
            close(c->in_fd);
        }
        if (c->out_fd >= 0 && c->out_fd != c->in_fd) {
            close(c->out_fd);
        }
    }
    if (c->listen_fd >= 0) {
        close(c->listen_fd);
    }
    mem_free(c);
}

const char *rv_chardev_pty_path(const struct rv_chardev *c)
{
    return c && c->kind == CD_PTY ? c->pty_path : NULL;
}

int rv_chardev_poll_fd(const struct rv_chardev *c)
{
    if (!c) {
        return -1;
    }
    if (c->in_fd >= 0) {
        return c->in_fd;
    }
    return c->listen_fd;
}

static void try_accept(struct rv_chardev *c)
{
    struct pollfd pfd = {c->listen_fd, POLLIN, 0};
    int one = 1;
    int fd;

    if (poll(&pfd, 1, 0) <= 0) {
        return;
    }
    fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    if (c->nodelay) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    c->in_fd = fd;
    c->out_fd = fd;
}

static void drop_connection(struct rv_chardev *c)
{
    close(c->in_fd);
    c->in_fd = -1;
    c->out_fd = -1;
}

/* Apply Ctrl-a escapes in place; returns the bytes that reach the guest. */
static size_t filter_escapes(struct rv_chardev *c, uint8_t *buf, size_t n,
                             unsigned *events)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        uint8_t b = buf[i];

        if (!c->esc_pending) {
            if (b == ESC_CHAR) {
                c->esc_pending = true;
            } else {
                buf[o++] = b;
            }
            continue;
        }
        c->esc_pending = false;
        switch (b) {
        case 'x':
            *events |= RV_CHARDEV_EV_QUIT;
            break;
        case 'h':
        case '?':
            rv_chardev_write(c, (const uint8_t *)esc_help,
                             sizeof(esc_help) - 1);
            break;
        case ESC_CHAR:
            buf[o++] = ESC_CHAR;
            break;
        case 'c':
            rv_chardev_write(c, (const uint8_t *)esc_no_monitor,
                             sizeof(esc_no_monitor) - 1);
            break;
        default:
            break;
        }
    }
    return o;
}

int rv_chardev_read(struct rv_chardev *c, uint8_t *dst, size_t cap,
                    unsigned *events)
{
    struct pollfd pfd;
    ssize_t n;

    *events = 0;
    if (!c) {
        return -EPIPE;
    }
    if (c->in_fd < 0 && c->listen_fd >= 0) {
        try_accept(c);
    }
    if (c->in_fd < 0) {
        return c->listen_fd >= 0 ? 0 : -EPIPE;
    }
    pfd.fd = c->in_fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) <= 0) {
        return 0;
    }
    n = read(c->in_fd, dst, cap);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    if (n <= 0) {
        if (c->listen_fd >= 0) {
            drop_connection(c);
            return 0;
        }
        if (c->kind == CD_PTY) {
            return 0; /* no one has the slave open: not the end */
        }
        return -EPIPE;
    }
    if (c->escapes) {
        n = (ssize_t)filter_escapes(c, dst, (size_t)n, events);
    }
    return (int)n;
}

int rv_chardev_write(struct rv_chardev *c, const uint8_t *src, size_t len)
{
    struct pollfd pfd;
    ssize_t n;

    if (!c || c->out_fd < 0) {
        return 0;
    }
    while (len) {
        if (c->conn_is_socket) {
            n = send(c->out_fd, src, len, MSG_NOSIGNAL);
        } else {
            n = write(c->out_fd, src, len);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            if (c->kind == CD_PTY) {
                return 0; /* nobody reads the pty: drop, as QEMU does */
            }
            pfd.fd = c->out_fd;
            pfd.events = POLLOUT;
            poll(&pfd, 1, 100);
            continue;
        }
        if (n < 0) {
            if (c->listen_fd >= 0) {
                drop_connection(c);
                return 0;
            }
            return -errno;
        }
        src += n;
        len -= (size_t)n;
    }
    return 0;
}
