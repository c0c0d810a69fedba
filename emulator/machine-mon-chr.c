/* SPDX-License-Identifier: MIT */
/*
 * emulator/machine-mon-chr.c - the monitor's character-device side: sendkey
 * (keys typed into the serial port as a terminal's bytes), chardev-add,
 * chardev-remove and chardev-send-break (QMP and HMP, QEMU 7.2's messages).
 */
#include "emulator/machine-mon-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/opts.h"

/* ---- sendkey: keys as the bytes a terminal sends, into the serial port */

struct key {
    const char *name;    /* QEMU's QKeyCode name */
    const char *plain;   /* bytes sent; NULL: none */
    const char *shifted; /* with shift; NULL: as plain */
};

static const struct key keys[] = {
    {"1", "1", "!"},
    {"2", "2", "@"},
    {"3", "3", "#"},
    {"4", "4", "$"},
    {"5", "5", "%"},
    {"6", "6", "^"},
    {"7", "7", "&"},
    {"8", "8", "*"},
    {"9", "9", "("},
    {"0", "0", ")"},
    {"minus", "-", "_"},
    {"equal", "=", "+"},
    {"backspace", "\x7f", NULL},
    {"tab", "\t", NULL},
    {"bracket_left", "[", "{"},
    {"bracket_right", "]", "}"},
    {"ret", "\r", NULL},
    {"kp_enter", "\r", NULL},
    {"semicolon", ";", ":"},
    {"apostrophe", "'", "\""},
    {"grave_accent", "`", "~"},
    {"backslash", "\\", "|"},
    {"less", "<", ">"},
    {"comma", ",", "<"},
    {"dot", ".", ">"},
    {"slash", "/", "?"},
    {"asterisk", "*", NULL},
    {"kp_multiply", "*", NULL},
    {"kp_add", "+", NULL},
    {"kp_subtract", "-", NULL},
    {"kp_divide", "/", NULL},
    {"kp_decimal", ".", NULL},
    {"kp_0", "0", NULL},
    {"kp_1", "1", NULL},
    {"kp_2", "2", NULL},
    {"kp_3", "3", NULL},
    {"kp_4", "4", NULL},
    {"kp_5", "5", NULL},
    {"kp_6", "6", NULL},
    {"kp_7", "7", NULL},
    {"kp_8", "8", NULL},
    {"kp_9", "9", NULL},
    {"spc", " ", NULL},
    {"esc", "\x1b", NULL},
    {"f1", "\x1bOP", NULL},
    {"f2", "\x1bOQ", NULL},
    {"f3", "\x1bOR", NULL},
    {"f4", "\x1bOS", NULL},
    {"f5", "\x1b[15~", NULL},
    {"f6", "\x1b[17~", NULL},
    {"f7", "\x1b[18~", NULL},
    {"f8", "\x1b[19~", NULL},
    {"f9", "\x1b[20~", NULL},
    {"f10", "\x1b[21~", NULL},
    {"f11", "\x1b[23~", NULL},
    {"f12", "\x1b[24~", NULL},
    {"up", "\x1b[A", NULL},
    {"down", "\x1b[B", NULL},
    {"right", "\x1b[C", NULL},
    {"left", "\x1b[D", NULL},
    {"home", "\x1b[H", NULL},
    {"end", "\x1b[F", NULL},
    {"insert", "\x1b[2~", NULL},
    {"delete", "\x1b[3~", NULL},
    {"pgup", "\x1b[5~", NULL},
    {"pgdn", "\x1b[6~", NULL},
    /* keys a terminal sends nothing for */
    {"caps_lock", NULL, NULL},
    {"num_lock", NULL, NULL},
    {"scroll_lock", NULL, NULL},
    {"print", NULL, NULL},
    {"sysrq", NULL, NULL},
    {"pause", NULL, NULL},
    {"menu", NULL, NULL},
    {"meta_l", NULL, NULL},
    {"meta_r", NULL, NULL},
};

#define MOD_SHIFT (1u << 0)
#define MOD_CTRL  (1u << 1)
#define MOD_ALT   (1u << 2)
/* The longest terminal sequence of one key, with an ESC for alt. */
#define KEY_BYTES_MAX 8

static unsigned key_modifier(const char *name)
{
    if (!strcmp(name, "shift") || !strcmp(name, "shift_r")) {
        return MOD_SHIFT;
    }
    if (!strcmp(name, "ctrl") || !strcmp(name, "ctrl_r")) {
        return MOD_CTRL;
    }
    if (!strcmp(name, "alt") || !strcmp(name, "alt_r") ||
        !strcmp(name, "altgr") || !strcmp(name, "altgr_r")) {
        return MOD_ALT;
    }
    return 0;
}

/* The bytes of key @name under @mods into @dst; returns their count, or -1
 * if @name is no key. */
static int key_bytes(const char *name, unsigned mods, char *dst)
{
    const char *s = NULL;
    char one[2] = {0, 0};
    int n = 0;

    if (name[0] >= 'a' && name[0] <= 'z' && name[1] == '\0') {
        one[0] = (char)((mods & MOD_SHIFT) ? name[0] - 'a' + 'A' : name[0]);
        s = one;
    } else {
        size_t i;

        for (i = 0; i < ARRAY_LEN(keys); i++) {
            if (!strcmp(keys[i].name, name)) {
                break;
            }
        }
        if (i == ARRAY_LEN(keys)) {
            return -1;
        }
        s = (mods & MOD_SHIFT) && keys[i].shifted ? keys[i].shifted
                                                  : keys[i].plain;
        if (!s) {
            return 0;
        }
    }
    if (mods & MOD_ALT) {
        dst[n++] = '\x1b';
    }
    if ((mods & MOD_CTRL) && s[0] && !s[1]) {
        char c = s[0];

        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (c == ' ' || c == '2' || c == '@') {
            c = '@';
        }
        if (c >= '@' && c <= '_') {
            dst[n++] = (char)(c - '@');
            return n;
        }
    }
    memcpy(dst + n, s, strlen(s));
    return n + (int)strlen(s);
}

/*
 * HMP `sendkey keys [hold_ms]`. QEMU presses the keys of "ctrl-alt-f1"
 * together; with no keyboard, rrvm sends what a terminal would for that
 * chord to the serial port, through the input hook typed input takes.
 */
static int cmd_sendkey(struct mon_req *req, struct err *err)
{
    const char *spec = mon_req_arg_str(req, "keys");
    struct rv_machine *m = vm_mon_info_machine(req, err);
    char out[64 * KEY_BYTES_MAX];
    char name[32];
    unsigned mods = 0;
    size_t len = 0;
    const char *p;

    if (!m) {
        return -EAGAIN;
    }
    if (!spec) {
        spec = "";
    }
    for (p = spec; *p;) {
        size_t n = strcspn(p, "-");

        if (n == 0 || n >= sizeof(name)) {
            snprintf(name, sizeof(name), "%.*s", (int)n, p);
            mon_req_printf(req, "invalid parameter: %s\n", name);
            return 0;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        p += n + (p[n] == '-');
        if (key_modifier(name)) {
            mods |= key_modifier(name);
            continue;
        }
        if (len + KEY_BYTES_MAX > sizeof(out)) {
            mon_req_printf(req, "too many keys\n");
            return 0;
        }
        {
            int k = key_bytes(name, mods, out + len);

            if (k < 0) {
                mon_req_printf(req, "invalid parameter: %s\n", name);
                return 0;
            }
            len += (size_t)k;
        }
    }
    if (len > rv_machine_serial_room(m)) {
        len = rv_machine_serial_room(m);
    }
    rv_machine_serial_input(m, (const uint8_t *)out, len);
    return 0;
}

/* ---- chardevs ---- */

static int cmd_chardev_remove(struct mon_req *req, struct err *err)
{
    struct vm_mon_info *info = vm_mon_info_of(req);
    const char *id = mon_req_arg_str(req, "id");

    if (!info->chrs || !id || !chr_find(info->chrs, id)) {
        return err_set(err, -ENOENT, "Chardev '%s' not found", id ? id : "");
    }
    return chr_remove(info->chrs, id, err);
}

/* QMP/HMP chardev-send-break {id}: for the serial port's chardev the UART
 * receives it through the machine's input hook (emulator/main.c). */
static int cmd_chardev_send_break(struct mon_req *req, struct err *err)
{
    struct vm_mon_info *info = vm_mon_info_of(req);
    const char *id = mon_req_arg_str(req, "id");

    if (!id) {
        id = "";
    }
    if (!info->chrs) {
        return err_set(err, -ENOENT, "Chardev '%s' not found", id);
    }
    return chr_send_break(info->chrs, id, err);
}

/* Room for a -chardev option string built from chardev-add's backend. */
#define INFO_CHR_OPTS_MAX 1024

/* Append ",@key=@val" to @dst, doubling commas as QemuOpts needs. */
static int opt_add(char *dst, size_t cap, size_t *len, const char *key,
                   const char *val)
{
    int n = snprintf(dst + *len, cap - *len, ",%s=", key);

    if (n < 0 || (size_t)n >= cap - *len) {
        return -ERANGE;
    }
    *len += (size_t)n;
    for (; *val; val++) {
        size_t need = *val == ',' ? 2 : 1;

        if (*len + need >= cap) {
            return -ERANGE;
        }
        dst[(*len)++] = *val;
        if (*val == ',') {
            dst[(*len)++] = ',';
        }
    }
    dst[*len] = '\0';
    return 0;
}

/* A string, boolean or integer member of @data as an option value. */
static int opt_member(char *dst, size_t cap, size_t *len,
                      const struct mon_json *data, const char *member,
                      const char *key)
{
    const struct mon_json *v = mon_json_object_get(data, member);
    char num[24];
    int64_t i;
    bool b;

    if (!v) {
        return 0;
    }
    if (mon_json_str_get(v)) {
        return opt_add(dst, cap, len, key, mon_json_str_get(v));
    }
    if (mon_json_bool_get(v, &b)) {
        return opt_add(dst, cap, len, key, b ? "on" : "off");
    }
    if (mon_json_int_get(v, &i)) {
        snprintf(num, sizeof(num), "%" PRId64, i);
        return opt_add(dst, cap, len, key, num);
    }
    return -EINVAL;
}

/* The members of each backend's data that rrvm builds, as QEMU 7.2's
 * schema declares them (qapi/char.json, qapi/sockets.json), so that a
 * missing, unexpected or wrong-typed member gets QEMU's message. */
#define CHR_COMMON "*logfile:str,*logappend:bool"
static const struct {
    const char *type;
    const char *data;
} backend_data[] = {
    {"file", "{" CHR_COMMON ",*in:str,out:str,*append:bool}"},
    {"serial", "{" CHR_COMMON ",device:str}"},
    {"parallel", "{" CHR_COMMON ",device:str}"},
    {"pipe", "{" CHR_COMMON ",device:str}"},
    {"socket", "{" CHR_COMMON ",addr:{type:enum(inet|unix|vsock|fd),data:any},"
               "*tls-creds:str,*tls-authz:str,*server:bool,*wait:bool,"
               "*nodelay:bool,*telnet:bool,*tn3270:bool,*websocket:bool,"
               "*reconnect:int}"},
    {"null", "{" CHR_COMMON "}"},
    {"pty", "{" CHR_COMMON "}"},
    {"stdio", "{" CHR_COMMON ",*signal:bool}"},
    {"vc", "{" CHR_COMMON ",*width:int,*height:int,*cols:int,*rows:int}"},
    /* backends rrvm lacks: their data is checked, then they are refused */
    {"udp", "{" CHR_COMMON ",remote:{type:enum(inet|unix|vsock|fd),data:any},"
            "*local:{type:enum(inet|unix|vsock|fd),data:any}}"},
    {"ringbuf", "{" CHR_COMMON ",*size:int}"},
    {"memory", "{" CHR_COMMON ",*size:int}"},
    {"mux", "{" CHR_COMMON ",chardev:str}"},
    {"msmouse", "{" CHR_COMMON "}"},
    {"wctablet", "{" CHR_COMMON "}"},
    {"braille", "{" CHR_COMMON "}"},
    {"testdev", "{" CHR_COMMON "}"},
    {"console", "{" CHR_COMMON "}"},
};
static const struct {
    const char *type;
    const char *data;
} socket_addr_data[] = {
    {"unix", "{path:str,*abstract:bool,*tight:bool}"},
    {"inet", "{host:str,port:str,*numeric:bool,*to:int,*ipv4:bool,"
             "*ipv6:bool,*keep-alive:bool,*mptcp:bool}"},
};

static int backend_data_check(const char *type, const struct mon_json *data,
                              struct err *err)
{
    const struct mon_json *addr;
    const char *at;
    size_t i;
    int ret;

    for (i = 0; i < ARRAY_LEN(backend_data); i++) {
        if (!strcmp(backend_data[i].type, type)) {
            break;
        }
    }
    if (i == ARRAY_LEN(backend_data)) {
        return 0; /* refused later as rrvm has no such backend */
    }
    ret = mon_json_check(backend_data[i].data, data, "backend.data", err);
    if (ret < 0 || strcmp(type, "socket")) {
        return ret;
    }
    addr = mon_json_object_get(data, "addr");
    at = mon_json_str_get(mon_json_object_get(addr, "type"));
    for (i = 0; i < ARRAY_LEN(socket_addr_data); i++) {
        if (!strcmp(socket_addr_data[i].type, at)) {
            return mon_json_check(socket_addr_data[i].data,
                                  mon_json_object_get(addr, "data"),
                                  "backend.data.addr.data", err);
        }
    }
    return 0;
}

/*
 * The -chardev option string of QMP's ChardevBackend @backend for @id:
 * {"type": "file", "data": {"out": P, "append": B}} is "file,id=ID,path=P,
 * append=B", and so on for null, stdio, pty, vc, pipe, serial and socket
 * ({"addr": {"type": "unix"|"inet", "data": {...}}, "server", "wait",
 * "telnet", "nodelay", "reconnect"}).
 */
static int backend_opts(const struct mon_json *backend, const char *id,
                        char *dst, size_t cap, struct err *err)
{
    const char *type = mon_json_str_get(mon_json_object_get(backend, "type"));
    const struct mon_json *data = mon_json_object_get(backend, "data");
    size_t len = 0;
    int ret;

    static const char *const kinds[] = {
        "file",     "serial",    "parallel",     "pipe",  "socket",
        "udp",      "pty",       "null",         "mux",   "msmouse",
        "wctablet", "braille",   "testdev",      "stdio", "console",
        "spicevmc", "spiceport", "qemu-vdagent", "dbus",  "vc",
        "ringbuf",  "memory",
    };
    size_t k;

    if (!type || mon_json_type(data) != MON_JSON_OBJECT) {
        return err_set(err, -EINVAL, "Parameter 'backend' is missing");
    }
    for (k = 0; k < ARRAY_LEN(kinds) && strcmp(kinds[k], type); k++) {
    }
    if (k == ARRAY_LEN(kinds)) {
        return err_set(err, -EINVAL,
                       "Parameter 'type' does not accept value '%s'", type);
    }
    ret = backend_data_check(type, data, err);
    if (ret < 0) {
        return ret;
    }
    ret = snprintf(dst, cap, "%s", type) >= (int)cap ? -ERANGE : 0;
    len = strlen(dst);
    ret = ret ? ret : opt_add(dst, cap, &len, "id", id);
    /* members rrvm does not implement are passed on, so that the chardev
     * layer refuses them rather than they be ignored */
    ret = ret ? ret : opt_member(dst, cap, &len, data, "logfile", "logfile");
    ret =
        ret ? ret : opt_member(dst, cap, &len, data, "logappend", "logappend");
    if (!strcmp(type, "file")) {
        ret = ret ? ret : opt_member(dst, cap, &len, data, "in", "input-path");
        ret = ret ? ret : opt_member(dst, cap, &len, data, "out", "path");
        ret = ret ? ret : opt_member(dst, cap, &len, data, "append", "append");
    } else if (!strcmp(type, "pipe") || !strcmp(type, "serial")) {
        ret = ret ? ret : opt_member(dst, cap, &len, data, "device", "path");
    } else if (!strcmp(type, "socket")) {
        const struct mon_json *addr = mon_json_object_get(data, "addr");
        const struct mon_json *ad = mon_json_object_get(addr, "data");
        const char *at = mon_json_str_get(mon_json_object_get(addr, "type"));
        bool server = true;

        if (!at || (strcmp(at, "unix") && strcmp(at, "inet"))) {
            return err_set(err, -EINVAL, "Parameter 'addr' is missing");
        }
        ret = ret ? ret : opt_member(dst, cap, &len, ad, "path", "path");
        ret = ret ? ret : opt_member(dst, cap, &len, ad, "host", "host");
        ret = ret ? ret : opt_member(dst, cap, &len, ad, "port", "port");
        mon_json_bool_get(mon_json_object_get(data, "server"), &server);
        ret = ret ? ret
                  : opt_add(dst, cap, &len, "server", server ? "on" : "off");
        if (server && !mon_json_object_get(data, "wait")) {
            ret = ret ? ret : opt_add(dst, cap, &len, "wait", "off");
        }
        ret = ret ? ret : opt_member(dst, cap, &len, data, "wait", "wait");
        ret = ret ? ret : opt_member(dst, cap, &len, data, "telnet", "telnet");
        ret =
            ret ? ret : opt_member(dst, cap, &len, data, "nodelay", "nodelay");
        ret = ret ? ret
                  : opt_member(dst, cap, &len, data, "reconnect", "reconnect");
        ret = ret ? ret
                  : opt_member(dst, cap, &len, data, "tls-creds", "tls-creds");
        ret = ret ? ret
                  : opt_member(dst, cap, &len, data, "tls-authz", "tls-authz");
        ret = ret ? ret : opt_member(dst, cap, &len, data, "tn3270", "tn3270");
        ret = ret ? ret
                  : opt_member(dst, cap, &len, data, "websocket", "websocket");
    } else if (strcmp(type, "null") && strcmp(type, "stdio") &&
               strcmp(type, "pty") && strcmp(type, "vc")) {
        return err_set(err, -ENOTSUP, "'%s' is not a valid char driver name",
                       type);
    }
    if (ret < 0) {
        return err_set(err, ret, "Invalid parameter for chardev '%s'", id);
    }
    return 0;
}

/* chardev-add's informational lines ("char device redirected to ...") go
 * to the HMP monitor that asked, and nowhere for QMP, as in QEMU. */
static void chr_add_info(void *opaque, bool located, const char *line)
{
    mon_req_printf(opaque, "%s\n", line);
}

static int chr_add(struct mon_req *req, const char *params, struct err *err)
{
    struct vm_mon_info *info = vm_mon_info_of(req);
    struct opts *o = NULL;
    const char *id;
    struct chr *c;
    int ret;

    if (!info->chrs) {
        return err_set(err, -ENOTSUP, "no chardev layer");
    }
    ret = opts_parse(chr_opts_list(), params, 0, &o, err);
    if (ret < 0) {
        return ret;
    }
    id = opts_get(o, "id");
    if (id && chr_find(info->chrs, id)) {
        ret = err_set(err, -EEXIST,
                      "attempt to add duplicate property '%s' to object "
                      "(type 'container')",
                      id);
    } else {
        ret = chr_new_opts(info->chrs, o, chr_add_info, req, &c, err);
    }
    opts_free(o);
    return ret;
}

/* QMP chardev-add {id, backend}: returns {} or {"pty": path}. */
static int cmd_chardev_add(struct mon_req *req, struct err *err)
{
    struct vm_mon_info *info = vm_mon_info_of(req);
    const char *id = mon_req_arg_str(req, "id");
    char params[INFO_CHR_OPTS_MAX];
    struct mon_json *r;
    const char *fn;
    int ret;

    if (id && info->chrs && chr_find(info->chrs, id)) {
        return err_set(err, -EEXIST, "Chardev with id '%s' already exists", id);
    }
    ret = backend_opts(mon_json_object_get(mon_req_args(req), "backend"),
                       id ? id : "", params, sizeof(params), err);
    if (ret == 0) {
        ret = chr_add(req, params, err);
        if (ret < 0) {
            err_prefix(err, "Failed to add chardev '%s'", id ? id : "");
        }
    }
    if (ret < 0) {
        return ret;
    }
    r = mon_json_object_new();
    fn = chr_filename(chr_find(info->chrs, id));
    if (r && fn && !strncmp(fn, "pty:", 4) &&
        mon_json_object_set_take(r, "pty", mon_json_str_new(fn + 4)) < 0) {
        r = NULL;
    }
    if (!r) {
        return err_set(err, -ENOMEM, "out of memory");
    }
    mon_req_return_take(req, r);
    return 0;
}

/* HMP `chardev-add args`: the -chardev syntax; errors as "Error: ...". */
static int cmd_hmp_chardev_add(struct mon_req *req, struct err *err)
{
    const char *args = mon_req_arg_str(req, "args");
    struct err e = {0};

    struct opts *o = NULL;

    /* QEMU's qemu_opts_parse_noisily() reports, then HMP generalises. */
    if (opts_parse(chr_opts_list(), args ? args : "", 0, &o, &e) < 0) {
        mon_req_printf(req, "%s\nError: Parsing chardev args failed\n", e.msg);
        return 0;
    }
    opts_free(o);
    if (chr_add(req, args ? args : "", &e) < 0) {
        mon_req_printf(req, "Error: %s\n", e.msg);
    }
    return 0;
}

/* ---- the table ---- */

static const struct mon_cmd chr_cmds[] = {
    {NULL, "sendkey", NULL, NULL, "keys:s,hold-time:i?", "keys [hold_ms]",
     "send keys to the VM (e.g. 'sendkey ctrl-alt-f1', default hold time=100 "
     "ms)",
     cmd_sendkey, NULL, MON_CMD_HMP_ONLY, NULL},
    {"chardev-remove", "chardev-remove", "{id:str}", NULL, "id:s", "id",
     "remove chardev", cmd_chardev_remove, NULL, 0, NULL},
    {"chardev-send-break", "chardev-send-break", "{id:str}", NULL, "id:s", "id",
     "send a break on chardev", cmd_chardev_send_break, NULL, 0, NULL},
    {"chardev-add", NULL, "{id:str,backend:{type:str,data:any}}", "{*pty:str}",
     NULL, NULL, NULL, cmd_chardev_add, NULL, 0, NULL},
    {NULL, "chardev-add", NULL, NULL, "args:s", "args", "add chardev",
     cmd_hmp_chardev_add, NULL, MON_CMD_HMP_ONLY, NULL},

};

int vm_mon_chr_register(struct mon *mon, struct vm_mon_info *info,
                        struct err *err)
{
    return vm_mon_cmds_register(mon, chr_cmds, ARRAY_LEN(chr_cmds), info,
                                &info->chr_cmds, err);
}
