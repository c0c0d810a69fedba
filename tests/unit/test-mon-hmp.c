/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-mon-hmp.c - HMP: banner, prompt and echo bytes, line
 * editing, history, completion, argument parsing (/fmt, expressions,
 * strings, flags), QEMU's error texts, help and info.
 */
#include "test-mon-common.h"

#include <stdio.h>

struct fx {
    struct mon *mon;
    struct mon_session *s;
    struct cap c;
};

/* The handler of `print`: prints its value as QEMU's hmp_print. */
static int cmd_print(struct mon_req *req, struct err *err)
{
    int64_t val = 0, format = 'x';

    mon_req_arg_int(req, "val", &val);
    mon_req_arg_int(req, "format", &format);
    switch (format) {
    case 'o':
        mon_req_printf(req, "%#llo\n", (unsigned long long)val);
        break;
    case 'x':
        mon_req_printf(req, "%#llx\n", (unsigned long long)val);
        break;
    case 'u':
        mon_req_printf(req, "%llu\n", (unsigned long long)val);
        break;
    default:
        mon_req_printf(req, "%lld\n", (long long)val);
        break;
    }
    return 0;
}

/* Records its arguments as JSON for the parsing tests. */
static int cmd_args(struct mon_req *req, struct err *err)
{
    char *t = NULL;

    if (mon_json_to_text(mon_req_args(req), false, &t) < 0) {
        return err_set(err, -ENOMEM, "oom");
    }
    mon_req_printf(req, "%s\n", t);
    mon_json_text_free(t);
    return 0;
}

static int cmd_cpu(struct mon_req *req, struct err *err)
{
    return err_set(err, -EINVAL, "invalid CPU index");
}

static int cmd_nop(struct mon_req *req, struct err *err)
{
    return 0;
}

/* Token of the last `wait` (as `migrate` without -d holds the prompt). */
static uint64_t last_hold;

static int cmd_wait(struct mon_req *req, struct err *err)
{
    last_hold = mon_req_hold(req);
    if (!last_hold) {
        mon_req_printf(req, "cannot wait\n");
    }
    return 0;
}

/* `help dlog` runs it without arguments (MON_CMD_HELP_RUNS), as QEMU's
 * `help log` lists the log items. */
static int cmd_log(struct mon_req *req, struct err *err)
{
    if (!mon_req_arg_str(req, "items")) {
        mon_req_printf(req, "Log items (comma separated):\n");
    }
    return 0;
}

static const struct mon_cmd cmds[] = {
    {.hmp_name = "dlog",
     .hmp_args = "items:s",
     .hmp_params = "item1[,...]",
     .help = "activate logging of the specified items",
     .fn = cmd_log,
     .flags = MON_CMD_HMP_ONLY | MON_CMD_HELP_RUNS},
    {.hmp_name = "print|p",
     .hmp_args = "fmt:/,val:l",
     .hmp_params = "/fmt expr",
     .help = "print expression value (use $reg for CPU register access)",
     .fn = cmd_print,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "x",
     .hmp_args = "fmt:/,addr:l",
     .hmp_params = "/fmt addr",
     .help = "virtual memory dump starting at 'addr'",
     .fn = cmd_args,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "args",
     .hmp_args = "force:-f,name:s,n:i?,rest:S?",
     .help = "test",
     .fn = cmd_args,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "opt",
     .hmp_args = "on:b?,sz:o?,mb:M?",
     .help = "test",
     .fn = cmd_args,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "cpu",
     .hmp_args = "index:i",
     .hmp_params = "index",
     .help = "set the default CPU",
     .fn = cmd_cpu,
     .flags = MON_CMD_HMP_ONLY},
    {.name = "cont",
     .hmp_name = "cont|c",
     .help = "resume emulation",
     .fn = cmd_nop},
    {.hmp_name = "info registers",
     .hmp_args = "cpustate_all:-a,vcpu:i?",
     .hmp_params = "[-a|vcpu]",
     .help = "show the cpu registers",
     .fn = cmd_args,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "wait",
     .help = "hold the prompt",
     .fn = cmd_wait,
     .flags = MON_CMD_HMP_ONLY},
    {.hmp_name = "loadvm",
     .hmp_args = "name:s",
     .hmp_params = "tag",
     .help = "restore a VM snapshot from its tag",
     .fn = cmd_nop,
     .flags = MON_CMD_HMP_ONLY},
};

static void run_scratch(struct mon *mon, const char *line)
{
    struct mon_buf b = {0};

    mon_hmp_run_line(mon, NULL, line, &b);
    mon_buf_fini(&b);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    f->mon = test_mon_new();
    assert_int_equal(
        mon_cmd_register(f->mon, cmds, sizeof(cmds) / sizeof(cmds[0]), NULL),
        0);
    /* sticky /fmt default 'd', as after the reference's `xp/d 0x1000` */
    run_scratch(f->mon, "x/d 0");
    f->s = test_session(f->mon, MON_MODE_HMP, false, &f->c);
    mon_session_open(f->s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    mon_free(f->mon);
    cap_reset(&f->c);
    free(f);
    return 0;
}

/* Output of a scratch (human-monitor-command style) run of @line. */
static char *run(struct fx *f, const char *line)
{
    static char res[4096];
    struct mon_buf b = {0};

    mon_hmp_run_line(f->mon, NULL, line, &b);
    snprintf(res, sizeof(res), "%s", b.p ? b.p : "");
    mon_buf_fini(&b);
    return res;
}

static void test_banner_echo(void **state)
{
    struct fx *f = *state;

    assert_string_equal(f->c.p, "QEMU 7.2.22 monitor - type 'help' for more "
                                "information\r\n(qemu) ");
    cap_reset(&f->c);
    send_str(f->s, "p 18\n");
    assert_string_equal(f->c.p, "p\x1b[K\x1b[Dp \x1b[K\x1b[D\x1b[Dp "
                                "1\x1b[K\x1b[D\x1b[D\x1b[Dp "
                                "18\x1b[K\r\n18\r\n(qemu) ");
    cap_reset(&f->c);
    send_str(f->s, "\n");
    assert_string_equal(f->c.p, "\r\n(qemu) ");
    cap_reset(&f->c);
    send_str(f->s, "\r\n"); /* telnet: an extra empty command */
    assert_string_equal(f->c.p, "\r\n(qemu) \r\n(qemu) ");
}

static void test_editing(void **state)
{
    struct fx *f = *state;

    /* backspace and DEL */
    send_str(f->s, "p 12\b3\x7f"
                   "4\n");
    cap_reset(&f->c);
    send_str(f->s, "\x1b[A\n"); /* up: recall "p 14" */
    assert_non_null(strstr(f->c.p, "\r\n14\r\n"));
    /* Ctrl-A then insert at the start; ESC[C moves right */
    cap_reset(&f->c);
    send_str(f->s, " 5\x01p\n");
    assert_non_null(strstr(f->c.p, "\r\n5\r\n"));
    /* Ctrl-E, Ctrl-B, Ctrl-F, Ctrl-K */
    cap_reset(&f->c);
    send_str(f->s, "p 789\x02\x02\x0b\x05\n");
    assert_non_null(strstr(f->c.p, "\r\n7\r\n"));
    /* Ctrl-U kills to the start, Ctrl-W the previous word */
    cap_reset(&f->c);
    send_str(f->s, "junk\x15p 1 junk\x17\n");
    assert_non_null(strstr(f->c.p, "\r\n1\r\n"));
    /* as QEMU 7.2: ESC[F is history up, ESC[E down, ESC[H does nothing */
    cap_reset(&f->c);
    send_str(f->s, "p 77\n\x1b[H\x1b[F\x1b[E\x1b[F\n");
    assert_non_null(strstr(strstr(f->c.p, "\r\n77\r\n") + 1, "\r\n77\r\n"));
    /* arrows: left twice, insert, home (ESC[1~), end (ESC OF) */
    cap_reset(&f->c);
    send_str(f->s, "p 19\x1b[D"
                   "0\x1b[1~\x1b[C\x1b[C\x1b"
                   "OF\n");
    assert_non_null(strstr(f->c.p, "\r\n109\r\n"));
    /* Ctrl-D and ESC[3~ delete under the cursor */
    cap_reset(&f->c);
    send_str(f->s, "p 123\x01\x1b[C\x1b[C\x04\x1b[3~\n");
    assert_non_null(strstr(f->c.p, "\r\n3\r\n"));
    /* Ctrl-L clears the screen and redraws prompt and line */
    cap_reset(&f->c);
    send_str(f->s, "p\x0c");
    assert_string_equal(f->c.p, "p\x1b[K\x1b[2J\x1b[1;1H(qemu) p\x1b[K");
    send_str(f->s, "\x15");
    /* the redraw bytes of a cursor move */
    cap_reset(&f->c);
    send_str(f->s, "ab\x1b[D");
    assert_string_equal(f->c.p, "a\x1b[K\x1b[Dab\x1b[K\x1b[D");
    send_str(f->s, "\x15");
}

static void test_history(void **state)
{
    struct fx *f = *state;

    send_str(f->s, "p 1\np 2\nbogus\np 1\n\n");
    cap_reset(&f->c);
    send_str(f->s, "info history\n");
    assert_non_null(strstr(f->c.p, "\r\n0: 'p 2'\r\n1: 'bogus'\r\n2: 'p "
                                   "1'\r\n3: 'info history'\r\n(qemu) "));
    /* up, up, down */
    cap_reset(&f->c);
    send_str(f->s, "\x1b[A\x1b[A\x1b[A\x1b[B\n");
    assert_non_null(strstr(f->c.p, "\r\n1\r\n"));
    /* down past the end gives an empty line; Ctrl-P/Ctrl-N too */
    cap_reset(&f->c);
    send_str(f->s, "\x10\x0e\x0e\n");
    assert_string_equal(strstr(f->c.p, "\r\n"), "\r\n(qemu) ");
}

static void test_history_limit(void **state)
{
    struct fx *f = *state;
    char line[32];
    int i;

    for (i = 0; i < MON_RL_MAX_HISTORY + 5; i++) {
        snprintf(line, sizeof(line), "p %d\n", i);
        send_str(f->s, line);
    }
    cap_reset(&f->c);
    send_str(f->s, "info history\n");
    assert_non_null(strstr(f->c.p, "\r\n0: 'p 6'\r\n"));
    assert_non_null(strstr(f->c.p, "\r\n63: 'info history'\r\n"));
}

static void test_completion(void **state)
{
    struct fx *f = *state;

    cap_reset(&f->c);
    send_str(f->s, "inf\t");
    assert_string_equal(f->c.p, "i\x1b[K\x1b[Din\x1b[K\x1b[D\x1b[Dinf\x1b[K"
                                "\x1b[D\x1b[D\x1b[Dinfo \x1b[K");
    send_str(f->s, "ver\t");
    cap_reset(&f->c);
    send_str(f->s, "\n");
    assert_non_null(strstr(f->c.p, "7.2.22Debian"));
    /* several candidates: the list, then the prompt and the line again */
    cap_reset(&f->c);
    send_str(f->s, "c\t");
    assert_string_equal(f->c.p, "c\x1b[K\r\nc         cont      cpu       "
                                "\r\n(qemu) c\x1b[K");
    send_str(f->s, "\x15");
    cap_reset(&f->c);
    send_str(f->s, "help lo\t");
    assert_non_null(strstr(f->c.p, "help loadvm \x1b[K"));
    send_str(f->s, "\x15");
}

static void test_errors(void **state)
{
    struct fx *f = *state;

    assert_string_equal(run(f, "bogus"), "unknown command: 'bogus'\n");
    assert_string_equal(run(f, "info bogus"),
                        "unknown command: 'info bogus'\n");
    assert_string_equal(run(f, "x/3s 0"), "invalid char in format: 's'\n"
                                          "Try \"help x\" for more "
                                          "information\n");
    assert_string_equal(run(f, "x"), "unexpected end of expression\n"
                                     "Try \"help x\" for more information\n");
    assert_string_equal(run(f, "x/3i $nosuch"),
                        "unknown register\nTry \"help x\" for more "
                        "information\n");
    assert_string_equal(run(f, "p 1/0"),
                        "division by zero\nTry \"help p\" for more "
                        "information\n");
    assert_string_equal(run(f, "print 16 /tmp"),
                        "invalid char 't' in expression\nTry \"help print\" "
                        "for more information\n");
    assert_string_equal(run(f, "loadvm"),
                        "loadvm: string expected\nTry \"help loadvm\" for "
                        "more information\n");
    assert_string_equal(run(f, "loadvm a b"),
                        "loadvm: extraneous characters at the end of line\n"
                        "Try \"help loadvm\" for more information\n");
    assert_string_equal(run(f, "loadvm \"a"),
                        "unterminated string\nloadvm: string expected\nTry "
                        "\"help loadvm\" for more information\n");
    assert_string_equal(run(f, "loadvm \"\\q\""),
                        "unsupported escape code: '\\q'\nloadvm: string "
                        "expected\nTry \"help loadvm\" for more "
                        "information\n");
    /* a backslash at the very end must not read past the line */
    assert_string_equal(run(f, "loadvm \"\\"),
                        "unterminated string\nloadvm: string expected\nTry "
                        "\"help loadvm\" for more information\n");
    /* QEMU quotes the line from its start, leading spaces included */
    assert_string_equal(run(f, "  bogus x"), "unknown command: '  bogus'\n");
    assert_string_equal(run(f, "  info  bogus"),
                        "unknown command: '  info  bogus'\n");
    assert_string_equal(run(f, " p  "),
                        "unexpected end of expression\nTry \"help  p\" for "
                        "more information\n");
    assert_string_equal(run(f, "p 08"),
                        "print|p: extraneous characters at the end of line\n"
                        "Try \"help p\" for more information\n");
    assert_string_equal(run(f, "cpu 5"), "invalid CPU index\n");
    assert_string_equal(run(f, "cpu 0x100000000"),
                        "'cpu' has failed: integer is for 32-bit values\n"
                        "Try \"help cpu\" for more information\n");
    assert_string_equal(run(f, "args -z x"),
                        "args: unsupported option -z\nTry \"help args\" for "
                        "more information\n");
    assert_string_equal(run(f, "opt maybe"),
                        "Expected 'on' or 'off'\nTry \"help opt\" for more "
                        "information\n");
    assert_string_equal(run(f, "info registers -q"),
                        "registers: unsupported option -q\nTry \"help info "
                        "registers\" for more information\n");
    assert_string_equal(run(f, "p (1"), "')' expected\nTry \"help p\" for "
                                        "more information\n");
    assert_string_equal(run(f, "p 99999999999999999999"),
                        "number too large\nTry \"help p\" for more "
                        "information\n");
}

static void test_expressions(void **state)
{
    static const struct {
        const char *expr;
        int64_t val;
    } ok[] = {
        {"18", 18},
        {"0x10+2", 18},
        {"010", 8},
        {"-1", -1},
        {"~0", -1},
        {"2*3+4", 10},
        {"2+3*4", 14},
        {"(2+3)*4", 20},
        {"7%4", 3},
        {"7/2", 3},
        {"6&3", 2},
        {"6|3", 7},
        {"6^3", 5},
        {"1+6&3", 3}, /* & binds tighter than + in QEMU's grammar */
        {"2*6&3", 0}, /* and looser than * */
        {"'a'", 97},
        {"$pc", 0x80000000},
        {"$a0 * 2", 32},
        {" ( 1 + 2 ) ", 3},
        {"-9223372036854775807-1", INT64_MIN},
        {"0xffffffffffffffff", -1},
        {"-0x8000000000000000/-1", INT64_MIN},
    };
    struct fx *f = *state;
    struct err err = {0};
    int64_t v;
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(mon_hmp_eval(f->mon, ok[i].expr, &v, &err), 0);
        assert_int_equal(v, ok[i].val);
    }
    assert_int_equal(mon_hmp_eval(f->mon, "'a", &v, &err), -EINVAL);
    assert_string_equal(err.msg, "missing terminating ' character");
    assert_int_equal(mon_hmp_eval(f->mon, "'", &v, &err), -EINVAL);
    assert_string_equal(err.msg, "character constant expected");
    assert_int_equal(mon_hmp_eval(f->mon, "5%0", &v, &err), -EINVAL);
    assert_string_equal(err.msg, "division by zero");
}

static void test_args(void **state)
{
    struct fx *f = *state;

    assert_string_equal(run(f, "args -f \"a b\\\"c\" 0x10 the rest "),
                        "{\"force\": true, \"name\": \"a b\\\"c\", \"n\": 16, "
                        "\"rest\": \"the rest \"}\n");
    assert_string_equal(run(f, "args word"), "{\"name\": \"word\"}\n");
    assert_string_equal(run(f, "opt on 4K 2"),
                        "{\"on\": true, \"sz\": 4096, \"mb\": 2097152}\n");
    assert_string_equal(run(f, "opt off 3"),
                        "{\"on\": false, \"sz\": 3145728}\n");
    assert_string_equal(run(f, "info registers -a"),
                        "{\"cpustate_all\": true}\n");
    /* /fmt: count, format, size, and sticky defaults */
    run(f, "x/x 0");
    assert_string_equal(run(f, "x 0x1000"),
                        "{\"count\": 1, \"format\": 120, \"size\": 4, "
                        "\"addr\": 4096}\n");
    assert_string_equal(run(f, "x/4ob 0"), "{\"count\": 4, \"format\": 111, "
                                           "\"size\": 1, \"addr\": 0}\n");
    assert_string_equal(run(f, "x/2 0"), "{\"count\": 2, \"format\": 111, "
                                         "\"size\": 1, \"addr\": 0}\n");
    assert_string_equal(run(f, "x/3i $pc"),
                        "{\"count\": 3, \"format\": 105, \"size\": -1, "
                        "\"addr\": 2147483648}\n");
    assert_string_equal(run(f, "x/gd 0"), "{\"count\": 1, \"format\": 100, "
                                          "\"size\": 8, \"addr\": 0}\n");
    /* after xp/4ow, p 0x10+2 prints 022 (qmp.md) */
    run(f, "x/4ow 0");
    assert_string_equal(run(f, "p 0x10+2"), "022\n");
    assert_string_equal(run(f, "p/x -1"), "0xffffffffffffffff\n");
    assert_string_equal(run(f, "p/d 18"), "18\n");
}

static void test_help(void **state)
{
    struct fx *f = *state;
    const char *h;

    h = run(f, "help");
    assert_non_null(strstr(h, "cont|c  -- resume emulation\n"));
    assert_non_null(strstr(h, "help|? [cmd] -- show the help\n"));
    assert_non_null(strstr(h, "info [subcommand] -- show various information "
                              "about the system state\n"));
    assert_null(strstr(h, "info registers"));
    /* sorted by name */
    assert_true(strstr(h, "args") < strstr(h, "cont|c"));
    assert_true(strstr(h, "print|p") < strstr(h, "x /fmt"));
    assert_string_equal(run(f, "help x"),
                        "x /fmt addr -- virtual memory dump starting at "
                        "'addr'\n");
    assert_string_equal(run(f, "? c"), "cont|c  -- resume emulation\n");
    assert_string_equal(run(f, "help nosuch"), "unknown command: 'nosuch'\n");
    /* MON_CMD_HELP_RUNS: the handler, not the help line (QEMU's help log) */
    assert_string_equal(run(f, "help dlog"), "Log items (comma separated):\n");
    h = run(f, "help");
    assert_non_null(strstr(h, "dlog item1[,...] -- activate logging of the "
                              "specified items\n"));
    assert_string_equal(run(f, "dlog"), "dlog: string expected\n"
                                        "Try \"help dlog\" for more "
                                        "information\n");
    assert_string_equal(run(f, "help info registers"),
                        "info registers [-a|vcpu] -- show the cpu registers\n");
    assert_string_equal(run(f, "info"), run(f, "help info"));
    h = run(f, "info");
    assert_string_equal(h, "info history  -- show the command line history\n"
                           "info registers [-a|vcpu] -- show the cpu "
                           "registers\n"
                           "info version  -- show the version of QEMU\n");
}

static void test_session_misc(void **state)
{
    struct fx *f = *state;
    struct mon_session *s = NULL;
    struct err err = {0};

    assert_int_equal(
        mon_session_new(f->mon, MON_MODE_HMP, true, cap_out, &f->c, &s, &err),
        -EINVAL);
    assert_string_equal(err.msg,
                        "'pretty' is not compatible with HMP monitors");
    /* close drops a half-typed line */
    send_str(f->s, "p 1");
    mon_session_close(f->s);
    cap_reset(&f->c);
    mon_session_open(f->s);
    send_str(f->s, "2\n");
    assert_non_null(strstr(f->c.p, "\r\nunknown command: '2'\r\n"));
    /* an over-long line is cut at the buffer size, no overflow */
    {
        char big[MON_RL_MAX_CMD + 100];

        memset(big, '1', sizeof(big) - 1);
        big[0] = 'p';
        big[1] = ' ';
        big[sizeof(big) - 1] = 0;
        send_str(f->s, big);
        send_str(f->s, "\n");
    }
}

/* A held prompt: input waits unread until the release, then runs; other
 * sessions answer; a stale token and a scratch run hold nothing. */
static void test_hold(void **state)
{
    struct fx *f = *state;
    struct mon_session *s2;
    struct cap c2 = {0};
    uint64_t t1;

    cap_reset(&f->c);
    send_str(f->s, "wait\rp 7\r");
    t1 = last_hold;
    assert_true(t1 != 0);
    assert_string_equal(f->c.p, "w\x1b[K\x1b[Dwa\x1b[K\x1b[D\x1b[Dwai\x1b[K"
                                "\x1b[D\x1b[D\x1b[Dwait\x1b[K\r\n");
    cap_reset(&f->c);
    send_str(f->s, "p 8\r");
    assert_null(f->c.p);
    s2 = test_session(f->mon, MON_MODE_HMP, false, &c2);
    mon_session_open(s2);
    send_str(s2, "p 9\r");
    assert_non_null(strstr(c2.p, "\r\n9\r\n(qemu) "));
    mon_hold_release(f->mon, t1 + 100); /* not ours: ignored */
    assert_null(f->c.p);
    mon_hold_release(f->mon, t1);
    assert_non_null(f->c.p);
    assert_true(!strncmp(f->c.p, "(qemu) p", 8));
    assert_non_null(strstr(f->c.p, "\r\n7\r\n(qemu) p"));
    assert_true(strlen(f->c.p) > 12 &&
                !strcmp(f->c.p + strlen(f->c.p) - 12, "\r\n8\r\n(qemu) "));
    mon_hold_release(f->mon, t1); /* released already: nothing */
    cap_reset(&f->c);
    send_str(f->s, "p 1\r");
    assert_non_null(strstr(f->c.p, "\r\n1\r\n(qemu) "));
    /* a waiting line held twice: the second hold keeps the rest */
    cap_reset(&f->c);
    send_str(f->s, "wait\r");
    t1 = last_hold;
    send_str(f->s, "wait\rp 2\r");
    cap_reset(&f->c);
    mon_hold_release(f->mon, t1);
    assert_true(last_hold != t1 && last_hold != 0);
    assert_null(strstr(f->c.p, "\r\n2\r\n"));
    cap_reset(&f->c);
    mon_hold_release(f->mon, last_hold);
    assert_non_null(strstr(f->c.p, "\r\n2\r\n(qemu) "));
    /* close drops the waiting input, the hold stays until released */
    send_str(f->s, "wait\r");
    t1 = last_hold;
    send_str(f->s, "p 3\r");
    mon_session_close(f->s);
    mon_session_open(f->s);
    cap_reset(&f->c);
    send_str(f->s, "p 4\r");
    assert_null(f->c.p);
    mon_hold_release(f->mon, t1);
    assert_null(strstr(f->c.p, "\r\n3\r\n"));
    assert_non_null(strstr(f->c.p, "\r\n4\r\n(qemu) "));
    /* human-monitor-command cannot wait */
    assert_string_equal(run(f, "wait"), "cannot wait\n");
    mon_session_free(s2);
    cap_reset(&c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_banner_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_editing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_completion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expressions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_misc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
