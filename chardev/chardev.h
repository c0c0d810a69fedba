/* SPDX-License-Identifier: MIT */
/*
 * chardev/chardev.h - character devices as QEMU spells them (-chardev,
 * -serial, -monitor): backends that own their descriptors in a common/loop,
 * non-blocking output with bounded buffers, and front-ends (the serial
 * port, monitor sessions) attached by the binary, several on a mux.
 */
#ifndef CHARDEV_CHARDEV_H
#define CHARDEV_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct loop;
struct opts;
struct opts_list;
struct chr_ctx; /* opaque: the registry of chardevs by id, and their loop */
struct chr;     /* opaque: one backend */
struct chr_fe;  /* opaque: one front-end attached to a backend */

/* Output a backend holds for a reader that does not keep up: past it a
 * socket drops the excess (Redis's hard client-output-buffer limit) and a
 * local backend (stdio, file, pipe, tty, pty) waits for its reader. */
#define CHR_OUT_MAX (256u << 10)
/* Front-ends on one mux (QEMU's MAX_MUX). */
#define CHR_MUX_MAX 4
/* Ctrl-a, the mux escape character. */
#define CHR_ESCAPE_CHAR 0x01

enum chr_event {
    CHR_EVENT_OPENED, /* a peer connected (or the backend opened) */
    CHR_EVENT_CLOSED, /* the peer went away */
    CHR_EVENT_BREAK,  /* telnet BREAK or Ctrl-a b */
    CHR_EVENT_MUX_IN, /* this front-end got the mux focus */
    CHR_EVENT_MUX_OUT,
};

/* What a front-end receives. All callbacks may be NULL. */
struct chr_fe_ops {
    /* Bytes the front-end can take now; 0 pauses input until
     * chr_fe_accept_input(). NULL: unlimited. */
    size_t (*can_read)(void *opaque);
    /* At most can_read() bytes. */
    void (*read)(void *opaque, const uint8_t *src, size_t src_len);
    void (*event)(void *opaque, enum chr_event ev);
};

/* What a chardev asks of the program (mux Ctrl-a x, Ctrl-a s). */
struct chr_host_ops {
    void *opaque;
    void (*quit)(void *opaque);   /* Ctrl-a x, after "QEMU: Terminated" */
    void (*commit)(void *opaque); /* Ctrl-a s */
    /* Asked after a signal interrupts a wait for a local backend's reader:
     * true (the program is quitting) drops the rest of that write instead
     * of waiting on. NULL: always wait. */
    bool (*interrupted)(void *opaque);
};

/*
 * A registry of chardevs whose descriptors are served by @loop (borrowed).
 * @host may be NULL. Returns 0 and *@out, or -ENOMEM.
 */
int chr_ctx_new(struct loop *loop, const struct chr_host_ops *host,
                struct chr_ctx **out, struct err *err);
/* Closes every chardev (restoring the terminal), then frees. Accepts NULL. */
void chr_ctx_free(struct chr_ctx *ctx);
/*
 * Front-ends attached to a mux get CHR_EVENT_OPENED only from here on, so
 * that banners and prompts go to the front-end that has the focus once
 * start-up is done (QEMU's resume_mux_open()). Call it after attaching
 * the start-up front-ends.
 */
void chr_ctx_open_muxes(struct chr_ctx *ctx);
/*
 * Write out what the backends still buffer, waiting at most @timeout_ms
 * for slow readers (at exit, so the last guest output is not lost).
 */
void chr_ctx_flush(struct chr_ctx *ctx, int timeout_ms);

/* The -chardev option list (QEMU's keys; "backend" implied), for
 * opts_parse(). */
const struct opts_list *chr_opts_list(void);

/*
 * An informational line for the user. @located: QEMU prints it as
 * "prog: -option arg: info: line"; otherwise bare ("char device
 * redirected to ...").
 */
typedef void chr_info_fn(void *opaque, bool located, const char *line);

/*
 * Create a chardev from a parsed -chardev option list (backend implied,
 * id= required). Messages are QEMU's: "'x' is not a valid char driver
 * name", "chardev: no id specified", "Duplicate ID 'a' for chardev",
 * "Failed to connect to 'h:p': Connection refused". Informational lines
 * QEMU prints ("char device redirected to /dev/pts/3 (label p0)", "QEMU
 * waiting for connection on: ...") go to @info (may be NULL).
 * Returns 0 and *@out (owned by @ctx), or -EINVAL, -EEXIST, -ENOTSUP, or
 * a negative errno from the host.
 */
int chr_new_opts(struct chr_ctx *ctx, const struct opts *o, chr_info_fn *info,
                 void *info_opaque, struct chr **out, struct err *err);
/*
 * Create a chardev from the legacy spelling of -serial/-monitor/-qmp:
 * "stdio", "null", "none", "vc", "file:F", "pipe:P", "pty", "/dev/ttyS0",
 * "tcp:H:P[,opts]", "telnet:H:P[,opts]", "unix:PATH[,opts]" (short-form
 * booleans silent), "mon:DEV" (a mux; *@mon_out set true), "chardev:ID"
 * (an existing chardev, returned as is). @label names it (serial0,
 * compat_monitor0). Returns as chr_new_opts(); "'x' is not a valid char
 * driver" for an unknown spelling.
 */
int chr_new_legacy(struct chr_ctx *ctx, const char *spec, const char *label,
                   chr_info_fn *info, void *info_opaque, bool *mon_out,
                   struct chr **out, struct err *err);

/* Lookup by id; NULL if none. */
struct chr *chr_find(struct chr_ctx *ctx, const char *id);
/* Number of chardevs and the @i-th, in creation order (query-chardev). */
size_t chr_count(const struct chr_ctx *ctx);
struct chr *chr_at(const struct chr_ctx *ctx, size_t i);
/* Its id (label), and QEMU's query-chardev filename ("pty:/dev/pts/3",
 * "disconnected:tcp:127.0.0.1:4444,server=on", "vc"). Borrowed. */
const char *chr_label(const struct chr *c);
const char *chr_filename(const struct chr *c);
/* query-chardev "frontend-open": a front-end is attached. */
bool chr_fe_attached(const struct chr *c);
/* True for a mux (mux=on, mon:). */
bool chr_is_mux(const struct chr *c);
/*
 * Deliver a BREAK to the front-ends of chardev @id (QMP chardev-send-break),
 * as QEMU does: on a mux to the front-end with the focus, as Ctrl-a b; on
 * "ID-base", the backend under mux ID, to all of them, as a telnet BREAK.
 * Returns 0, or -ENOENT ("Chardev 'x' not found").
 */
int chr_send_break(struct chr_ctx *ctx, const char *id, struct err *err);
/* Remove a chardev with no front-end. Returns 0, -EBUSY ("Chardev 'x' is
 * busy"), or -ENOENT. */
int chr_remove(struct chr_ctx *ctx, const char *id, struct err *err);

/*
 * Attach a front-end to @c. A plain chardev takes one ("chardev 'x' is
 * already in use"); a mux up to CHR_MUX_MAX, the last attached taking the
 * focus as in QEMU. CHR_EVENT_OPENED is delivered at attach when the
 * backend is connected (on a mux, after chr_ctx_open_muxes()). Returns 0 and
 * *@out, or -EBUSY, -ENOMEM.
 */
int chr_fe_attach(struct chr *c, const struct chr_fe_ops *ops, void *opaque,
                  struct chr_fe **out, struct err *err);
/* Detach and free. Accepts NULL. */
void chr_fe_detach(struct chr_fe *fe);
/*
 * Queue @src_len bytes for output. A socket never blocks: it accepts what
 * fits under CHR_OUT_MAX and drops the excess. A local backend (stdio,
 * file, pipe, tty, pty) waits in poll() for its reader when the buffer is
 * full, as QEMU blocks, and loses nothing. Returns the number of bytes
 * accepted; a backend with no peer discards (returns @src_len).
 */
size_t chr_fe_write(struct chr_fe *fe, const void *src, size_t src_len);
/* The front-end can take input again (after can_read returned 0). */
void chr_fe_accept_input(struct chr_fe *fe);
/* A peer is connected (sockets); always true for other backends. */
bool chr_fe_connected(const struct chr_fe *fe);
/* The chardev @fe is attached to. */
struct chr *chr_fe_chr(const struct chr_fe *fe);
/* On a mux: give @fe the focus (QEMU's qemu_chr_fe_take_focus). */
void chr_fe_take_focus(struct chr_fe *fe);

#endif /* CHARDEV_CHARDEV_H */
