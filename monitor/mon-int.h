/* SPDX-License-Identifier: MIT */
/* monitor/mon-int.h - internals shared by the monitor's files. */
#ifndef MONITOR_MON_INT_H
#define MONITOR_MON_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor/mon.h"

/* ---- mon-json.c ---- */

struct mon_json {
    enum mon_json_type type;
    bool is_uint; /* MON_JSON_INT holding a uint64 above INT64_MAX */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        char *s; /* modified UTF-8: U+0000 is C0 80, so NUL-terminated */
        struct {
            struct mon_json **items;
            char **keys; /* objects only */
            size_t n, cap;
        } c;
    } u;
};

/* A growable output buffer whose allocation failure is sticky. */
struct mon_buf {
    char *p;
    size_t len, cap;
    bool oom;
};

void mon_buf_put(struct mon_buf *b, const char *src, size_t src_len);
void mon_buf_puts(struct mon_buf *b, const char *s);
void mon_buf_putc(struct mon_buf *b, char c);
void mon_buf_vprintf(struct mon_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void mon_buf_printf(struct mon_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mon_buf_fini(struct mon_buf *b);
/* Append @v serialised QEMU-style (compact or pretty, '\n' newlines). */
void mon_json_print(struct mon_buf *b, const struct mon_json *v, bool pretty);
/* Append @s as a JSON string literal (escaped, ASCII only). */
void mon_json_print_str(struct mon_buf *b, const char *s);
/*
 * Deep equality; an integer equals a double of the same value, since the
 * output format does not keep them apart (QEMU prints 1500.0 as 1500).
 */
bool mon_json_equal(const struct mon_json *a, const struct mon_json *b);

/*
 * Parser limits, as QEMU's qobject/json-streamer.c: total bytes of the
 * tokens of one message, their count, and the {/[ nesting depth.
 */
#define MON_JSON_MAX_BYTES  (64u << 20)
#define MON_JSON_MAX_TOKENS (2u << 20)
#define MON_JSON_MAX_DEPTH  1024u

/*
 * Called once per complete message with either the parsed value (@val,
 * ownership passed) or an error text (@msg, borrowed, e.g. "JSON parse
 * error, expecting value").
 */
typedef void mon_json_emit_fn(void *opaque, struct mon_json *val,
                              const char *msg);

struct mon_json_tok {
    uint32_t off; /* into the stream's buf */
    uint32_t len; /* bytes */
    uint8_t type; /* enum mon_tok_type */
};

struct mon_json_stream {
    int state;      /* lexer state */
    char *buf;      /* text of this message's tokens, plus the open token */
    size_t len;     /* bytes used in buf */
    size_t cap;     /* bytes allocated */
    size_t tok_off; /* start of the open token in buf */
    struct mon_json_tok *toks;
    size_t ntok, tokcap;
    long braces, brackets; /* open minus closed */
    bool recovering;       /* eating tokens until the brackets balance */
    size_t max_bytes, max_tokens, max_depth;
    mon_json_emit_fn *emit;
    void *opaque;
};

void mon_json_stream_init(struct mon_json_stream *st, mon_json_emit_fn *emit,
                          void *opaque);
void mon_json_stream_fini(struct mon_json_stream *st);
/* Forget any partial message and lexer state. */
void mon_json_stream_reset(struct mon_json_stream *st);
/* Feed bytes; emits zero or more messages. Returns 0 or -ENOMEM. */
int mon_json_stream_feed(struct mon_json_stream *st, const char *src,
                         size_t src_len);

/* ---- mon-type.c: the compact type notation of struct mon_cmd ---- */

enum mon_type_kind {
    MON_T_STR,
    MON_T_INT,
    MON_T_BOOL,
    MON_T_NUMBER,
    MON_T_ANY,
    MON_T_NULL,
    MON_T_SIZE,
    MON_T_ARRAY,
    MON_T_OBJECT,
    MON_T_ENUM,
};

struct mon_type {
    enum mon_type_kind kind;
    struct mon_type *elem; /* MON_T_ARRAY */
    size_t n;              /* members or enum values */
    char **names;          /* member names / enum values */
    bool *optional;        /* per member */
    struct mon_type **types;
    char *schema_name; /* name in query-qmp-schema, set when listed */
};

int mon_type_parse(const char *src, struct mon_type **out, struct err *err);
void mon_type_free(struct mon_type *t);
/* QAPI name of a built-in type ("str", "int", ...). */
const char *mon_type_builtin_name(enum mon_type_kind kind);
/*
 * Check @args (an object, may be NULL = {}) against object type @t with
 * QEMU's messages ("Parameter 'x' is missing", "Invalid parameter type for
 * 'x', expected: integer", "Parameter 'x' is unexpected").
 */
int mon_type_check_args(const struct mon_type *t, const struct mon_json *args,
                        struct err *err);

/* ---- mon-cmd.c: the registry ---- */

/*
 * Internal flag of qmp_capabilities: the one command of negotiation mode,
 * which ends it. Not settable through the public table.
 */
#define MON_CMD_CAPABILITIES (1u << 31)

struct mon_cmd_ent {
    const struct mon_cmd *cmd;
    struct mon_type *args; /* NULL: no arguments */
    struct mon_type *ret;  /* NULL: {} */
    char *hmp_first;       /* first HMP name ("stop" of "stop|s") */
    bool info;             /* an "info X" subcommand */
};

struct mon_req {
    struct mon *mon;
    struct mon_session *session; /* may be NULL (human-monitor-command) */
    const struct mon_cmd_ent *ent;
    const struct mon_json *args;
    struct mon_json *ret;
    enum mon_err_class cls;
    bool hmp;
    struct mon_buf *hmp_out; /* NULL in QMP context */
};

struct mon_session;

struct mon {
    struct mon_config cfg;
    char *package;
    struct mon_cmd_ent *cmds;
    size_t ncmds, cmdcap;
    struct mon_session *sessions; /* linked through next */
    /* HMP /fmt defaults: sticky across commands and sessions, as QEMU */
    int last_format;       /* 'x' */
    int last_size;         /* 4 */
    int64_t hmc_cpu_index; /* cpu-index of the running
                              human-monitor-command, or -1 */
    uint64_t last_hold;    /* last token of mon_req_hold() */
};

const struct mon_cmd_ent *mon_cmd_find_qmp(const struct mon *mon,
                                           const char *name);
/* Find by HMP name (any alias); @info selects the info subcommands. */
const struct mon_cmd_ent *mon_cmd_find_hmp(const struct mon *mon,
                                           const char *name, size_t name_len,
                                           bool info);
/* Run @ent's handler with @args; fills @req (caller frees req->ret). */
int mon_cmd_run(struct mon *mon, struct mon_req *req,
                const struct mon_cmd_ent *ent, const struct mon_json *args,
                struct err *err);
int mon_core_register(struct mon *mon, struct err *err);
/* The query-version value; NULL on allocation failure. */
struct mon_json *mon_version_json(const struct mon *mon);
int mon_schema_build(const struct mon *mon, struct mon_json **out);

/* ---- mon-readline.c: QEMU's util/readline.c as a byte-stream editor ---- */

/* Bytes in a line, with its NUL (QEMU: READLINE_CMD_BUF_SIZE 4095 + 1). */
#define MON_RL_MAX_CMD     4096
#define MON_RL_MAX_HISTORY 64  /* entries (QEMU READLINE_MAX_CMDS) */
#define MON_RL_MAX_COMPL   256 /* completion candidates */

struct mon_rl;
/* Called with each completed line (NUL-terminated, borrowed). */
typedef void mon_rl_line_fn(void *opaque, const char *line);
/* Called to list completions of the line prefix @line. */
typedef void mon_rl_complete_fn(void *opaque, struct mon_rl *rl,
                                const char *line);

struct mon_rl {
    char cmd[MON_RL_MAX_CMD];
    int cmd_len, cmd_pos;
    char last_cmd[MON_RL_MAX_CMD]; /* what the terminal shows */
    int last_cmd_len, last_cmd_pos;
    int esc_state;
    int esc_param;
    char *history[MON_RL_MAX_HISTORY];
    int hist_entry; /* -1: not browsing */
    char * compl [MON_RL_MAX_COMPL];
    int ncompl;
    int compl_index;
    const char *prompt;
    struct mon_buf *out;
    mon_rl_line_fn *line_fn;
    mon_rl_complete_fn *complete_fn;
    void *opaque;
};

void mon_rl_init(struct mon_rl *rl, const char *prompt, struct mon_buf *out,
                 mon_rl_line_fn *line_fn, mon_rl_complete_fn *complete_fn,
                 void *opaque);
void mon_rl_fini(struct mon_rl *rl);
void mon_rl_feed(struct mon_rl *rl, unsigned char c);
void mon_rl_show_prompt(struct mon_rl *rl);
void mon_rl_reset(struct mon_rl *rl);
/* Offer a completion candidate (copied). */
void mon_rl_add_completion(struct mon_rl *rl, const char *s);
/* Append @line to the history as QEMU does (moves a duplicate to the end). */
void mon_rl_history_add(struct mon_rl *rl, const char *line);

/* ---- mon-hmp.c ---- */

/* Run one HMP command line; output ('\n' line ends) goes to @out. */
void mon_hmp_run_line(struct mon *mon, struct mon_session *s, const char *line,
                      struct mon_buf *out);
/* Evaluate an HMP integer expression (tests). */
int mon_hmp_eval(struct mon *mon, const char *expr, int64_t *val,
                 struct err *err);
void mon_hmp_complete(struct mon *mon, struct mon_rl *rl, const char *line);
int mon_hmp_check_spec(const char *spec, struct err *err);

/* ---- mon-qmp.c ---- */

struct mon_session {
    struct mon *mon;
    struct mon_session *next;
    enum mon_mode mode;
    bool pretty;
    bool negotiated; /* QMP: command mode */
    bool open;
    bool suspended;         /* HMP: no prompt, input dropped (after quit) */
    uint64_t hold;          /* HMP: token of the held prompt; 0 if none */
    struct mon_buf held_in; /* HMP: input waiting for the release */
    mon_out_fn *out_fn;
    void *opaque;
    struct mon_json_stream js; /* QMP */
    struct mon_rl rl;          /* HMP */
    struct mon_buf hmp_out;    /* HMP pending output */
};

/* Send @len bytes to @s, turning each '\n' into CRLF. */
void mon_session_emit(struct mon_session *s, const char *buf, size_t len);
void mon_hmp_session_input(struct mon_session *s, const unsigned char *src,
                           size_t src_len);
void mon_hmp_session_open(struct mon_session *s);
/* End the hold of @s: prompt, then the input that waited. */
void mon_hmp_session_release(struct mon_session *s);
/* Input kept while a session is held: beyond it, input is dropped (QEMU
 * stops reading; a client that keeps typing loses the excess). */
#define MON_HOLD_INPUT_MAX (64u << 10)

#ifdef CONFIG_TESTING
/* Lower the JSON parser limits of @s (QMP) for tests. */
void mon_session_set_limits(struct mon_session *s, size_t max_bytes,
                            size_t max_tokens, size_t max_depth);
#endif

#endif /* MONITOR_MON_INT_H */
