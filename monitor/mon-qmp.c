/* SPDX-License-Identifier: MIT */
/*
 * monitor/mon-qmp.c - sessions, the QMP protocol (greeting, negotiation,
 * request checks and dispatch, replies) and event broadcast.
 *
 * DESIGN NOTES
 *
 * Invariants (checked by mon_session_invariants_ok()):
 *  1. A session is on its monitor's list exactly once from
 *     mon_session_new() to mon_session_free().
 *  2. negotiated implies open and mode == MON_MODE_QMP.
 *  3. While a session is closed its JSON stream holds no bytes and no
 *     tokens, and its HMP line is empty.
 *  4. Events go only to sessions that are negotiated.
 *  5. Every reply and event is handed to out_fn in one call and ends in
 *     CRLF; '\n' never reaches out_fn without its '\r'.
 *  6. A request is answered exactly once: one reply per emitted message
 *     (value or error), in input order; events raised by the handler go
 *     out before its reply.
 *  7. Only an HMP session is held (hold != 0), and only a held one keeps
 *     waiting input (held_in), at most MON_HOLD_INPUT_MAX bytes.
 *
 * States of a QMP session:
 *
 *      new ---> CLOSED --open--> NEGOTIATION --qmp_capabilities--> COMMAND
 *                 ^                   |                               |
 *                 +------close--------+--------------close------------+
 *
 * Transition            function
 *   new -> CLOSED        mon_session_new()
 *   CLOSED -> NEGOT.     mon_session_open() (sends the greeting)
 *   NEGOT. -> COMMAND    qmp_dispatch() on a successful qmp_capabilities
 *   * -> CLOSED          mon_session_close()
 *   CLOSED -> freed      mon_session_free()
 * HMP sessions have just CLOSED and OPEN (banner and prompt on open); an
 * OPEN one is HELD from mon_req_hold() to mon_hold_release() (no prompt,
 * input kept for the release), across a close and reopen as in QEMU.
 */
#include "monitor/mon-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "common/alloc.h"

static bool mon_session_invariants_ok(const struct mon_session *s)
{
    const struct mon_session *it;
    int seen = 0;

    for (it = s->mon->sessions; it; it = it->next) {
        seen += it == s;
    }
    if (seen != 1) {
        return false;
    }
    if (s->negotiated && (!s->open || s->mode != MON_MODE_QMP)) {
        return false;
    }
    if (!s->open && (s->js.len || s->js.ntok || s->rl.cmd_len)) {
        return false;
    }
    if ((s->hold && s->mode != MON_MODE_HMP) || (!s->hold && s->held_in.len) ||
        s->held_in.len > MON_HOLD_INPUT_MAX) {
        return false;
    }
    return true;
}

void mon_session_emit(struct mon_session *s, const char *buf, size_t len)
{
    struct mon_buf b = {0};
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            mon_buf_putc(&b, '\r');
        }
        mon_buf_putc(&b, buf[i]);
    }
    if (!b.oom && b.len) {
        s->out_fn(s->opaque, b.p, b.len);
    }
    mon_buf_fini(&b);
}

static void send_json(struct mon_session *s, const struct mon_json *v)
{
    struct mon_buf b = {0};

    mon_json_print(&b, v, s->pretty);
    mon_buf_putc(&b, '\n');
    if (!b.oom) {
        mon_session_emit(s, b.p, b.len);
    }
    mon_buf_fini(&b);
}

static const char *class_name(enum mon_err_class cls)
{
    switch (cls) {
    case MON_ERR_COMMAND_NOT_FOUND:
        return "CommandNotFound";
    case MON_ERR_DEVICE_NOT_ACTIVE:
        return "DeviceNotActive";
    case MON_ERR_DEVICE_NOT_FOUND:
        return "DeviceNotFound";
    case MON_ERR_KVM_MISSING_CAP:
        return "KVMMissingCap";
    default:
        return "GenericError";
    }
}

/* {"id": ID, "error": {"class": C, "desc": D}} as QEMU orders it. */
static void send_error(struct mon_session *s, const struct mon_json *id,
                       enum mon_err_class cls, const char *desc)
{
    struct mon_json *r = mon_json_object_new(), *e = mon_json_object_new();
    int ret = 0;

    if (id) {
        ret |= mon_json_object_set_take(r, "id", mon_json_copy(id));
    }
    ret |=
        mon_json_object_set_take(e, "class", mon_json_str_new(class_name(cls)));
    ret |= mon_json_object_set_take(e, "desc", mon_json_str_new(desc));
    ret |= mon_json_object_set_take(r, "error", e);
    if (!ret) {
        send_json(s, r);
    }
    mon_json_free(r);
}

static void send_return(struct mon_session *s, const struct mon_json *id,
                        struct mon_json *val)
{
    struct mon_json *r = mon_json_object_new();
    int ret;

    ret = mon_json_object_set_take(r, "return",
                                   val ? val : mon_json_object_new());
    if (id) {
        ret |= mon_json_object_set_take(r, "id", mon_json_copy(id));
    }
    if (!ret) {
        send_json(s, r);
    } else {
        send_error(s, id, MON_ERR_GENERIC, "out of memory");
    }
    mon_json_free(r);
}

static void qmp_dispatch(struct mon_session *s, const struct mon_json *msg)
{
    const struct mon_json *id = mon_json_object_get(msg, "id");
    const struct mon_json *args = NULL, *v;
    const struct mon_cmd_ent *ent;
    const char *name = NULL, *key;
    struct mon_req req = {0};
    struct err err = {0};
    char desc[300];
    size_t i;
    int ret;

    for (i = 0; i < mon_json_len(msg); i++) {
        v = mon_json_object_at(msg, i, &key);
        if (!strcmp(key, "execute")) {
            if (v->type != MON_JSON_STRING) {
                send_error(s, id, MON_ERR_GENERIC,
                           "QMP input member 'execute' must be a string");
                return;
            }
            name = v->u.s;
        } else if (!strcmp(key, "arguments")) {
            if (v->type != MON_JSON_OBJECT) {
                send_error(s, id, MON_ERR_GENERIC,
                           "QMP input member 'arguments' must be an object");
                return;
            }
            args = v;
        } else if (strcmp(key, "id")) {
            /* includes exec-oob: rrvm offers no OOB capability */
            snprintf(desc, sizeof(desc), "QMP input member '%s' is unexpected",
                     key);
            send_error(s, id, MON_ERR_GENERIC, desc);
            return;
        }
    }
    if (!name) {
        send_error(s, id, MON_ERR_GENERIC, "QMP input lacks member 'execute'");
        return;
    }
    ent = mon_cmd_find_qmp(s->mon, name);
    if (!s->negotiated && (!ent || !(ent->cmd->flags & MON_CMD_CAPABILITIES))) {
        send_error(s, id, MON_ERR_COMMAND_NOT_FOUND,
                   "Expecting capabilities negotiation with "
                   "'qmp_capabilities'");
        return;
    }
    if (!ent) {
        snprintf(desc, sizeof(desc), "The command %.200s has not been found",
                 name);
        send_error(s, id, MON_ERR_COMMAND_NOT_FOUND, desc);
        return;
    }
    ret = mon_type_check_args(ent->args, args, &err);
    /* QEMU checks the arguments before it refuses a second negotiation */
    if (ret == 0 && s->negotiated && (ent->cmd->flags & MON_CMD_CAPABILITIES)) {
        send_error(s, id, MON_ERR_COMMAND_NOT_FOUND,
                   "Capabilities negotiation is already complete, command "
                   "ignored");
        return;
    }
    if (ret == 0) {
        req.session = s;
        ret = mon_cmd_run(s->mon, &req, ent, args, &err);
    }
    if (ret < 0) {
        mon_json_free(req.ret);
        send_error(s, id, req.cls, err.msg[0] ? err.msg : strerror(-ret));
        return;
    }
    if (ent->cmd->flags & MON_CMD_CAPABILITIES) {
        s->negotiated = true;
    }
    send_return(s, id, req.ret);
}

static void qmp_on_message(void *opaque, struct mon_json *val, const char *msg)
{
    struct mon_session *s = opaque;

    if (!val) {
        send_error(s, NULL, MON_ERR_GENERIC, msg);
        return;
    }
    if (val->type != MON_JSON_OBJECT) {
        send_error(s, NULL, MON_ERR_GENERIC, "QMP input must be a JSON object");
    } else {
        qmp_dispatch(s, val);
    }
    mon_json_free(val);
}

/* ---- sessions ---- */

int mon_session_new(struct mon *mon, enum mon_mode mode, bool pretty,
                    mon_out_fn *out_fn, void *opaque, struct mon_session **out,
                    struct err *err)
{
    struct mon_session *s;

    CHECK_ARG(mon && out_fn && out);
    if (mode != MON_MODE_QMP && mode != MON_MODE_HMP) {
        return err_set(err, -EINVAL, "unknown monitor mode %d", (int)mode);
    }
    if (mode == MON_MODE_HMP && pretty) {
        return err_set(err, -EINVAL,
                       "'pretty' is not compatible with HMP monitors");
    }
    s = mem_calloc(1, sizeof(*s));
    if (!s) {
        return err_set(err, -ENOMEM, "monitor session: out of memory");
    }
    s->mon = mon;
    s->mode = mode;
    s->pretty = pretty;
    s->out_fn = out_fn;
    s->opaque = opaque;
    mon_json_stream_init(&s->js, qmp_on_message, s);
    mon_rl_init(&s->rl, "(qemu) ", &s->hmp_out, NULL, NULL, s);
    s->next = mon->sessions;
    mon->sessions = s;
    assert(mon_session_invariants_ok(s));
    *out = s;
    return 0;
}

void mon_session_open(struct mon_session *s)
{
    struct mon_json *g, *q;
    int ret;

    if (!s) {
        return;
    }
    mon_session_close(s);
    s->open = true;
    if (s->mode == MON_MODE_HMP) {
        mon_hmp_session_open(s);
        assert(mon_session_invariants_ok(s));
        return;
    }
    g = mon_json_object_new();
    q = mon_json_object_new();
    ret = mon_json_object_set_take(q, "version", mon_version_json(s->mon));
    ret |= mon_json_object_set_take(q, "capabilities", mon_json_array_new());
    ret |= mon_json_object_set_take(g, "QMP", q);
    if (!ret) {
        send_json(s, g);
    }
    mon_json_free(g);
    assert(mon_session_invariants_ok(s));
}

int mon_session_input(struct mon_session *s, const void *src, size_t src_len)
{
    int ret = 0;

    CHECK_ARG(s && (src || !src_len));
    if (!s->open) {
        s->open = true;
    }
    if (s->mode == MON_MODE_HMP) {
        mon_hmp_session_input(s, src, src_len);
    } else {
        ret = mon_json_stream_feed(&s->js, src, src_len);
        if (ret < 0) {
            send_error(s, NULL, MON_ERR_GENERIC, "out of memory");
        }
    }
    assert(mon_session_invariants_ok(s));
    return ret;
}

void mon_session_close(struct mon_session *s)
{
    if (!s) {
        return;
    }
    s->open = false;
    s->negotiated = false;
    s->suspended = false;
    mon_buf_fini(&s->held_in); /* the hold itself stays, as in QEMU */
    mon_json_stream_reset(&s->js);
    mon_rl_reset(&s->rl);
    mon_buf_fini(&s->hmp_out);
    assert(mon_session_invariants_ok(s));
}

void mon_session_free(struct mon_session *s)
{
    struct mon_session **pp;

    if (!s) {
        return;
    }
    for (pp = &s->mon->sessions; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    mon_json_stream_fini(&s->js);
    mon_rl_fini(&s->rl);
    mon_buf_fini(&s->hmp_out);
    mon_buf_fini(&s->held_in);
    mem_free(s);
}

void *mon_session_opaque(const struct mon_session *s)
{
    return s ? s->opaque : NULL;
}

bool mon_session_negotiated(const struct mon_session *s)
{
    return s && s->negotiated;
}

#ifdef CONFIG_TESTING
void mon_session_set_limits(struct mon_session *s, size_t max_bytes,
                            size_t max_tokens, size_t max_depth)
{
    s->js.max_bytes = max_bytes;
    s->js.max_tokens = max_tokens;
    s->js.max_depth = max_depth;
}
#endif

/* ---- events ---- */

int mon_event_emit(struct mon *mon, const char *name,
                   const struct mon_json *data)
{
    struct mon_json *ev = mon_json_object_new(), *ts = mon_json_object_new();
    struct mon_session *s;
    int64_t sec = -1, usec = -1;
    struct timeval tv;
    int ret;

    CHECK_ARG(mon && name);
    if (mon->cfg.clock_fn) {
        if (mon->cfg.clock_fn(mon->cfg.clock_opaque, &sec, &usec) < 0) {
            sec = usec = -1;
        }
    } else if (gettimeofday(&tv, NULL) == 0) {
        sec = tv.tv_sec;
        usec = tv.tv_usec;
    }
    ret = mon_json_object_set_take(ts, "seconds", mon_json_int_new(sec));
    ret |= mon_json_object_set_take(ts, "microseconds", mon_json_int_new(usec));
    ret |= mon_json_object_set_take(ev, "timestamp", ts);
    ret |= mon_json_object_set_take(ev, "event", mon_json_str_new(name));
    if (data) {
        ret |= mon_json_object_set_take(ev, "data", mon_json_copy(data));
    }
    if (ret) {
        mon_json_free(ev);
        return -ENOMEM;
    }
    for (s = mon->sessions; s; s = s->next) {
        if (s->negotiated) {
            send_json(s, ev);
        }
    }
    mon_json_free(ev);
    return 0;
}
