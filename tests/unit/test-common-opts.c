/* SPDX-License-Identifier: MIT */
/* tests/unit/test-common-opts.c - QemuOpts rules and QEMU's messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/alloc.h"
#include "common/opts.h"

static const struct opts_desc chardev_desc[] = {
    {"backend", OPTS_STRING}, {"path", OPTS_STRING}, {"server", OPTS_BOOL},
    {"wait", OPTS_BOOL},      {"delay", OPTS_BOOL},  {"port", OPTS_NUMBER},
    {"size", OPTS_SIZE},      {"mux", OPTS_BOOL},    {NULL, 0},
};
static const struct opts_list chardev_list = {"chardev", "backend",
                                              chardev_desc};
static const struct opts_list free_list = {"device", "driver", NULL};

static void test_implied_and_escape(void **state)
{
    struct opts *o = NULL;
    struct err e = {0};

    assert_int_equal(opts_parse(&chardev_list, "socket,id=m0,path=/a,,b",
                                OPTS_WARN_FLAGS, &o, &e),
                     0);
    assert_int_equal(opts_count(o), 3);
    assert_string_equal(opts_key(o, 0), "backend");
    assert_string_equal(opts_get(o, "backend"), "socket");
    assert_string_equal(opts_get(o, "id"), "m0");
    assert_string_equal(opts_get(o, "path"), "/a,b");
    assert_null(opts_get(o, "server"));
    assert_int_equal(opts_nb_warnings(o), 0);
    assert_false(opts_help_wanted(o));
    opts_free(o);

    /* The implied value is unescaped too; '=' after the first is data. */
    assert_int_equal(opts_parse(&free_list, "a,,b,x=y=z", 0, &o, &e), 0);
    assert_string_equal(opts_get(o, "driver"), "a,b");
    assert_string_equal(opts_get(o, "x"), "y=z");
    opts_free(o);

    /* A later value wins; an empty string has no items. */
    assert_int_equal(opts_parse(&free_list, "d,k=1,k=2", 0, &o, &e), 0);
    assert_string_equal(opts_get(o, "k"), "2");
    assert_int_equal(opts_count(o), 3);
    opts_free(o);
    assert_int_equal(opts_parse(&free_list, "", 0, &o, &e), 0);
    assert_int_equal(opts_count(o), 0);
    opts_free(o);
}

static void test_short_form_booleans(void **state)
{
    struct opts *o = NULL;
    struct err e = {0};
    const char *hint = NULL;
    bool b = true;

    assert_int_equal(opts_parse(&chardev_list,
                                "socket,path=/s,server,nowait,nodelay",
                                OPTS_WARN_FLAGS, &o, &e),
                     0);
    assert_string_equal(opts_get(o, "server"), "on");
    assert_string_equal(opts_get(o, "wait"), "off");
    assert_string_equal(opts_get(o, "delay"), "off");
    assert_int_equal(opts_nb_warnings(o), 3);
    assert_string_equal(opts_warning(o, 0, &hint),
                        "short-form boolean option 'server' deprecated");
    assert_string_equal(hint, "Please use server=on instead");
    assert_string_equal(opts_warning(o, 1, &hint),
                        "short-form boolean option 'nowait' deprecated");
    assert_string_equal(hint, "Please use wait=off instead");
    assert_string_equal(opts_warning(o, 2, &hint),
                        "short-form boolean option 'nodelay' deprecated");
    assert_string_equal(hint, "Please use nodelay=on instead");
    assert_null(opts_warning(o, 3, &hint));
    assert_int_equal(opts_get_bool(o, "wait", true, &b, &e), 0);
    assert_false(b);
    opts_free(o);

    /* Without OPTS_WARN_FLAGS (the legacy -monitor tcp:... form): silent. */
    assert_int_equal(
        opts_parse(&chardev_list, "socket,server,nowait", 0, &o, &e), 0);
    assert_int_equal(opts_nb_warnings(o), 0);
    assert_string_equal(opts_get(o, "wait"), "off");
    opts_free(o);
}

static void test_help(void **state)
{
    struct opts *o = NULL;
    struct err e = {0};

    assert_int_equal(opts_parse(&chardev_list, "help", 0, &o, &e), 0);
    assert_true(opts_help_wanted(o));
    opts_free(o);
    assert_int_equal(
        opts_parse(&chardev_list, "socket,help", OPTS_WARN_FLAGS, &o, &e), 0);
    assert_true(opts_help_wanted(o));
    assert_int_equal(opts_nb_warnings(o), 0);
    assert_null(opts_get(o, "help"));
    opts_free(o);
    assert_int_equal(opts_parse(&free_list, "x,?", 0, &o, &e), 0);
    assert_true(opts_help_wanted(o));
    opts_free(o);
}

static void test_errors(void **state)
{
    struct opts *o = NULL;
    struct err e = {0};

    assert_int_equal(opts_parse(&chardev_list, "null,foo=1", 0, &o, &e),
                     -EINVAL);
    assert_string_equal(e.msg, "Invalid parameter 'foo'");
    assert_null(o);
    assert_int_equal(
        opts_parse(&chardev_list, "socket,server=maybe", 0, &o, &e), -EINVAL);
    assert_string_equal(e.msg, "Parameter 'server' expects 'on' or 'off'");
    assert_int_equal(opts_parse(&chardev_list, "socket,port=12x", 0, &o, &e),
                     -EINVAL);
    assert_string_equal(e.msg, "Parameter 'port' expects a number");
    assert_int_equal(opts_parse(&chardev_list, "socket,size=1Q", 0, &o, &e),
                     -EINVAL);
    assert_string_equal(e.msg, "Parameter 'size' expects a size");
    assert_int_equal(opts_parse(&chardev_list, "null,id=1abc", 0, &o, &e),
                     -EINVAL);
    assert_string_equal(e.msg, "Parameter 'id' expects an identifier");
    /* A short-form boolean of an unknown key is checked too. */
    assert_int_equal(opts_parse(&chardev_list, "null,bogus", 0, &o, &e),
                     -EINVAL);
    assert_string_equal(e.msg, "Invalid parameter 'bogus'");
}

static void test_values(void **state)
{
    struct err e = {0};
    uint64_t v = 0;
    bool b = false;

    assert_int_equal(opts_parse_size("m", "4k", &v, &e), 0);
    assert_true(v == 4096);
    assert_int_equal(opts_parse_size("m", "2G", &v, &e), 0);
    assert_true(v == (2ull << 30));
    assert_int_equal(opts_parse_size("m", "17", &v, &e), 0);
    assert_true(v == 17);
    assert_int_equal(opts_parse_size("m", "20E", &v, &e), -EINVAL);
    assert_string_equal(e.msg,
                        "Parameter 'm' expects a non-negative number below "
                        "2^64");
    assert_int_equal(opts_parse_number("n", "0x10", &v, &e), 0);
    assert_true(v == 16);
    assert_int_equal(opts_parse_number("n", "-1", &v, &e), -EINVAL);
    assert_int_equal(opts_parse_bool("b", "yes", &b, &e), 0);
    assert_true(b);
    assert_int_equal(opts_parse_bool("b", "no", &b, &e), 0);
    assert_false(b);
    assert_true(opts_id_wellformed("mon0.a-b_c"));
    assert_false(opts_id_wellformed("_x"));
    assert_false(opts_id_wellformed(""));
}

static void test_alloc_failures(void **state)
{
    struct opts *o;
    struct err e = {0};
    int ret = -ENOMEM;

    for (long n = 0; ret == -ENOMEM; n++) {
        o = NULL;
        mem_fail_after(n, 0);
        ret = opts_parse(&chardev_list, "socket,id=a,path=/x,server,nowait",
                         OPTS_WARN_FLAGS, &o, &e);
        mem_fail_after(-1, 0);
        if (ret == -ENOMEM) {
            assert_null(o);
        }
    }
    assert_int_equal(ret, 0);
    assert_int_equal(opts_nb_warnings(o), 2);
    opts_free(o);
    opts_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_implied_and_escape),
        cmocka_unit_test(test_short_form_booleans),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
