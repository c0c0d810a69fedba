/* SPDX-License-Identifier: MIT */
/* chardev/chardev-int.h - internals shared by chardev/chr-*.c. */
#ifndef CHARDEV_CHARDEV_INT_H
#define CHARDEV_CHARDEV_INT_H

#include "chardev/chardev.h"

#include <termios.h>

#include "common/loop.h"

#define CHR_FILENAME_MAX 3072
#define CHR_MUX_BUF      32 /* input held per mux front-end (QEMU's) */

struct chr;

/* A backend kind: how to tear down and what to do on hang-up. */
struct chr_driver {
    const char *name;
    /* Input ended or the peer went away (read 0, EIO, write EPIPE). */
    void (*hangup)(struct chr *c);
    /* Release what the backend owns beyond in_fd/out_fd. */
    void (*close)(struct chr *c);
    /* Filter input in place (telnet); returns the bytes left. */
    size_t (*filter)(struct chr *c, uint8_t *buf, size_t len);
};

struct chr_fe {
    struct chr *chr;
    const struct chr_fe_ops *ops;
    void *opaque;
    unsigned tag;                 /* index on a mux */
    uint8_t mux_buf[CHR_MUX_BUF]; /* mux input not yet taken */
    unsigned prod, cons;
};

struct chr {
    struct chr_ctx *ctx;
    char *label;
    char filename[CHR_FILENAME_MAX];
    const struct chr_driver *drv;
    void *drv_state;  /* backend-private; freed by drv->close */
    int in_fd;        /* -1: no input */
    int out_fd;       /* -1: output discarded */
    bool owns_fds;    /* close in_fd/out_fd at the end (not stdio) */
    bool out_socket;  /* send(MSG_NOSIGNAL) */
    size_t out_chunk; /* > 0: a blocking fd, write this much after POLLOUT */
    bool connected;   /* a peer is there (always, for non-sockets) */
    bool in_paused;   /* the front-end can take nothing */
    uint8_t *out;     /* pending output, CHR_OUT_MAX */
    size_t out_off, out_len;
    uint64_t out_dropped; /* bytes over CHR_OUT_MAX */
    bool is_stdio;
    bool tty_saved;
    struct termios saved_tty;
    int tty_fd;
    /* front-ends */
    bool mux;
    struct chr_fe *fes[CHR_MUX_MAX]; /* plain: fes[0] only */
    unsigned nb_fes;
    int focus; /* mux: index in fes, -1 before any */
    bool esc_pending;
    bool timestamps, linestart;
    uint64_t ts_start_ns;
};

struct chr_ctx {
    struct loop *loop;
    struct chr_host_ops host;
    struct chr **chrs;
    size_t nb_chrs;
    bool stdio_used;
    bool muxes_open; /* chr_ctx_open_muxes() was called */
};

/* chr.c */
int chr_alloc(struct chr_ctx *ctx, const char *label,
              const struct chr_driver *drv, struct chr **out, struct err *err);
/* Watch @in_fd/@out_fd (either may be -1; may be equal). */
int chr_fds_set(struct chr *c, int in_fd, int out_fd, struct err *err);
/* Stop watching and forget the descriptors (does not close them). */
void chr_fds_clear(struct chr *c);
void chr_update_mask(struct chr *c);
/* Deliver @ev to the front-ends (a mux: all of them). */
void chr_event_send(struct chr *c, enum chr_event ev);
/* Raw output to the backend, bypassing the mux (help texts). */
size_t chr_write_raw(struct chr *c, const void *src, size_t len);
/* Free a chardev (after removing it from the registry). */
void chr_destroy(struct chr *c);

/* chr-fd.c */
int chr_open_fd_backend(struct chr_ctx *ctx, const char *backend,
                        const struct opts *o, const char *label,
                        chr_info_fn *info, void *info_opaque, struct chr **out,
                        struct err *err);
bool chr_fd_backend_known(const char *backend);

/* chr-socket.c */
int chr_open_socket(struct chr_ctx *ctx, const struct opts *o,
                    const char *label, chr_info_fn *info, void *info_opaque,
                    struct chr **out, struct err *err);

/* chr-mux.c */
void chr_mux_input(struct chr *c, const uint8_t *buf, size_t len);
size_t chr_mux_can_read(struct chr *c);
void chr_mux_accept_input(struct chr *c);
size_t chr_mux_write(struct chr *c, const void *src, size_t len);
void chr_mux_set_focus(struct chr *c, unsigned tag);
/* Deliver @ev to the front-end with the focus only (QEMU's
 * mux_chr_be_event). */
void chr_mux_send_focus_event(struct chr *c, enum chr_event ev);

#endif /* CHARDEV_CHARDEV_INT_H */
