/* SPDX-License-Identifier: MIT */
/* common/alloc.c - allocation wrappers with failure injection for tests. */
#include "common/alloc.h"

#include <stdlib.h>
#include <string.h>

#ifdef CONFIG_TESTING
/* Test-only injection state; the default (-1) never fails. */
static long fail_countdown = -1;
static int fail_sticky;

void mem_fail_after(long n, int sticky)
{
    fail_countdown = n;
    fail_sticky = sticky;
}

static int should_fail(void)
{
    if (fail_countdown < 0) {
        return 0;
    }
    if (fail_countdown == 0) {
        if (!fail_sticky) {
            fail_countdown = -1;
        }
        return 1;
    }
    fail_countdown--;
    return 0;
}
#else
static int should_fail(void)
{
    return 0;
}
#endif

void *mem_alloc(size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return malloc(size ? size : 1);
}

void *mem_calloc(size_t nmemb, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    if (nmemb == 0 || size == 0) {
        return calloc(1, 1);
    }
    return calloc(nmemb, size);
}

void *mem_realloc(void *ptr, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return realloc(ptr, size ? size : 1);
}

char *mem_strdup(const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = mem_alloc(len);

    if (p) {
        memcpy(p, s, len);
    }
    return p;
}

void mem_free(void *ptr)
{
    free(ptr);
}
