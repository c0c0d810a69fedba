/* SPDX-License-Identifier: MIT */
/*
 * chardev/chr-mux.c - several front-ends on one backend (mux=on, mon:DEV,
 * -nographic): output from any front-end goes out, input goes to the one
 * with the focus, and Ctrl-a escapes as QEMU's char-mux.
 */
#include "chardev/chardev.h"
#include "chardev/chardev-int.h"

#include <stdio.h>
#include <string.h>

static const char *const mux_help[] = {
    "% h    print this help\n\r",
    "% x    exit emulator\n\r",
    "% s    save disk data back to file (if -snapshot)\n\r",
    "% t    toggle console timestamps\n\r",
    "% b    send break (magic sysrq)\n\r",
    "% c    switch between console and monitor\n\r",
    "% %  sends %\n\r",
    NULL,
};

static void mux_print_help(struct chr *c)
{
    char line[80];

    chr_write_raw(c, "\n\r", 2);
    for (unsigned i = 0; mux_help[i]; i++) {
        size_t n = 0;

        for (const char *p = mux_help[i]; *p && n + 4 < sizeof(line); p++) {
            if (*p == '%') {
                line[n++] = 'C';
                line[n++] = '-';
                line[n++] = 'a';
            } else {
                line[n++] = *p;
            }
        }
        chr_write_raw(c, line, n);
    }
}

static void mux_send_event(struct chr *c, int tag, enum chr_event ev)
{
    struct chr_fe *fe = tag >= 0 ? c->fes[tag] : NULL;

    if (fe && fe->ops->event) {
        fe->ops->event(fe->opaque, ev);
    }
}

void chr_mux_send_focus_event(struct chr *c, enum chr_event ev)
{
    mux_send_event(c, c->focus, ev);
}

void chr_mux_set_focus(struct chr *c, unsigned tag)
{
    if (c->focus != -1) {
        mux_send_event(c, c->focus, CHR_EVENT_MUX_OUT);
    }
    c->focus = (int)tag;
    mux_send_event(c, c->focus, CHR_EVENT_MUX_IN);
}

static void mux_focus_next(struct chr *c)
{
    for (unsigned i = 1; i <= CHR_MUX_MAX; i++) {
        unsigned t = (unsigned)(c->focus + (int)i) % CHR_MUX_MAX;

        if (c->fes[t]) {
            chr_mux_set_focus(c, t);
            return;
        }
    }
}

/* Returns true if @ch goes to the focused front-end. */
static bool mux_proc_byte(struct chr *c, uint8_t ch)
{
    static const char term[] = "QEMU: Terminated\n\r";

    if (!c->esc_pending) {
        if (ch == CHR_ESCAPE_CHAR) {
            c->esc_pending = true;
            return false;
        }
        return true;
    }
    c->esc_pending = false;
    switch (ch) {
    case CHR_ESCAPE_CHAR:
        return true;
    case '?':
    case 'h':
        mux_print_help(c);
        break;
    case 'x':
        chr_write_raw(c, term, sizeof(term) - 1);
        if (c->ctx->host.quit) {
            c->ctx->host.quit(c->ctx->host.opaque);
        }
        break;
    case 's':
        if (c->ctx->host.commit) {
            c->ctx->host.commit(c->ctx->host.opaque);
        }
        break;
    case 'b':
        chr_mux_send_focus_event(c, CHR_EVENT_BREAK);
        break;
    case 'c':
        mux_focus_next(c);
        break;
    case 't':
        c->timestamps = !c->timestamps;
        c->ts_start_ns = 0;
        c->linestart = false;
        break;
    default:
        break;
    }
    return false;
}

static size_t fe_room(struct chr_fe *fe)
{
    if (!fe || !fe->ops->read) {
        return 0;
    }
    return fe->ops->can_read ? fe->ops->can_read(fe->opaque) : 1;
}

void chr_mux_accept_input(struct chr *c)
{
    struct chr_fe *fe = c->focus >= 0 ? c->fes[c->focus] : NULL;

    while (fe && fe->prod != fe->cons && fe_room(fe)) {
        uint8_t b = fe->mux_buf[fe->cons++ % CHR_MUX_BUF];

        fe->ops->read(fe->opaque, &b, 1);
    }
}

size_t chr_mux_can_read(struct chr *c)
{
    struct chr_fe *fe = c->focus >= 0 ? c->fes[c->focus] : NULL;

    if (!fe) {
        return 1; /* escapes still work with nothing focused */
    }
    if (fe->prod - fe->cons < CHR_MUX_BUF) {
        return CHR_MUX_BUF - (fe->prod - fe->cons);
    }
    return fe_room(fe);
}

void chr_mux_input(struct chr *c, const uint8_t *buf, size_t len)
{
    chr_mux_accept_input(c);
    for (size_t i = 0; i < len; i++) {
        struct chr_fe *fe;

        if (!mux_proc_byte(c, buf[i])) {
            continue;
        }
        /* Ctrl-a c may have moved the focus. */
        fe = c->focus >= 0 ? c->fes[c->focus] : NULL;
        if (!fe) {
            continue;
        }
        if (fe->prod == fe->cons && fe_room(fe)) {
            fe->ops->read(fe->opaque, &buf[i], 1);
        } else if (fe->prod - fe->cons < CHR_MUX_BUF) {
            fe->mux_buf[fe->prod++ % CHR_MUX_BUF] = buf[i];
        }
    }
}

size_t chr_mux_write(struct chr *c, const void *src, size_t len)
{
    const uint8_t *p = src;
    char stamp[64];

    if (!c->timestamps) {
        return chr_write_raw(c, src, len);
    }
    for (size_t i = 0; i < len; i++) {
        if (c->linestart) {
            uint64_t now = loop_now_ns() / 1000000;
            uint64_t ti, secs;
            int n;

            if (!c->ts_start_ns) {
                c->ts_start_ns = now ? now : 1;
            }
            ti = now - c->ts_start_ns;
            secs = ti / 1000;
            n = snprintf(stamp, sizeof(stamp), "[%02u:%02u:%02u.%03u] ",
                         (unsigned)(secs / 3600), (unsigned)(secs / 60 % 60),
                         (unsigned)(secs % 60), (unsigned)(ti % 1000));
            chr_write_raw(c, stamp, (size_t)n);
            c->linestart = false;
        }
        chr_write_raw(c, p + i, 1);
        if (p[i] == '\n') {
            c->linestart = true;
        }
    }
    return len;
}
