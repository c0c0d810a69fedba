/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-mon-qmp.c - QMP framing, negotiation, every error row of
 * the reference (qmp.md §1.3-1.7), id echo, limits and resynchronisation,
 * pretty mode, events, the core commands, and adding a command.
 */
#include "test-mon-common.h"

#include <stdio.h>

struct fx {
    struct mon *mon;
    struct mon_session *s;
    struct cap c;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    f->mon = test_mon_new();
    f->s = test_session(f->mon, MON_MODE_QMP, false, &f->c);
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

/* Open, negotiate, and forget the output. */
static void negotiate(struct fx *f)
{
    mon_session_open(f->s);
    send_str(f->s, "{\"execute\":\"qmp_capabilities\"}");
    cap_reset(&f->c);
}

/* Send @in and require exactly @want as output. */
static void xchg(struct fx *f, const char *in, const char *want)
{
    cap_reset(&f->c);
    send_str(f->s, in);
    assert_string_equal(f->c.p ? f->c.p : "", want);
}

static const char greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
    "\"major\": 7}, \"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, "
    "\"capabilities\": []}}\r\n";

static void test_greeting(void **state)
{
    struct fx *f = *state;

    mon_session_open(f->s);
    assert_string_equal(f->c.p, greeting);
    assert_int_equal(f->c.writes, 1); /* one write: npm qemu-qmp needs it */
}

static void test_negotiation(void **state)
{
    struct fx *f = *state;

    mon_session_open(f->s);
    xchg(f, "{\"execute\":\"query-version\"}",
         "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting "
         "capabilities negotiation with 'qmp_capabilities'\"}}\r\n");
    xchg(
        f, "{\"execute\":\"query-version\",\"id\":7}",
        "{\"id\": 7, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
        "\"Expecting capabilities negotiation with 'qmp_capabilities'\"}}\r\n");
    xchg(f, "{\"execute\":\"nope\"}",
         "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Expecting "
         "capabilities negotiation with 'qmp_capabilities'\"}}\r\n");
    xchg(f,
         "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":"
         "[\"oob\"]}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Capability "
         "oob not available\"}}\r\n");
    assert_false(mon_session_negotiated(f->s));
    xchg(f, "{\"execute\":\"qmp_capabilities\"}", "{\"return\": {}}\r\n");
    assert_true(mon_session_negotiated(f->s));
    xchg(f, "{\"execute\":\"qmp_capabilities\"}",
         "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
         "\"Capabilities negotiation is already complete, command "
         "ignored\"}}\r\n");
    /* QEMU checks the arguments first; an enum in an array is 'null' */
    xchg(f,
         "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":"
         "[\"foo\"]}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter "
         "'null' does not accept value 'foo'\"}}\r\n");
    xchg(f, "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"x\":1}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter "
         "'x' is unexpected\"}}\r\n");
    /* close and reopen: negotiation again */
    mon_session_close(f->s);
    mon_session_open(f->s);
    assert_false(mon_session_negotiated(f->s));
}

static void test_request_errors(void **state)
{
    static const char *const rows[][2] = {
        {"[1,2]", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
                  "input must be a JSON object\"}}\r\n"},
        {"\"hello\"", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                      "\"QMP input must be a JSON object\"}}\r\n"},
        {"42 ", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP "
                "input must be a JSON object\"}}\r\n"},
        {"{\"execute\":42,\"id\":8}",
         "{\"id\": 8, \"error\": {\"class\": \"GenericError\", \"desc\": "
         "\"QMP input member 'execute' must be a string\"}}\r\n"},
        {"{\"execute\":\"query-version\",\"arguments\":[],\"id\":6}",
         "{\"id\": 6, \"error\": {\"class\": \"GenericError\", \"desc\": "
         "\"QMP input member 'arguments' must be an object\"}}\r\n"},
        {"{\"execute\":\"query-version\",\"arguments\":null}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"QMP input "
         "member 'arguments' must be an object\"}}\r\n"},
        {"{\"execute\":\"query-version\",\"foo\":1,\"id\":4}",
         "{\"id\": 4, \"error\": {\"class\": \"GenericError\", \"desc\": "
         "\"QMP input member 'foo' is unexpected\"}}\r\n"},
        {"{\"id\":9}", "{\"id\": 9, \"error\": {\"class\": \"GenericError\", "
                       "\"desc\": \"QMP input lacks member 'execute'\"}}\r\n"},
        {"{\"exec-oob\":\"query-version\",\"id\":\"oob1\"}",
         "{\"id\": \"oob1\", \"error\": {\"class\": \"GenericError\", "
         "\"desc\": \"QMP input member 'exec-oob' is unexpected\"}}\r\n"},
        {"{\"execute\":\"no-such-cmd\",\"id\":3}",
         "{\"id\": 3, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
         "\"The command no-such-cmd has not been found\"}}\r\n"},
        {"{\"execute\":\"query-version\",\"arguments\":{\"foo\":1},\"id\":5}",
         "{\"id\": 5, \"error\": {\"class\": \"GenericError\", \"desc\": "
         "\"Parameter 'foo' is unexpected\"}}\r\n"},
        {"{ \"execute\": }", "{\"error\": {\"class\": \"GenericError\", "
                             "\"desc\": \"JSON parse error, expecting "
                             "value\"}}\r\n"},
        {"{\"execute\":\"query-version\", \"id\":12,}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
         "error, expecting value\"}}\r\n"},
        {"{\"execute\":\"query-version\", \"id\":13, \"id\":14}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
         "error, duplicate key\"}}\r\n"},
        {"{\"a\" 1}", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                      "\"JSON parse error, missing : in object pair\"}}\r\n"},
        {"{1:1}", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "
                  "parse error, key is not a string in object\"}}\r\n"},
        {"{\"a\":1 \"b\":2}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
         "error, expected separator in dict\"}}\r\n"},
        {"[1 2]", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "
                  "parse error, expected separator in list\"}}\r\n"},
        {"{\"a\":\"\\x\"}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
         "error, invalid escape sequence in string\"}}\r\n"},
        {"{\"a\":\"\\uD800\"}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
         "error, \\\\uD800 is not a valid Unicode character\"}}\r\n"},
        {"{\"a\":\"\xC3\"}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
         "error, invalid UTF-8 sequence in string\"}}\r\n"},
        {"01\n", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "
                 "parse error, stray '01'\"}}\r\n"},
        {"\"x\ty\"\n", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                       "\"JSON parse error, stray '\\\"x\\t'\"}}\r\n"},
        {"\"\xFF\"\n", "{\"error\": {\"class\": \"GenericError\", \"desc\": "
                       "\"JSON parse error, stray '\\\"\\uFFFD'\"}}\r\n"},
        {"@\n", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON "
                "parse error, stray '@'\"}}\r\n"},
        {"  \t\r\n", ""},
    };
    struct fx *f = *state;
    size_t i;

    negotiate(f);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        xchg(f, rows[i][0], rows[i][1]);
    }
}

static void test_framing(void **state)
{
    struct fx *f = *state;
    const char *v = "{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, "
                    "\"major\": 7}, \"package\": \"Debian "
                    "1:7.2+dfsg-7+deb12u18+b3\"}";
    char want[1024];

    negotiate(f);
    snprintf(want, sizeof(want), "%s, \"id\": 10}\r\n%s, \"id\": 11}\r\n", v,
             v);
    xchg(f,
         "{\"execute\":\"query-version\",\"id\":10}{\"execute\":\"query-"
         "version\",\"id\":11}",
         want);
    /* split across writes, also byte by byte */
    xchg(f, "{\"execute\":\"query-version\"", "");
    xchg(f, "\n", "");
    snprintf(want, sizeof(want), "%s}\r\n", v);
    xchg(f, "}", want);
    {
        const char *msg = "{\"execute\":\"query-version\",\"id\":\"b\"}";
        size_t i;

        cap_reset(&f->c);
        for (i = 0; msg[i]; i++) {
            assert_int_equal(mon_session_input(f->s, &msg[i], 1), 0);
        }
        snprintf(want, sizeof(want), "%s, \"id\": \"b\"}\r\n", v);
        assert_string_equal(f->c.p, want);
    }
    /* single quotes and \' */
    snprintf(want, sizeof(want), "%s, \"id\": \"it's\"}\r\n", v);
    xchg(f, "{'execute':'query-version','id':'it\\'s'}", want);
    /* lexical garbage, then the command: one error, then the reply */
    snprintf(want, sizeof(want),
             "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse "
             "error, stray '\\u0001'\"}}\r\n%s, \"id\": 15}\r\n",
             v);
    xchg(f, "\x01{\"execute\":\"query-version\",\"id\":15}", want);
    /* trailing garbage after a complete object */
    snprintf(want, sizeof(want),
             "%s, \"id\": 17}\r\n{\"error\": {\"class\": \"GenericError\", "
             "\"desc\": \"JSON parse error, invalid keyword 'garbage'\"}}\r\n",
             v);
    xchg(f, "{\"execute\":\"query-version\",\"id\":17} garbage\n", want);
}

static void test_id_echo(void **state)
{
    static const char *const ids[][2] = {
        {"18446744073709551615", "18446744073709551615"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"{\"x\":[1,2]}", "{\"x\": [1, 2]}"},
        {"null", "null"},
        {"true", "true"},
        {"1.5e3", "1500"},
        {"-0", "0"},
        {"0.5", "0.5"},
        {"\"\xC3\xA9\"", "\"\\u00E9\""},
        {"\"\\uD83D\\uDE00\"", "\"\\uD83D\\uDE00\""},
        {"\"\\u0000\"", "\"\\u0000\""},
        {"\"\x7F/\\/\"", "\"\\u007F//\""},
        {"[]", "[]"},
        {"{}", "{}"},
    };
    struct fx *f = *state;
    char in[256], want[512];
    size_t i;

    negotiate(f);
    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        snprintf(in, sizeof(in), "{\"execute\":\"qmp_capabilities\",\"id\":%s}",
                 ids[i][0]);
        snprintf(want, sizeof(want),
                 "{\"id\": %s, \"error\": {\"class\": \"CommandNotFound\", "
                 "\"desc\": \"Capabilities negotiation is already complete, "
                 "command ignored\"}}\r\n",
                 ids[i][1]);
        xchg(f, in, want);
    }
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    const char *err_depth = "{\"error\": {\"class\": \"GenericError\", "
                            "\"desc\": \"JSON nesting depth limit "
                            "exceeded\"}}\r\n";
    char *big;
    size_t i, n;

    negotiate(f);
    /* depth 1024 accepted: the outer { plus 1023 [ */
    n = 1023;
    big = calloc(1, 2 * n + 64);
    strcpy(big, "{\"execute\":\"nope\",\"id\":");
    for (i = 0; i < n; i++) {
        strcat(big, "[");
    }
    for (i = 0; i < n; i++) {
        strcat(big, "]");
    }
    strcat(big, "}");
    cap_reset(&f->c);
    send_str(f->s, big);
    assert_non_null(strstr(f->c.p, "CommandNotFound"));
    /* depth 1025: one error, the rest is eaten, then resync */
    strcpy(big, "{\"id\":");
    for (i = 0; i < n + 1; i++) {
        strcat(big, "[");
    }
    for (i = 0; i < n + 1; i++) {
        strcat(big, "]");
    }
    strcat(big, "}{\"execute\":\"qmp_capabilities\"}");
    cap_reset(&f->c);
    send_str(f->s, big);
    assert_non_null(f->c.p);
    assert_memory_equal(f->c.p, err_depth, strlen(err_depth));
    assert_non_null(strstr(f->c.p + strlen(err_depth), "already complete"));
    assert_null(strstr(f->c.p + strlen(err_depth) + 1, "JSON"));
    free(big);

    /* the real token count limit: 2M+ tokens give one error, then resync */
    n = 1048600;
    big = malloc(2 * n + 64);
    big[0] = '[';
    for (i = 0; i < n; i++) {
        big[1 + 2 * i] = '1';
        big[2 + 2 * i] = ',';
    }
    strcpy(big + 2 * n, "1]{\"execute\":\"qmp_capabilities\"}");
    xchg(f, big,
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token "
         "count limit exceeded\"}}\r\n{\"error\": {\"class\": "
         "\"CommandNotFound\", \"desc\": \"Capabilities negotiation is "
         "already complete, command ignored\"}}\r\n");
    free(big);

    /* token count and size limits, lowered for the test */
    mon_session_set_limits(f->s, 100, 10, 1024);
    xchg(f, "[1,2,3,4,5,6,7,8,9,10,11,12]{\"execute\":\"qmp_capabilities\"}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token "
         "count limit exceeded\"}}\r\n{\"error\": {\"class\": "
         "\"CommandNotFound\", \"desc\": \"Capabilities negotiation is "
         "already complete, command ignored\"}}\r\n");
    big = calloc(1, 300);
    memset(big, 'a', 200);
    big[0] = '[';
    big[1] = '"';
    strcat(big, "\"]{\"execute\":\"qmp_capabilities\"}");
    xchg(f, big,
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token "
         "size limit exceeded\"}}\r\n{\"error\": {\"class\": "
         "\"CommandNotFound\", \"desc\": \"Capabilities negotiation is "
         "already complete, command ignored\"}}\r\n");
    /* an over-long string at top level: one error, then resync on '{' */
    big[0] = '"';
    big[1] = 'a';
    big[201] = ' ';
    xchg(f, big,
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON token "
         "size limit exceeded\"}}\r\n{\"error\": {\"class\": "
         "\"CommandNotFound\", \"desc\": \"Capabilities negotiation is "
         "already complete, command ignored\"}}\r\n");
    free(big);
}

static void test_pretty(void **state)
{
    struct fx *f = *state;
    struct mon_session *p;
    struct cap c = {0};

    p = test_session(f->mon, MON_MODE_QMP, true, &c);
    mon_session_open(p);
    assert_string_equal(
        c.p, "{\r\n    \"QMP\": {\r\n        \"version\": {\r\n            "
             "\"qemu\": {\r\n                \"micro\": 22,\r\n               "
             " \"minor\": 2,\r\n                \"major\": 7\r\n            "
             "},\r\n            \"package\": \"Debian "
             "1:7.2+dfsg-7+deb12u18+b3\"\r\n        },\r\n        "
             "\"capabilities\": [\r\n        ]\r\n    }\r\n}\r\n");
    cap_reset(&c);
    send_str(p, "{\"execute\":\"qmp_capabilities\"}");
    assert_string_equal(c.p, "{\r\n    \"return\": {\r\n    }\r\n}\r\n");
    cap_reset(&c);
    send_str(p, "{\"execute\":\"nope\",\"id\":2}");
    assert_string_equal(c.p,
                        "{\r\n    \"id\": 2,\r\n    \"error\": {\r\n        "
                        "\"class\": \"CommandNotFound\",\r\n        \"desc\": "
                        "\"The command nope has not been found\"\r\n    "
                        "}\r\n}\r\n");
    cap_reset(&c);
    assert_int_equal(mon_event_emit(f->mon, "RESUME", NULL), 0);
    assert_string_equal(c.p, "{\r\n    \"timestamp\": {\r\n        "
                             "\"seconds\": 1795559803,\r\n        "
                             "\"microseconds\": 473670\r\n    },\r\n    "
                             "\"event\": \"RESUME\"\r\n}\r\n");
    mon_session_free(p);
    cap_reset(&c);
}

static void test_events(void **state)
{
    struct fx *f = *state;
    struct mon_session *neg;
    struct cap c = {0};
    struct mon_json *data = NULL;

    neg = test_session(f->mon, MON_MODE_QMP, false, &c);
    mon_session_open(neg);
    cap_reset(&c);
    negotiate(f);
    const char *js = "{\"guest\": false, \"reason\": "
                     "\"host-qmp-system-reset\"}";

    assert_int_equal(mon_json_parse(js, strlen(js), &data, NULL), 0);
    assert_int_equal(mon_event_emit(f->mon, "RESET", data), 0);
    assert_string_equal(f->c.p,
                        "{\"timestamp\": {\"seconds\": 1795559803, "
                        "\"microseconds\": 473670}, \"event\": \"RESET\", "
                        "\"data\": {\"guest\": false, \"reason\": "
                        "\"host-qmp-system-reset\"}}\r\n");
    assert_null(c.p); /* still negotiating: no events */
    mon_json_free(data);
    mon_session_free(neg);
}

static void test_core_commands(void **state)
{
    struct fx *f = *state;

    negotiate(f);
    xchg(f,
         "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-"
         "line\":\"info version\"},\"id\":21}",
         "{\"return\": \"7.2.22Debian 1:7.2+dfsg-7+deb12u18+b3\\r\\n\", "
         "\"id\": 21}\r\n");
    xchg(f,
         "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-"
         "line\":\"bogus\"},\"id\":20}",
         "{\"return\": \"unknown command: 'bogus'\\r\\n\", \"id\": 20}\r\n");
    xchg(f,
         "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-"
         "line\":\"\"}}",
         "{\"return\": \"\"}\r\n");
    xchg(f, "{\"execute\":\"human-monitor-command\",\"arguments\":{}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter "
         "'command-line' is missing\"}}\r\n");
    cap_reset(&f->c);
    send_str(f->s, "{\"execute\":\"query-commands\"}");
    assert_non_null(strstr(f->c.p, "{\"name\": \"query-qmp-schema\"}"));
    assert_null(strstr(f->c.p, "help"));
    cap_reset(&f->c);
    send_str(f->s, "{\"execute\":\"query-qmp-schema\"}");
    assert_non_null(strstr(f->c.p, "{\"name\": \"query-version\", "
                                   "\"meta-type\": \"command\", \"arg-type\": "
                                   "\"0\", \"ret-type\": \""));
    assert_non_null(strstr(f->c.p, "{\"name\": \"0\", \"meta-type\": "
                                   "\"object\", \"members\": []}"));
    assert_non_null(strstr(f->c.p, "{\"name\": \"cpu-index\", \"default\": "
                                   "null, \"type\": \"int\"}"));
    assert_non_null(strstr(f->c.p, "\"meta-type\": \"enum\""));
    assert_non_null(strstr(f->c.p, "{\"name\": \"str\", \"meta-type\": "
                                   "\"builtin\", \"json-type\": \"string\"}"));
}

/* ---- the docs/monitor.md walk-through: one entry, one handler ---- */

static int cmd_memsave(struct mon_req *req, struct err *err)
{
    int64_t val = 0, size = 0;

    mon_req_arg_int(req, "val", &val);
    mon_req_arg_int(req, "size", &size);
    if (val == 0) {
        return err_set(err, -EINVAL,
                       "Invalid addr 0x%016llx/size %lld specified",
                       (unsigned long long)val, (long long)size);
    }
    return 0;
}

static int cmd_query_status(struct mon_req *req, struct err *err)
{
    struct mon_json *r = mon_json_object_new();
    int ret;

    ret = mon_json_object_set_take(r, "status", mon_json_str_new("prelaunch"));
    ret |= mon_json_object_set_take(r, "singlestep", mon_json_bool_new(false));
    ret |= mon_json_object_set_take(r, "running", mon_json_bool_new(false));
    if (ret) {
        mon_json_free(r);
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, r);
    return 0;
}

static void fmt_info_status(struct mon_req *req, const struct mon_json *ret)
{
    mon_req_printf(req, "VM status: paused (%s)\n",
                   mon_json_str_get(mon_json_object_get(ret, "status")));
}

static int cmd_whoami(struct mon_req *req, struct err *err)
{
    mon_req_printf(req, "cpu %lld session %s\n",
                   (long long)mon_req_cpu_index(req),
                   mon_req_session(req) ? "yes" : "no");
    return 0;
}

static int cmd_stop(struct mon_req *req, struct err *err)
{
    return mon_event_emit(mon_req_mon(req), "STOP", NULL);
}

static const struct mon_cmd stop_cmd = {
    .name = "stop",
    .hmp_name = "stop|s",
    .help = "stop emulation",
    .fn = cmd_stop,
};

static const struct mon_cmd whoami_cmd = {
    .hmp_name = "whoami",
    .fn = cmd_whoami,
    .flags = MON_CMD_HMP_ONLY,
};

static const struct mon_cmd walkthrough_cmds[] = {
    {.name = "memsave",
     .hmp_name = "memsave",
     .args = "{val:int,size:int,filename:str,*cpu-index:int}",
     .hmp_args = "val:l,size:i,filename:s",
     .hmp_params = "addr size file",
     .help = "save to disk virtual memory dump starting at 'addr' of size "
             "'size'",
     .fn = cmd_memsave},
    {.name = "query-status",
     .hmp_name = "info status",
     .ret = "{running:bool,singlestep:bool,status:enum(debug|prelaunch|"
            "running|paused)}",
     .help = "show the current VM status (running|paused)",
     .fn = cmd_query_status,
     .hmp_fmt = fmt_info_status},
};

static void test_add_command(void **state)
{
    struct fx *f = *state;

    assert_int_equal(mon_cmd_register(f->mon, walkthrough_cmds, 2, NULL), 0);
    /* registering twice is refused */
    assert_int_equal(mon_cmd_register(f->mon, walkthrough_cmds, 1, NULL),
                     -EINVAL);
    negotiate(f);
    xchg(f, "{\"execute\":\"query-status\",\"id\":\"a1\"}",
         "{\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, "
         "\"running\": false}, \"id\": \"a1\"}\r\n");
    xchg(f,
         "{\"execute\":\"memsave\",\"arguments\":{\"val\":0,\"size\":16,"
         "\"filename\":\"./m.bin\"}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid addr "
         "0x0000000000000000/size 16 specified\"}}\r\n");
    xchg(f,
         "{\"execute\":\"memsave\",\"arguments\":{\"val\":\"x\",\"size\":16,"
         "\"filename\":\"./m.bin\"}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid "
         "parameter type for 'val', expected: integer\"}}\r\n");
    xchg(f,
         "{\"execute\":\"memsave\",\"arguments\":{\"val\":"
         "18446744073709551615,\"size\":16,\"filename\":\"m\"}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid "
         "parameter type for 'val', expected: integer\"}}\r\n");
    xchg(f,
         "{\"execute\":\"memsave\",\"arguments\":{\"val\":1.0,\"size\":16,"
         "\"filename\":\"m\"}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Invalid "
         "parameter type for 'val', expected: integer\"}}\r\n");
    xchg(f,
         "{\"execute\":\"memsave\",\"arguments\":{\"size\":16,\"filename\":"
         "\"./pm.bin\"}}",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter "
         "'val' is missing\"}}\r\n");
    xchg(f,
         "{\"execute\":\"memsave\",\"arguments\":{\"val\":1,\"size\":16,"
         "\"filename\":\"m\"},\"id\":1}",
         "{\"return\": {}, \"id\": 1}\r\n");
    xchg(f,
         "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-"
         "line\":\"info status\"},\"id\":18}",
         "{\"return\": \"VM status: paused (prelaunch)\\r\\n\", \"id\": "
         "18}\r\n");
    xchg(f,
         "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-"
         "line\":\"memsave 0 16 m\"}}",
         "{\"return\": \"Error: Invalid addr 0x0000000000000000/size 16 "
         "specified\\r\\n\"}\r\n");
    assert_int_equal(mon_cmd_register(f->mon, &whoami_cmd, 1, NULL), 0);
    xchg(f,
         "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-"
         "line\":\"whoami\",\"cpu-index\":3}}",
         "{\"return\": \"cpu 3 session no\\r\\n\"}\r\n");
    xchg(f, "{\"execute\":\"whoami\"}",
         "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The "
         "command whoami has not been found\"}}\r\n");
    assert_ptr_equal(mon_session_opaque(f->s), &f->c);
    /* an event raised by a command goes out before its return */
    assert_int_equal(mon_cmd_register(f->mon, &stop_cmd, 1, NULL), 0);
    xchg(f, "{\"execute\":\"stop\",\"id\":1}",
         "{\"timestamp\": {\"seconds\": 1795559803, \"microseconds\": "
         "473670}, \"event\": \"STOP\"}\r\n{\"return\": {}, \"id\": 1}\r\n");
    cap_reset(&f->c);
    send_str(f->s, "{\"execute\":\"query-qmp-schema\"}");
    assert_non_null(strstr(f->c.p, "\"name\": \"memsave\""));
    assert_non_null(strstr(f->c.p, "\"values\": [\"debug\", \"prelaunch\", "
                                   "\"running\", \"paused\"]"));
}

static void test_bad_table(void **state)
{
    static const struct mon_cmd bad[] = {
        {.name = "x-bad", .args = "{a:nosuchtype}", .fn = cmd_memsave},
        {.name = "x-bad2", .hmp_args = "a:q", .fn = cmd_memsave},
        {.name = "x-bad3", .args = "{a:int", .fn = cmd_memsave},
        {.name = "x-bad4"},
    };
    struct fx *f = *state;
    struct err err = {0};
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&err);
        assert_int_equal(mon_cmd_register(f->mon, &bad[i], 1, &err), -EINVAL);
        assert_true(err.msg[0] != 0);
    }
}

/* Fail every allocation in turn during a whole exchange: no crash, no leak */
static void test_alloc_failures(void **state)
{
    const char *in = "{\"execute\":\"qmp_capabilities\"}{\"execute\":\"query-"
                     "qmp-schema\",\"id\":[1,{\"a\":\"b\"}]}{\"execute\":"
                     "\"human-monitor-command\",\"arguments\":{\"command-"
                     "line\":\"help\"}}";
    long n;

    (void)state;
    for (n = 0; n < 4000; n++) {
        struct mon_config cfg = {.version_major = 7, .package = "p"};
        struct mon *mon = NULL;
        struct mon_session *s = NULL;
        struct cap c = {0};

        mem_fail_after(n, 0);
        if (mon_new(&cfg, &mon, NULL) == 0 &&
            mon_session_new(mon, MON_MODE_QMP, n & 1, cap_out, &c, &s, NULL) ==
                0) {
            mon_session_open(s);
            mon_session_input(s, in, strlen(in));
        }
        mem_fail_after(-1, 0);
        mon_free(mon);
        cap_reset(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_greeting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negotiation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_framing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pretty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_core_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_table, setup, teardown),
        cmocka_unit_test(test_alloc_failures),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
