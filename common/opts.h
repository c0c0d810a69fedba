/* SPDX-License-Identifier: MIT */
/*
 * common/opts.h - "key=value,key=value" option lists parsed by QEMU's
 * QemuOpts rules (util/qemu-option.c), with QEMU's error wording.
 */
#ifndef COMMON_OPTS_H
#define COMMON_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

struct opts; /* opaque; one parsed option list, owns copies of its strings */

enum opts_type {
    OPTS_STRING = 0,
    OPTS_BOOL,   /* on|off|yes|no|true|false|y|n */
    OPTS_NUMBER, /* unsigned 64-bit, decimal, 0x hex or 0 octal */
    OPTS_SIZE,   /* a number with an optional k/M/G/T/P/E suffix */
};

/* One accepted key. */
struct opts_desc {
    const char *name;
    enum opts_type type;
};

/* What an option accepts, as QEMU's QemuOptsList. */
struct opts_list {
    const char *name;    /* "chardev", for messages */
    const char *implied; /* key of a leading bare word; NULL: none */
    /* Accepted keys, ended by a NULL name; NULL accepts any key (checked
     * by the caller, as QEMU's empty-desc lists). "id" is always valid. */
    const struct opts_desc *desc;
};

/* opts_parse() flags. */
#define OPTS_WARN_FLAGS (1u << 0) /* record short-form boolean warnings */

/* Longest option string accepted: QEMU takes any, we bound the copies. */
#define OPTS_MAX_LEN (64u << 10)

/*
 * Parse @params by QemuOpts rules:
 *  - a first item without '=' is the value of @list->implied (when set);
 *  - ",," inside a value is a literal comma;
 *  - another item without '=' is a short-form boolean: "foo" is foo=on,
 *    "nofoo" is foo=off ("help" and "?" ask for help instead);
 *  - with OPTS_WARN_FLAGS each short-form boolean records QEMU 7.2's
 *    deprecation warning (see opts_warning());
 *  - keys are checked against @list->desc, typed values are checked;
 *  - "id" must be an identifier (letters, digits, '-', '.', '_', starting
 *    with a letter).
 * A key given twice keeps both; lookups return the last (as QEMU).
 * Returns 0 and sets *@out (free with opts_free()), or -EINVAL with QEMU's
 * message in @err ("Invalid parameter 'foo'", "Parameter 'x' expects
 * 'on' or 'off'"), -ERANGE (longer than OPTS_MAX_LEN), -ENOMEM.
 */
int opts_parse(const struct opts_list *list, const char *params, unsigned flags,
               struct opts **out, struct err *err);

/* Accepts NULL. */
void opts_free(struct opts *o);

/* Number of key=value items, in order. */
size_t opts_count(const struct opts *o);
/* Item @i (< opts_count()); borrowed, valid until opts_free(). */
const char *opts_key(const struct opts *o, size_t i);
const char *opts_value(const struct opts *o, size_t i);

/* The last value of @key, or NULL if absent. Borrowed. */
const char *opts_get(const struct opts *o, const char *key);
/* True if "help" or "?" was given as an item, or as the implied value. */
bool opts_help_wanted(const struct opts *o);

/*
 * Typed lookups of the last value of @key; *@out = @dflt when absent.
 * Return 0, or -EINVAL with QEMU's message ("Parameter 'k' expects ...").
 */
int opts_get_bool(const struct opts *o, const char *key, bool dflt, bool *out,
                  struct err *err);
int opts_get_number(const struct opts *o, const char *key, uint64_t dflt,
                    uint64_t *out, struct err *err);
int opts_get_size(const struct opts *o, const char *key, uint64_t dflt,
                  uint64_t *out, struct err *err);

/*
 * Short-form boolean warnings recorded by opts_parse() with
 * OPTS_WARN_FLAGS: @i < opts_nb_warnings(). *@hint gets the second line
 * ("Please use server=on instead"). Both borrowed.
 */
size_t opts_nb_warnings(const struct opts *o);
const char *opts_warning(const struct opts *o, size_t i, const char **hint);

/*
 * Value parsers, as QEMU's: return 0, or -EINVAL with the message for
 * key @name ("Parameter 'name' expects 'on' or 'off'").
 */
int opts_parse_bool(const char *name, const char *v, bool *out,
                    struct err *err);
int opts_parse_number(const char *name, const char *v, uint64_t *out,
                      struct err *err);
int opts_parse_size(const char *name, const char *v, uint64_t *out,
                    struct err *err);
/* True if @id is a QEMU identifier. */
bool opts_id_wellformed(const char *id);

#endif /* COMMON_OPTS_H */
