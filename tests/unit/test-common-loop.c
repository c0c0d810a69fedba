/* SPDX-License-Identifier: MIT */
/* tests/unit/test-common-loop.c - fd handlers, timers and wake-ups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/loop.h"

struct rec {
    struct loop *l;
    int calls;
    unsigned events;
    int fd;
    bool del_self;
};

static void on_fd(void *opaque, int fd, unsigned events)
{
    struct rec *r = opaque;
    char buf[16];

    r->calls++;
    r->events = events;
    r->fd = fd;
    if (events & LOOP_READ) {
        ssize_t n = read(fd, buf, sizeof(buf));

        (void)n;
    }
    if (r->del_self) {
        loop_fd_del(r->l, fd);
    }
}

static void on_timer(void *opaque)
{
    (*(int *)opaque)++;
}

static void test_fd_read_write(void **state)
{
    struct loop *l;
    struct rec r = {0};
    int p[2];

    assert_int_equal(loop_new(&l, NULL), 0);
    r.l = l;
    assert_int_equal(pipe(p), 0);
    assert_int_equal(loop_fd_set(l, p[0], LOOP_READ, on_fd, &r, NULL), 0);
    assert_int_equal(loop_run_once(l, 0), 0);
    assert_int_equal(r.calls, 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(loop_run_once(l, -1), 1);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.events, LOOP_READ);
    assert_int_equal(r.fd, p[0]);
    /* Interest 0 keeps the handler but polls nothing. */
    loop_fd_mask(l, p[0], 0);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(loop_run_once(l, 0), 0);
    loop_fd_mask(l, p[0], LOOP_READ);
    r.del_self = true;
    assert_int_equal(loop_run_once(l, 0), 1);
    assert_int_equal(r.calls, 2);
    assert_int_equal(write(p[1], "z", 1), 1);
    assert_int_equal(loop_run_once(l, 0), 0);
    /* Write interest on the write end. */
    r.del_self = false;
    assert_int_equal(loop_fd_set(l, p[1], LOOP_WRITE, on_fd, &r, NULL), 0);
    assert_int_equal(loop_run_once(l, 0), 1);
    assert_int_equal(r.events, LOOP_WRITE);
    assert_int_equal(loop_fd_set(l, -1, LOOP_READ, on_fd, &r, NULL), -EINVAL);
    assert_int_equal(loop_fd_set(l, LOOP_MAX_FDS, LOOP_READ, on_fd, &r, NULL),
                     -ENOSPC);
    close(p[0]);
    close(p[1]);
    loop_free(l);
    loop_free(NULL);
}

static void test_timers_and_wake(void **state)
{
    struct loop *l;
    int fired = 0;
    int64_t id, id2;
    uint64_t t0;

    assert_int_equal(loop_new(&l, NULL), 0);
    t0 = loop_now_ns();
    id = loop_timer_add(l, t0 + 5000000, on_timer, &fired);
    assert_true(id > 0);
    id2 = loop_timer_add(l, t0, on_timer, &fired);
    assert_true(id2 > id);
    loop_timer_del(l, id2);
    /* Blocks until the 5 ms timer, not forever. */
    while (!fired) {
        assert_true(loop_run_once(l, -1) >= 0);
    }
    assert_int_equal(fired, 1);
    assert_true(loop_now_ns() - t0 >= 5000000);
    /* A wake-up ends a wait without calling anything. */
    loop_wake(l);
    t0 = loop_now_ns();
    assert_int_equal(loop_run_once(l, 2000000000), 0);
    assert_true(loop_now_ns() - t0 < 1000000000);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_read_write),
        cmocka_unit_test(test_timers_and_wake),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
