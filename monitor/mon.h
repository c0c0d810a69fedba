/* SPDX-License-Identifier: MIT */
/*
 * monitor/mon.h - the QEMU-compatible monitor (QMP and HMP), transport- and
 * CPU-agnostic: a session is fed bytes and emits bytes through a callback;
 * the binary registers the machine's commands in one table.
 */
#ifndef MONITOR_MON_H
#define MONITOR_MON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct mon;         /* opaque: command registry, sessions, event broadcast */
struct mon_session; /* opaque: one connection (QMP or HMP) */
struct mon_req;     /* opaque: one command invocation, given to handlers */
struct mon_json;    /* opaque: a JSON value owned by the module */

enum mon_mode {
    MON_MODE_QMP, /* JSON control protocol */
    MON_MODE_HMP, /* human monitor with readline */
};

enum mon_json_type {
    MON_JSON_NULL,
    MON_JSON_BOOL,
    MON_JSON_INT,    /* int64 or uint64 (see mon_json_int_get) */
    MON_JSON_NUMBER, /* a double */
    MON_JSON_STRING,
    MON_JSON_ARRAY,
    MON_JSON_OBJECT,
};

/* QAPI error classes (qemu/qemu:qapi/error.json). */
enum mon_err_class {
    MON_ERR_GENERIC,
    MON_ERR_COMMAND_NOT_FOUND,
    MON_ERR_DEVICE_NOT_ACTIVE,
    MON_ERR_DEVICE_NOT_FOUND,
    MON_ERR_KVM_MISSING_CAP,
};

/* ---- callbacks supplied by the binary ---- */

/* Output of a session: @len bytes at @buf, to be written in order. */
typedef void mon_out_fn(void *opaque, const char *buf, size_t len);
/*
 * Wall-clock time for event timestamps. Return 0 and fill both, or a
 * negative errno (the event then carries -1/-1 as QEMU does).
 */
typedef int mon_clock_fn(void *opaque, int64_t *sec, int64_t *usec);
/*
 * Resolve the HMP expression term `$@name` (e.g. "pc", "a0"). Return 0 and
 * set *@val, or -ENOENT ("unknown register").
 */
typedef int mon_reg_fn(void *opaque, const char *name, uint64_t *val);

/* ---- the monitor ---- */

struct mon_config {
    int version_major; /* query-version "qemu" numbers */
    int version_minor;
    int version_micro;
    const char *package;    /* query-version "package"; NULL = "" */
    mon_clock_fn *clock_fn; /* NULL: gettimeofday() */
    void *clock_opaque;
    mon_reg_fn *reg_fn; /* NULL: every $reg is unknown */
    void *reg_opaque;
    int nb_cpus; /* human-monitor-command's cpu-index must be below; 0: any */
};

/*
 * Create a monitor with the core commands (qmp_capabilities, query-commands,
 * query-qmp-schema, query-version, human-monitor-command, help, info,
 * info version, info history) registered. @cfg is copied (strings too).
 * Returns 0 and sets *@out, or -ENOMEM.
 */
int mon_new(const struct mon_config *cfg, struct mon **out, struct err *err);
/* Frees the monitor and every session still attached. Accepts NULL. */
void mon_free(struct mon *mon);

/* ---- command registration ---- */

/* Handler of a command, QMP or HMP. Returns 0 or -errno with @err set. */
typedef int mon_cmd_fn(struct mon_req *req, struct err *err);
/* Print, for HMP, what a handler returned (@ret is borrowed, never NULL). */
typedef void mon_hmp_fmt_fn(struct mon_req *req, const struct mon_json *ret);

#define MON_CMD_HMP_ONLY (1u << 0) /* not in QMP; use human-monitor-command */
/* `help NAME` runs the handler without arguments instead of printing the
 * help line (QEMU's `help log` lists the log items). */
#define MON_CMD_HELP_RUNS (1u << 1)

/*
 * One command table entry. A command is implemented once; the entry feeds
 * QMP dispatch, argument checking, query-commands, query-qmp-schema, HMP
 * parsing and `help`.
 *
 * Type expressions (@args, @ret) use a compact QAPI notation:
 *   str int bool number any null size       built-in types
 *   [T]                                     array of T
 *   {name:T,*opt:T}                         object; '*' marks optional
 *   enum(a|b|c)                             enumeration of strings
 * The HMP spec @hmp_args is QEMU's args_type: comma-separated `name:type`
 * with type s (word or "quoted" string), S (rest of line), F (filename),
 * B (block device), i (32-bit expression), l (64-bit expression),
 * M (MiB size), o (size with suffix), b (on|off), / (count+format+size:
 * fills "count", "format", "size"), -x (flag, e.g. "force:-f"); a trailing
 * '?' makes it optional. HMP argument names should equal the QMP names so
 * one handler serves both.
 */
struct mon_cmd {
    const char *name;        /* QMP name; NULL if HMP-only */
    const char *hmp_name;    /* "stop|s", "info status"; NULL: QMP only */
    const char *args;        /* argument object type; NULL = no arguments */
    const char *ret;         /* return type; NULL = {} */
    const char *hmp_args;    /* QEMU args_type; NULL = none */
    const char *hmp_params;  /* params column of `help`; NULL = "" */
    const char *help;        /* help text */
    mon_cmd_fn *fn;          /* never NULL */
    mon_hmp_fmt_fn *hmp_fmt; /* NULL: HMP prints nothing on success */
    unsigned flags;          /* MON_CMD_* */
    void *opaque;            /* given back by mon_req_opaque() */
};

/*
 * Register @n entries of @cmds. The entries are borrowed, not copied: the
 * array and its strings must stay valid until mon_free() (a static table,
 * or a heap copy freed after mon_free()). Returns 0, or -EINVAL (bad type
 * expression, HMP spec or duplicate name; @err says which), -ENOMEM.
 */
int mon_cmd_register(struct mon *mon, const struct mon_cmd *cmds, size_t n,
                     struct err *err);

/* ---- sessions ---- */

/*
 * Attach a session to @mon. @pretty is QMP only. Output goes to @out_fn.
 * Nothing is sent until mon_session_open(). Returns 0 and sets *@out (owned
 * by the caller, free with mon_session_free()), or -EINVAL, -ENOMEM.
 */
int mon_session_new(struct mon *mon, enum mon_mode mode, bool pretty,
                    mon_out_fn *out_fn, void *opaque, struct mon_session **out,
                    struct err *err);
/* Connection opened: QMP greeting, or HMP banner and prompt. */
void mon_session_open(struct mon_session *s);
/*
 * Feed @src_len input bytes. Replies and echo are emitted through the out
 * callback before this returns. Returns 0, or -ENOMEM (the session resets
 * its parser and stays usable).
 */
int mon_session_input(struct mon_session *s, const void *src, size_t src_len);
/*
 * Connection closed: drop partial input, back to negotiation mode (QMP) or
 * an empty line (HMP). The session can be opened again (chardev reconnect).
 */
void mon_session_close(struct mon_session *s);
/*
 * The session's front-end got the focus of a mux again (Ctrl-a c): an HMP
 * session drops the line being typed and shows the prompt, as QEMU's
 * monitor_event(CHR_EVENT_MUX_IN) does (readline_restart(), then
 * readline_show_prompt()). No-op for QMP and for a session not open.
 */
void mon_session_focus(struct mon_session *s);
/* Detach from the monitor and free. Accepts NULL. */
void mon_session_free(struct mon_session *s);
/* The @opaque given to mon_session_new(). */
void *mon_session_opaque(const struct mon_session *s);
/* True between a QMP session's qmp_capabilities and its close. */
bool mon_session_negotiated(const struct mon_session *s);

/* ---- events ---- */

/*
 * Send `{"timestamp": ..., "event": @name, "data": @data}` to every QMP
 * session in command mode. @data is borrowed and may be NULL (then "data"
 * is left out). Returns 0 or -ENOMEM.
 */
int mon_event_emit(struct mon *mon, const char *name,
                   const struct mon_json *data);

/* ---- inside a handler ---- */

/* The command's arguments object (borrowed, never NULL). */
const struct mon_json *mon_req_args(const struct mon_req *req);
/* Argument lookups; NULL / false when absent or of another type. */
const char *mon_req_arg_str(const struct mon_req *req, const char *name);
bool mon_req_arg_int(const struct mon_req *req, const char *name, int64_t *val);
bool mon_req_arg_bool(const struct mon_req *req, const char *name, bool *val);
void *mon_req_opaque(const struct mon_req *req);
struct mon *mon_req_mon(const struct mon_req *req);
/* True when the request came from HMP (or human-monitor-command). */
bool mon_req_is_hmp(const struct mon_req *req);
/*
 * The session the request came in on; NULL for the scratch HMP context of
 * human-monitor-command. Per-connection state (QEMU's per-monitor current
 * CPU) can hang off mon_session_opaque().
 */
struct mon_session *mon_req_session(const struct mon_req *req);
/*
 * The cpu-index argument of the human-monitor-command this HMP request runs
 * under, or -1 (none, or not run through human-monitor-command).
 */
int64_t mon_req_cpu_index(const struct mon_req *req);
/*
 * HMP: the session prints no prompt after this command and ignores further
 * input until it is closed and opened again (QEMU's monitor_suspend in
 * `quit`). No effect in QMP context.
 */
void mon_req_suspend(struct mon_req *req);
/*
 * HMP: hold the session's prompt after this command until
 * mon_hold_release() (QEMU's monitor_suspend() in `migrate` without -d).
 * Input that arrives meanwhile waits unread (no echo) and runs after the
 * release; other sessions are not affected. Returns a nonzero token, or 0
 * if the request has no interactive session (QMP, human-monitor-command),
 * where nothing is held.
 */
uint64_t mon_req_hold(struct mon_req *req);
/*
 * Release the hold @token: the session shows its prompt and runs the input
 * that waited. Call it from the event loop, not from inside a command
 * handler (the waiting input runs commands). A stale token (released, or
 * its session freed) is ignored.
 */
void mon_hold_release(struct mon *mon, uint64_t token);
/* Set the result (takes ownership; replaces an earlier one). */
void mon_req_return_take(struct mon_req *req, struct mon_json *val);
/* Error class of a failing handler (default GenericError). */
void mon_req_set_class(struct mon_req *req, enum mon_err_class cls);
/* HMP output ('\n' becomes CRLF). In QMP context this is discarded. */
void mon_req_printf(struct mon_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- JSON values ---- */

/* Constructors return NULL on allocation failure. */
struct mon_json *mon_json_null_new(void);
struct mon_json *mon_json_bool_new(bool v);
struct mon_json *mon_json_int_new(int64_t v);
struct mon_json *mon_json_uint_new(uint64_t v);
struct mon_json *mon_json_number_new(double v);
struct mon_json *mon_json_str_new(const char *s); /* copies, UTF-8 */
struct mon_json *mon_json_array_new(void);
struct mon_json *mon_json_object_new(void);
/*
 * Append to an array / set a member (insertion order is output order).
 * Both take @val (freed on failure; a NULL @val is -ENOMEM) and return
 * 0, -EINVAL (wrong container type) or -ENOMEM.
 */
int mon_json_array_append_take(struct mon_json *arr, struct mon_json *val);
int mon_json_object_set_take(struct mon_json *obj, const char *key,
                             struct mon_json *val);
/*
 * Parse one JSON text (QEMU syntax: single-quoted strings allowed).
 * Returns 0 and *@out, or -EPROTO with QEMU's parse error text, -ENOMEM.
 */
int mon_json_parse(const char *src, size_t src_len, struct mon_json **out,
                   struct err *err);
/*
 * Check @val against the type expression @type (the notation of struct
 * mon_cmd), naming members from @path ("backend.data" gives "Parameter
 * 'backend.data.out' is missing"), with the messages of QMP's argument
 * checks: for what a handler checks itself, such as a union's variant.
 * Returns 0, or -EINVAL (@err set; also for a bad @type), -ENOMEM.
 */
int mon_json_check(const char *type, const struct mon_json *val,
                   const char *path, struct err *err);
/* Deep copy; NULL on allocation failure. */
struct mon_json *mon_json_copy(const struct mon_json *v);
/* Accepts NULL. */
void mon_json_free(struct mon_json *v);

enum mon_json_type mon_json_type(const struct mon_json *v);
/* Borrowed member; NULL if absent or @obj is not an object. */
const struct mon_json *mon_json_object_get(const struct mon_json *obj,
                                           const char *key);
size_t mon_json_len(const struct mon_json *v); /* array/object size */
const struct mon_json *mon_json_array_get(const struct mon_json *arr, size_t i);
/* Object member @i: its key via *@key. */
const struct mon_json *mon_json_object_at(const struct mon_json *obj, size_t i,
                                          const char **key);
/* Value accessors: false if @v is NULL or of another type / out of range. */
bool mon_json_int_get(const struct mon_json *v, int64_t *out);
bool mon_json_bool_get(const struct mon_json *v, bool *out);
const char *mon_json_str_get(const struct mon_json *v);

/*
 * Serialise as QEMU does (ASCII only, ", " / ": " separators, or the pretty
 * layout with 4-space indents and '\n' newlines). Returns 0 and a NUL-
 * terminated heap string in *@out (free with mon_json_text_free), -ENOMEM.
 */
int mon_json_to_text(const struct mon_json *v, bool pretty, char **out);
void mon_json_text_free(char *text);

#endif /* MONITOR_MON_H */
