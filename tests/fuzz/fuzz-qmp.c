/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz-qmp.c - QMP framing, JSON parsing and dispatch. The first
 * byte picks pretty mode, the write size (the same bytes split differently
 * must be handled alike) and, in test builds, tiny parser limits; the rest
 * is the client's byte stream. Every write must be ASCII and end in CRLF,
 * and a value that parses must print and re-parse to an equal value.
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
    if (len < 2 || buf[len - 2] != '\r' || buf[len - 1] != '\n') {
        abort();
    }
    for (i = 0; i < len; i++) {
        if ((unsigned char)buf[i] >= 0x80 ||
            (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))) {
            abort();
        }
    }
}

static int cmd_echo(struct mon_req *req, struct err *err)
{
    struct mon_json *v = mon_json_copy(mon_req_args(req));

    if (!v) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, v);
    return 0;
}

static int cmd_fail(struct mon_req *req, struct err *err)
{
    mon_req_set_class(req, MON_ERR_DEVICE_NOT_FOUND);
    return err_set(err, -ENOENT, "Device '%s' not found",
                   mon_req_arg_str(req, "device"));
}

static int cmd_event(struct mon_req *req, struct err *err)
{
    return mon_event_emit(mon_req_mon(req), "STOP", NULL);
}

static const struct mon_cmd cmds[] = {
    {.name = "x-echo",
     .hmp_name = "echo",
     .args = "{a:int,*b:str,*c:[{d:bool,*e:number}],*f:enum(x|y),*g:any,"
             "*h:size,*i:null}",
     .hmp_args = "a:l,b:s?",
     .ret = "any",
     .help = "echo",
     .fn = cmd_echo},
    {.name = "x-fail", .args = "{device:str}", .fn = cmd_fail},
    {.name = "stop", .hmp_name = "stop|s", .fn = cmd_event},
};

static void check_roundtrip(const uint8_t *data, size_t size)
{
    struct mon_json *v = NULL, *w = NULL;
    char *text = NULL;

    if (mon_json_parse((const char *)data, size, &v, NULL) < 0) {
        return;
    }
    if (mon_json_to_text(v, size & 1, &text) == 0 &&
        mon_json_parse(text, strlen(text), &w, NULL) == 0 &&
        !mon_json_equal(v, w)) {
        abort();
    }
    mon_json_free(w);
    mon_json_text_free(text);
    mon_json_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mon_config cfg = {.version_major = 7, .version_minor = 2};
    struct mon *mon = NULL;
    struct mon_session *s = NULL;
    size_t chunk, off;
    uint8_t flags;

    if (size < 1) {
        return 0;
    }
    flags = data[0];
    data++;
    size--;
    if (mon_new(&cfg, &mon, NULL) < 0) {
        return 0;
    }
    if (mon_cmd_register(mon, cmds, sizeof(cmds) / sizeof(cmds[0]), NULL) < 0 ||
        mon_session_new(mon, MON_MODE_QMP, flags & 1, out_check, NULL, &s,
                        NULL) < 0) {
        abort();
    }
#ifdef CONFIG_TESTING
    if (flags & 2) {
        mon_session_set_limits(s, 64, 16, 4);
    }
#endif
    mon_session_open(s);
    chunk = (flags >> 2) ? (size_t)(flags >> 2) : size;
    for (off = 0; off < size; off += chunk) {
        mon_session_input(s, data + off,
                          size - off < chunk ? size - off : chunk);
    }
    mon_session_close(s);
    mon_free(mon);
    check_roundtrip(data, size);
    return 0;
}
