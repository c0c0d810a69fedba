/* SPDX-License-Identifier: MIT */
/* tests/unit/test-mon-common.h - a monitor and a capturing session. */
#ifndef TESTS_UNIT_TEST_MON_COMMON_H
#define TESTS_UNIT_TEST_MON_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "monitor/mon-int.h"

struct cap {
    char *p;
    size_t len;
    int writes; /* out_fn calls */
};

static inline void cap_out(void *opaque, const char *buf, size_t len)
{
    struct cap *c = opaque;

    c->p = realloc(c->p, c->len + len + 1);
    assert_non_null(c->p);
    memcpy(c->p + c->len, buf, len);
    c->len += len;
    c->p[c->len] = 0;
    c->writes++;
}

static inline void cap_reset(struct cap *c)
{
    free(c->p);
    c->p = NULL;
    c->len = 0;
    c->writes = 0;
}

static inline int fixed_clock(void *opaque, int64_t *sec, int64_t *usec)
{
    *sec = 1795559803;
    *usec = 473670;
    return 0;
}

static inline int test_regs(void *opaque, const char *name, uint64_t *val)
{
    if (!strcmp(name, "pc")) {
        *val = 0x80000000u;
        return 0;
    }
    if (!strcmp(name, "a0")) {
        *val = 16;
        return 0;
    }
    return -ENOENT;
}

static inline struct mon *test_mon_new(void)
{
    struct mon_config cfg = {
        .version_major = 7,
        .version_minor = 2,
        .version_micro = 22,
        .package = "Debian 1:7.2+dfsg-7+deb12u18+b3",
        .clock_fn = fixed_clock,
        .reg_fn = test_regs,
    };
    struct mon *mon = NULL;

    assert_int_equal(mon_new(&cfg, &mon, NULL), 0);
    return mon;
}

static inline struct mon_session *
test_session(struct mon *mon, enum mon_mode mode, bool pretty, struct cap *c)
{
    struct mon_session *s = NULL;

    assert_int_equal(mon_session_new(mon, mode, pretty, cap_out, c, &s, NULL),
                     0);
    return s;
}

static inline void send_str(struct mon_session *s, const char *str)
{
    assert_int_equal(mon_session_input(s, str, strlen(str)), 0);
}

#endif /* TESTS_UNIT_TEST_MON_COMMON_H */
