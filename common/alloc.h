/* SPDX-License-Identifier: MIT */
/*
 * common/alloc.h - the one allocation choke point. Tests can make the Nth
 * allocation fail (mem_fail_after) to exercise every error path.
 */
#ifndef COMMON_ALLOC_H
#define COMMON_ALLOC_H

#include <stddef.h>

/* Like malloc/calloc/realloc/strdup; NULL on failure. */
void *mem_alloc(size_t size);
void *mem_calloc(size_t nmemb, size_t size);
void *mem_realloc(void *ptr, size_t size);
char *mem_strdup(const char *s);
/* Accepts NULL. */
void mem_free(void *ptr);

#ifdef CONFIG_TESTING
/*
 * Fail the allocation that comes @n calls from now (0 = the next one), and
 * every one after it while @sticky. A negative @n disables injection.
 */
void mem_fail_after(long n, int sticky);
#endif

#endif /* COMMON_ALLOC_H */
