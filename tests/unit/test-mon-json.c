/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test-mon-json.c - the monitor's JSON values: parsing QEMU's
 * dialect, printing QEMU's layout, round trips, the builder API, and the
 * command-table type notation.
 */
#include "test-mon-common.h"

#include <stdio.h>

static char *print(const struct mon_json *v, bool pretty)
{
    static char res[1024];
    char *t = NULL;

    assert_int_equal(mon_json_to_text(v, pretty, &t), 0);
    snprintf(res, sizeof(res), "%s", t);
    mon_json_text_free(t);
    return res;
}

static void roundtrip(const char *in, const char *want)
{
    struct mon_json *v = NULL, *w = NULL;
    struct err err = {0};
    char *out;

    assert_int_equal(mon_json_parse(in, strlen(in), &v, &err), 0);
    out = print(v, false);
    assert_string_equal(out, want);
    assert_int_equal(mon_json_parse(out, strlen(out), &w, &err), 0);
    assert_true(mon_json_equal(v, w));
    mon_json_free(v);
    mon_json_free(w);
}

static void test_parse_print(void **state)
{
    (void)state;
    roundtrip("{\"a\":1,\"b\":[true,false,null],\"c\":{}}",
              "{\"a\": 1, \"b\": [true, false, null], \"c\": {}}");
    roundtrip("'sq \\' \"dq\"'", "\"sq ' \\\"dq\\\"\"");
    roundtrip("\"\\b\\f\\n\\r\\t\\/\\\\\"", "\"\\b\\f\\n\\r\\t/\\\\\"");
    roundtrip("\"\\u00e9\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\"",
              "\"\\u00E9\\u00E9\\u20AC\\uD83D\\uDE00\"");
    roundtrip("\"a\\u0000b\"", "\"a\\u0000b\"");
    /* modified UTF-8's NUL is accepted, as QEMU's parser does */
    roundtrip("\"\xC0\x80\"", "\"\\u0000\"");
    roundtrip("9223372036854775807", "9223372036854775807");
    roundtrip("9223372036854775808", "9223372036854775808");
    roundtrip("18446744073709551616", "1.8446744073709552e+19");
    roundtrip("-9223372036854775809", "-9.2233720368547758e+18");
    roundtrip("0.1", "0.10000000000000001");
    roundtrip("-1.5E-3", "-0.0015");
    roundtrip("[[[]]]", "[[[]]]");
    roundtrip("1.5e3", "1500"); /* a double printed as an integer */
}

static void test_parse_errors(void **state)
{
    static const char *const bad[][2] = {
        {"", "JSON parse error, premature EOI"},
        {"[1,]", "JSON parse error, expecting value"},
        {"tru", "JSON parse error, invalid keyword 'tru'"},
        {"1.", "JSON parse error, stray '1. '"},
        {"-", "JSON parse error, stray '- '"},
        {"1e", "JSON parse error, stray '1e '"},
        {"\"\\u12G4\"", "JSON parse error, \\u12G4 is not a valid Unicode "
                        "character"},
        {"\"\\u12\"", "JSON parse error, \\u12\" is not a valid Unicode "
                      "character"},
        {"\"\\uDC00\\uD800\"", "JSON parse error, \\uDC00 is not a valid "
                               "Unicode character"},
        {"\"\xED\xA0\x80\"", "JSON parse error, invalid UTF-8 sequence in "
                             "string"},
        {"%d", "JSON parse error, stray '%'"},
        {"1 2", "JSON parse error, trailing input"},
    };
    struct mon_json *v = NULL;
    struct err err = {0};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&err);
        assert_int_equal(mon_json_parse(bad[i][0], strlen(bad[i][0]), &v, &err),
                         -EPROTO);
        assert_string_equal(err.msg, bad[i][1]);
    }
}

static void test_builders(void **state)
{
    struct mon_json *o = mon_json_object_new(), *a = mon_json_array_new();
    struct mon_json *c;
    const char *key;
    int64_t i64;
    bool b;

    (void)state;
    assert_int_equal(mon_json_object_set_take(o, "n", mon_json_int_new(-5)), 0);
    assert_int_equal(
        mon_json_object_set_take(o, "u", mon_json_uint_new(UINT64_MAX)), 0);
    assert_int_equal(mon_json_object_set_take(o, "d", mon_json_number_new(2.5)),
                     0);
    assert_int_equal(mon_json_array_append_take(a, mon_json_str_new("x")), 0);
    assert_int_equal(mon_json_array_append_take(a, mon_json_null_new()), 0);
    assert_int_equal(mon_json_object_set_take(o, "a", a), 0);
    /* setting a key again replaces it in place */
    assert_int_equal(mon_json_object_set_take(o, "n", mon_json_bool_new(true)),
                     0);
    assert_string_equal(print(o, false), "{\"n\": true, \"u\": "
                                         "18446744073709551615, \"d\": 2.5, "
                                         "\"a\": [\"x\", null]}");
    assert_string_equal(print(o, true),
                        "{\n    \"n\": true,\n    \"u\": "
                        "18446744073709551615,\n    \"d\": 2.5,\n    \"a\": "
                        "[\n        \"x\",\n        null\n    ]\n}");
    assert_int_equal(mon_json_len(o), 4);
    assert_non_null(mon_json_object_at(o, 3, &key));
    assert_string_equal(key, "a");
    assert_true(mon_json_bool_get(mon_json_object_get(o, "n"), &b) && b);
    assert_false(mon_json_int_get(mon_json_object_get(o, "u"), &i64));
    assert_string_equal(mon_json_str_get(mon_json_array_get(a, 0)), "x");
    assert_null(mon_json_array_get(a, 2));
    assert_int_equal(mon_json_type(mon_json_object_get(o, "d")),
                     MON_JSON_NUMBER);
    /* wrong container, NULL value */
    assert_int_equal(mon_json_array_append_take(o, mon_json_int_new(1)),
                     -EINVAL);
    assert_int_equal(mon_json_object_set_take(a, "k", mon_json_int_new(1)),
                     -EINVAL);
    assert_int_equal(mon_json_array_append_take(a, NULL), -ENOMEM);
    c = mon_json_copy(o);
    assert_true(mon_json_equal(o, c));
    mon_json_object_set_take(c, "n", mon_json_bool_new(false));
    assert_false(mon_json_equal(o, c));
    mon_json_free(c);
    mon_json_free(o);
    mon_json_free(NULL);
}

static void test_types(void **state)
{
    static const char *const good[] = {
        "int",
        "[str]",
        "{}",
        "{a:int,*b:[{c:bool}],d:enum(x|y-z)}",
        "{a:any,b:null,c:size,d:number}",
    };
    static const char *const badt[] = {
        "",
        "integer",
        "[int",
        "{a}",
        "{a:int,a:str}",
        "enum()",
        "{a:int}x",
        "[[[[[[[[[[[[[[[[[[int]]]]]]]]]]]]]]]]]",
    };
    struct mon_type *t;
    struct err err = {0};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(mon_type_parse(good[i], &t, &err), 0);
        mon_type_free(t);
    }
    for (i = 0; i < sizeof(badt) / sizeof(badt[0]); i++) {
        assert_int_equal(mon_type_parse(badt[i], &t, &err), -EINVAL);
    }
}

static void test_type_check(void **state)
{
    static const char *const rows[][2] = {
        {"{\"a\":1}", NULL},
        {"{}", "Parameter 'a' is missing"},
        {"{\"a\":\"1\"}", "Invalid parameter type for 'a', expected: integer"},
        {"{\"a\":1,\"z\":1}", "Parameter 'z' is unexpected"},
        {"{\"a\":1,\"b\":[{\"c\":1}]}",
         "Invalid parameter type for 'b[0].c', expected: boolean"},
        {"{\"a\":1,\"b\":[{\"c\":true,\"q\":1}]}",
         "Parameter 'b[0].q' is unexpected"},
        {"{\"a\":1,\"d\":\"w\"}", "Parameter 'd' does not accept value 'w'"},
        {"{\"a\":1,\"d\":\"y-z\",\"e\":-1}",
         "Invalid parameter type for 'e', expected: size"},
        {"{\"a\":1,\"e\":18446744073709551615,\"f\":1,\"g\":null}", NULL},
        {"{\"a\":1,\"f\":\"x\"}",
         "Invalid parameter type for 'f', expected: number"},
        {"{\"a\":1,\"b\":{}}", "Invalid parameter type for 'b', expected: "
                               "array"},
    };
    struct mon_type *t = NULL;
    struct mon_json *v = NULL;
    struct err err = {0};
    size_t i;

    (void)state;
    assert_int_equal(
        mon_type_parse(
            "{a:int,*b:[{c:bool}],*d:enum(x|y-z),*e:size,*f:number,*g:null}",
            &t, &err),
        0);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(
            mon_json_parse(rows[i][0], strlen(rows[i][0]), &v, NULL), 0);
        err_clear(&err);
        if (rows[i][1]) {
            assert_int_equal(mon_type_check_args(t, v, &err), -EINVAL);
            assert_string_equal(err.msg, rows[i][1]);
        } else {
            assert_int_equal(mon_type_check_args(t, v, &err), 0);
        }
        mon_json_free(v);
    }
    mon_type_free(t);
}

/* mon_json_check(): the same checks for what a handler checks itself,
 * named from a path; enums named as QEMU's input_type_enum() does. */
static void test_json_check(void **state)
{
    static const char type[] = "{a:int,*l:[enum(x|y)],*o:{k:enum(p|q)}}";
    static const char *const rows[][2] = {
        {"{\"a\":1,\"l\":[\"x\"],\"o\":{\"k\":\"q\"}}", NULL},
        {"{}", "Parameter 'backend.data.a' is missing"},
        {"{\"a\":true}",
         "Invalid parameter type for 'backend.data.a', expected: integer"},
        {"{\"a\":1,\"l\":[\"x\",\"z\"]}",
         "Parameter 'null' does not accept value 'z'"},
        {"{\"a\":1,\"o\":{\"k\":\"r\"}}",
         "Parameter 'k' does not accept value 'r'"},
        {"{\"a\":1,\"o\":{\"k\":\"p\",\"j\":1}}",
         "Parameter 'backend.data.o.j' is unexpected"},
        {"[]", "Invalid parameter type for 'backend.data', expected: object"},
    };
    struct mon_json *v = NULL;
    struct err err = {0};

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(
            mon_json_parse(rows[i][0], strlen(rows[i][0]), &v, NULL), 0);
        err_clear(&err);
        if (rows[i][1]) {
            assert_int_equal(mon_json_check(type, v, "backend.data", &err),
                             -EINVAL);
            assert_string_equal(err.msg, rows[i][1]);
        } else {
            assert_int_equal(mon_json_check(type, v, "backend.data", &err), 0);
        }
        mon_json_free(v);
    }
    assert_int_equal(mon_json_parse("\"s\"", 3, &v, NULL), 0);
    assert_int_equal(mon_json_check("int", v, "n", &err), -EINVAL);
    assert_string_equal(err.msg,
                        "Invalid parameter type for 'n', expected: integer");
    assert_int_equal(mon_json_check("{a:", v, "n", &err), -EINVAL);
    mon_json_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_print), cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_builders),    cmocka_unit_test(test_types),
        cmocka_unit_test(test_type_check),  cmocka_unit_test(test_json_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
