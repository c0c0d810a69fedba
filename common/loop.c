/* SPDX-License-Identifier: MIT */
/*
 * common/loop.c - the poll() event loop. Handlers live in a table indexed
 * by fd; the pollfd array is rebuilt only when the set of interests
 * changes, so a loop_run_once(0) between CPU slices costs one poll().
 */
#include "common/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"

struct loop_fd {
    loop_fd_fn *fn; /* NULL: not watched */
    void *opaque;
    unsigned mask;
};

struct loop_timer {
    int64_t id; /* 0: free slot */
    uint64_t when_ns;
    loop_timer_fn *fn;
    void *opaque;
};

struct loop {
    struct loop_fd fds[LOOP_MAX_FDS]; /* indexed by fd */
    struct pollfd pfds[LOOP_MAX_FDS + 1];
    unsigned nb_pfds;
    bool dirty; /* pfds must be rebuilt */
    struct loop_timer timers[LOOP_MAX_TIMERS];
    unsigned nb_timers; /* pending: timers_run() costs nothing at 0 */
    int64_t next_timer_id;
    int wake_fd; /* eventfd */
};

uint64_t loop_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int loop_new(struct loop **out, struct err *err)
{
    struct loop *l;

    CHECK_ARG(out);
    l = mem_calloc(1, sizeof(*l));
    if (!l) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        int ret = -errno;

        mem_free(l);
        return err_set(err, ret, "eventfd: %s", strerror(-ret));
    }
    l->dirty = true;
    l->next_timer_id = 1;
    *out = l;
    return 0;
}

void loop_free(struct loop *l)
{
    if (!l) {
        return;
    }
    close(l->wake_fd);
    mem_free(l);
}

int loop_fd_set(struct loop *l, int fd, unsigned mask, loop_fd_fn *fn,
                void *opaque, struct err *err)
{
    CHECK_ARG(l && fn);
    if (fd < 0) {
        return err_set(err, -EINVAL, "bad file descriptor %d", fd);
    }
    if (fd >= LOOP_MAX_FDS) {
        return err_set(err, -ENOSPC, "file descriptor %d over the limit %u", fd,
                       LOOP_MAX_FDS);
    }
    l->fds[fd].fn = fn;
    l->fds[fd].opaque = opaque;
    l->fds[fd].mask = mask & (LOOP_READ | LOOP_WRITE);
    l->dirty = true;
    return 0;
}

void loop_fd_mask(struct loop *l, int fd, unsigned mask)
{
    if (!l || fd < 0 || fd >= LOOP_MAX_FDS || !l->fds[fd].fn) {
        return;
    }
    mask &= LOOP_READ | LOOP_WRITE;
    if (l->fds[fd].mask != mask) {
        l->fds[fd].mask = mask;
        l->dirty = true;
    }
}

void loop_fd_del(struct loop *l, int fd)
{
    if (!l || fd < 0 || fd >= LOOP_MAX_FDS || !l->fds[fd].fn) {
        return;
    }
    memset(&l->fds[fd], 0, sizeof(l->fds[fd]));
    l->dirty = true;
}

int64_t loop_timer_add(struct loop *l, uint64_t when_ns, loop_timer_fn *fn,
                       void *opaque)
{
    CHECK_ARG(l && fn);
    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        struct loop_timer *t = &l->timers[i];

        if (!t->id) {
            l->nb_timers++;
            t->id = l->next_timer_id++;
            t->when_ns = when_ns;
            t->fn = fn;
            t->opaque = opaque;
            return t->id;
        }
    }
    return -ENOSPC;
}

void loop_timer_del(struct loop *l, int64_t id)
{
    if (!l || id <= 0) {
        return;
    }
    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        if (l->timers[i].id == id) {
            l->timers[i].id = 0;
            l->nb_timers--;
        }
    }
}

void loop_wake(struct loop *l)
{
    uint64_t one = 1;
    ssize_t n;

    n = write(l->wake_fd, &one, sizeof(one));
    (void)n;
}

static void pfds_rebuild(struct loop *l)
{
    unsigned n = 0;

    l->pfds[n++] = (struct pollfd){l->wake_fd, POLLIN, 0};
    for (int fd = 0; fd < LOOP_MAX_FDS; fd++) {
        unsigned m = l->fds[fd].mask;

        if (!l->fds[fd].fn || !m) {
            continue;
        }
        l->pfds[n++] =
            (struct pollfd){fd,
                            (short)(((m & LOOP_READ) ? POLLIN : 0) |
                                    ((m & LOOP_WRITE) ? POLLOUT : 0)),
                            0};
    }
    l->nb_pfds = n;
    l->dirty = false;
}

/* Run expired timers; returns how many, and the earliest pending one. */
static int timers_run(struct loop *l, uint64_t *next)
{
    uint64_t now;
    int ran = 0;

    *next = UINT64_MAX;
    if (!l->nb_timers) {
        return 0;
    }
    now = loop_now_ns();
    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        struct loop_timer *t = &l->timers[i];

        if (t->id && t->when_ns <= now) {
            loop_timer_fn *fn = t->fn;
            void *opaque = t->opaque;

            t->id = 0;
            l->nb_timers--;
            fn(opaque);
            ran++;
        }
    }
    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        if (l->timers[i].id && l->timers[i].when_ns < *next) {
            *next = l->timers[i].when_ns;
        }
    }
    return ran;
}

int loop_run_once(struct loop *l, int64_t timeout_ns)
{
    uint64_t next, now;
    int ran, n, timeout_ms;

    CHECK_ARG(l);
    ran = timers_run(l, &next);
    if (ran) {
        timeout_ns = 0;
    }
    if (next != UINT64_MAX) {
        now = loop_now_ns();
        if (next <= now) {
            timeout_ns = 0;
        } else if (timeout_ns < 0 || next - now < (uint64_t)timeout_ns) {
            timeout_ns = (int64_t)(next - now);
        }
    }
    if (timeout_ns < 0) {
        timeout_ms = -1;
    } else if (timeout_ns > 1000ll * 1000000) {
        timeout_ms = 1000;
    } else {
        timeout_ms = (int)((timeout_ns + 999999) / 1000000);
    }
    if (l->dirty) {
        pfds_rebuild(l);
    }
    n = poll(l->pfds, l->nb_pfds, timeout_ms);
    if (n < 0) {
        return errno == EINTR ? ran : -errno;
    }
    if (n > 0) {
        unsigned nb = l->nb_pfds;

        if (l->pfds[0].revents) {
            uint64_t v;
            ssize_t r = read(l->wake_fd, &v, sizeof(v));

            (void)r;
        }
        for (unsigned i = 1; i < nb; i++) {
            struct pollfd p = l->pfds[i];
            struct loop_fd *h;
            unsigned ev = 0;

            if (!p.revents) {
                continue;
            }
            h = &l->fds[p.fd];
            if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
                ev |= LOOP_READ;
            }
            if (p.revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL)) {
                ev |= LOOP_WRITE;
            }
            /* The handler table may have changed under an earlier handler. */
            ev &= h->mask;
            if (!h->fn || !ev) {
                continue;
            }
            h->fn(h->opaque, p.fd, ev);
            ran++;
        }
    }
    ran += timers_run(l, &next);
    return ran;
}
