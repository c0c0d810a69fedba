/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz-hmp.c - the HMP line editor and argument parser: the
 * input is typed into an HMP session (escape sequences, history, Tab
 * completion included) whose commands cover every args_type; then it is
 * run as one human-monitor-command line and evaluated as an expression.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/mon-int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void out_check(void *opaque, const char *buf, size_t len)
{
    size_t i;

    (void)opaque;
    for (i = 0; i < len; i++) {
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) {
            abort();
        }
    }
}

static int regs(void *opaque, const char *name, uint64_t *val)
{
    if (!strcmp(name, "pc")) {
        *val = 0x80000000u;
        return 0;
    }
    return -ENOENT;
}

static int cmd_args(struct mon_req *req, struct err *err)
{
    char *t = NULL;

    if (mon_json_to_text(mon_req_args(req), false, &t) < 0) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_printf(req, "%s\n", t);
    mon_json_text_free(t);
    return 0;
}

static int cmd_fail(struct mon_req *req, struct err *err)
{
    return err_set(err, -EINVAL, "failed");
}

static const struct mon_cmd cmds[] = {
    {.hmp_name = "x", .hmp_args = "fmt:/,addr:l", .fn = cmd_args},
    {.hmp_name = "print|p", .hmp_args = "fmt:/,val:l", .fn = cmd_args},
    {.hmp_name = "memsave",
     .hmp_args = "val:l,size:i,filename:s",
     .fn = cmd_args},
    {.hmp_name = "opts",
     .hmp_args = "a:-a,b:-b,on:b?,sz:o?,mb:M?,f:F?,blk:B?",
     .fn = cmd_args},
    {.hmp_name = "rest", .hmp_args = "s:S?", .fn = cmd_args},
    {.name = "cont", .hmp_name = "cont|c", .fn = cmd_fail},
    {.hmp_name = "info registers",
     .hmp_args = "all:-a,vcpu:i?",
     .fn = cmd_args,
     .flags = MON_CMD_HMP_ONLY},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mon_config cfg = {.version_major = 7, .reg_fn = regs};
    struct mon *mon = NULL;
    struct mon_session *s = NULL;
    struct mon_buf out = {0};
    int64_t v;
    char *line;

    if (mon_new(&cfg, &mon, NULL) < 0) {
        return 0;
    }
    if (mon_cmd_register(mon, cmds, sizeof(cmds) / sizeof(cmds[0]), NULL) < 0 ||
        mon_session_new(mon, MON_MODE_HMP, false, out_check, NULL, &s, NULL) <
            0) {
        abort();
    }
    mon_session_open(s);
    mon_session_input(s, data, size);
    line = malloc(size + 1);
    if (line) {
        memcpy(line, data, size);
        line[size] = 0;
        mon_hmp_run_line(mon, NULL, line, &out);
        mon_hmp_eval(mon, line, &v, NULL);
        free(line);
    }
    mon_buf_fini(&out);
    mon_free(mon);
    return 0;
}
