/* SPDX-License-Identifier: MIT */
/*
 * common/loop.h - a small poll()-based event loop in the spirit of Redis's
 * ae.h: file descriptor handlers with read/write interest, one-shot timers
 * on the monotonic clock, and a wake-up that is safe from signal handlers.
 */
#ifndef COMMON_LOOP_H
#define COMMON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

struct loop; /* opaque; one per thread that waits */

#define LOOP_READ  (1u << 0) /* readable, or hung up / in error */
#define LOOP_WRITE (1u << 1) /* writable */

/* Descriptors a loop serves: every backend, listener and connection. */
#define LOOP_MAX_FDS 1024
/* Pending timers. */
#define LOOP_MAX_TIMERS 256

/*
 * Called when @fd is ready: @events holds the LOOP_* bits that are both
 * ready and asked for. A handler may add, change or remove any handler,
 * its own included, and may close its fd after removing it; a handler
 * must tolerate a spurious call (EAGAIN) when an fd number is reused.
 */
typedef void loop_fd_fn(void *opaque, int fd, unsigned events);
/* Called once when a timer expires; it is already removed. */
typedef void loop_timer_fn(void *opaque);

/* Returns 0 and sets *@out (free with loop_free()), or -ENOMEM, -EMFILE. */
int loop_new(struct loop **out, struct err *err);
/* Frees the loop; descriptors are not closed. Accepts NULL. */
void loop_free(struct loop *l);

/*
 * Watch @fd for @mask (LOOP_READ|LOOP_WRITE, may be 0 to keep the handler
 * but ask for nothing) and call @fn. Replaces an earlier handler of @fd.
 * Returns 0, or -EINVAL (fd < 0), -ENOSPC (LOOP_MAX_FDS), -ENOMEM.
 */
int loop_fd_set(struct loop *l, int fd, unsigned mask, loop_fd_fn *fn,
                void *opaque, struct err *err);
/* Change the interest of a watched @fd; no-op if it is not watched. */
void loop_fd_mask(struct loop *l, int fd, unsigned mask);
/* Stop watching @fd (no-op if not watched). */
void loop_fd_del(struct loop *l, int fd);

/* The monotonic clock, in ns. */
uint64_t loop_now_ns(void);

/*
 * Call @fn at monotonic time @when_ns (or at the first loop_run_once()
 * after it). Returns a timer id > 0, or -ENOSPC (LOOP_MAX_TIMERS).
 */
int64_t loop_timer_add(struct loop *l, uint64_t when_ns, loop_timer_fn *fn,
                       void *opaque);
/* Cancel a pending timer; no-op for an expired or unknown id. */
void loop_timer_del(struct loop *l, int64_t id);

/*
 * Wait at most @timeout_ns (0: just look; < 0: until something happens)
 * for ready descriptors, expired timers or loop_wake(), and call their
 * handlers. Returns the number of handlers called (0 on timeout or wake),
 * or a negative errno from poll() other than EINTR.
 */
int loop_run_once(struct loop *l, int64_t timeout_ns);

/* Make a loop_run_once() in progress (or the next one) return. Safe in a
 * signal handler. */
void loop_wake(struct loop *l);

#endif /* COMMON_LOOP_H */
