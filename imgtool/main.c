/* SPDX-License-Identifier: MIT */
/*
 * imgtool/main.c - rrvm-img: qemu-img's commands, options, output and exit
 * codes on rrvm's qcow2 library. Dispatches to one cmd-*.c per command.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgtool/img.h"

struct img_command {
    const char *name;
    int (*fn)(int argc, char **argv);
};

static const struct img_command img_commands[] = {
    {"amend", img_cmd_amend},
    {"bench", img_cmd_bench},
    {"catalog", img_cmd_catalog},
    {"check", img_cmd_check},
    {"commit", img_cmd_commit},
    {"compare", img_cmd_compare},
    {"convert", img_cmd_convert},
    {"create", img_cmd_create},
    {"info", img_cmd_info},
    {"map", img_cmd_map},
    {"measure", img_cmd_measure},
    {"snapshot", img_cmd_snapshot},
    {"rebase", img_cmd_rebase},
    {"resize", img_cmd_resize},
    {"snapshot-diff", img_cmd_snapshot_diff},
};

static const char img_help_text[] =
    "usage: " IMG_PROG " [standard options] command [command options]\n"
    "rrvm disk image utility (qemu-img compatible)\n"
    "\n"
    "    '-h', '--help'       display this help and exit\n"
    "    '-V', '--version'    output version information and exit\n"
    "\n"
    "Command syntax:\n"
    "  amend [-p] [-q] [-f fmt] [-t cache] [--force] -o options filename\n"
    "  bench [-c count] [-d depth] [-f fmt] [--flush-interval=flush_interval]"
    " [-i aio] [-n] [--no-drain] [-o offset] [--pattern=pattern] [-q]"
    " [-s buffer_size] [-S step_size] [-t cache] [-w] [-U] filename\n"
    "  catalog [-catalog file] list|search|label|mark|annotate|sync|forget"
    "|check [...]\n"
    "  check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-T src_cache]"
    " [-U] filename\n"
    "  commit [-q] [-f fmt] [-t cache] [-b base] [-r rate_limit] [-d] [-p]"
    " filename\n"
    "  compare [-f fmt] [-F fmt] [-T src_cache] [-p] [-q] [-s] [-U] filename1"
    " filename2\n"
    "  convert [--target-is-zero] [-U] [-C] [-c] [-p] [-q] [-n] [-f fmt]"
    " [-t cache] [-T src_cache] [-O output_fmt] [-B backing_file"
    " [-F backing_fmt]] [-o options] [-l snapshot_param] [-S sparse_size]"
    " [-r rate_limit] [-m num_coroutines] [-W] [--salvage] filename"
    " [filename2 [...]] output_filename\n"
    "  create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] [-u]"
    " [-o options] filename [size]\n"
    "  info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename\n"
    "  map [-f fmt] [--start-offset=offset] [--max-length=len]"
    " [--output=ofmt] [-U] filename\n"
    "  measure [--output=ofmt] [-O output_fmt] [-o options] [--size N |"
    " [-f fmt] filename]\n"
    "  snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | -d snapshot]"
    " filename\n"
    "  snapshot-diff [-U] [--output=ofmt] filename snapshot_a snapshot_b\n"
    "  rebase [-U] [-q] [-f fmt] [-t cache] [-T src_cache] [-p] [-u]"
    " -b backing_file [-F backing_fmt] filename\n"
    "  resize [-f fmt] [--preallocation=prealloc] [-q] [--shrink] filename"
    " [+ | -]size\n"
    "\n"
    "Command parameters:\n"
    "  'filename' is a disk image filename\n"
    "  'fmt' is the disk image format. It is guessed automatically in most "
    "cases\n"
    "  'cache' is the cache mode used to write the output disk image, the "
    "valid\n"
    "    options are: 'none', 'writeback' (default, except for convert), "
    "'writethrough',\n"
    "    'directsync' and 'unsafe' (default for convert)\n"
    "  'src_cache' is the cache mode used to read input disk images, the "
    "valid\n"
    "    options are the same as for the 'cache' option\n"
    "  'size' is the disk image size in bytes. Optional suffixes\n"
    "    'k' or 'K' (kilobyte, 1024), 'M' (megabyte, 1024k), 'G' (gigabyte, "
    "1024M),\n"
    "    'T' (terabyte, 1024G), 'P' (petabyte, 1024T) and 'E' (exabyte, "
    "1024P)  are\n"
    "    supported. 'b' is ignored.\n"
    "  'output_filename' is the destination disk image filename\n"
    "  'output_fmt' is the destination format\n"
    "  'options' is a comma separated list of format specific options in a\n"
    "    name=value format. Use -o help for an overview of the options "
    "supported by\n"
    "    the used format\n"
    "  'snapshot_param' is param used for internal snapshot, format\n"
    "    is 'snapshot.id=[ID],snapshot.name=[NAME]', or\n"
    "    '[ID_OR_NAME]'\n"
    "  '-c' indicates that target image must be compressed (qcow format "
    "only)\n"
    "  '-u' allows unsafe backing chains. For rebasing, it is assumed that "
    "old and\n"
    "       new backing file match exactly. The image doesn't need a "
    "working\n"
    "       backing file before rebasing in this case (useful for renaming "
    "the\n"
    "       backing file). For image creation, allow creating without "
    "attempting\n"
    "       to open the backing file.\n"
    "  '-h' with or without a command shows this help and lists the "
    "supported formats\n"
    "  '-p' show progress of command (only certain commands)\n"
    "  '-q' use Quiet mode - do not print any output (except errors)\n"
    "  '-S' indicates the consecutive number of bytes (defaults to 4k) that "
    "must\n"
    "       contain only zeros for " IMG_PROG
    " to create a sparse image during\n"
    "       conversion. If the number of bytes is 0, the source will not be "
    "scanned for\n"
    "       unallocated or zero sectors, and the destination image will "
    "always be\n"
    "       fully allocated\n"
    "  '--output' takes the format in which the output must be done (human "
    "or json)\n"
    "  '-n' skips the target volume creation (useful if the volume is "
    "created\n"
    "       prior to running " IMG_PROG ")\n"
    "\n"
    "Parameters to check subcommand:\n"
    "  '-r' tries to repair any inconsistencies that are found during the "
    "check.\n"
    "       '-r leaks' repairs only cluster leaks, whereas '-r all' fixes "
    "all\n"
    "       kinds of errors, with a higher risk of choosing the wrong fix "
    "or\n"
    "       hiding corruption that has already occurred.\n"
    "\n"
    "Parameters to convert subcommand:\n"
    "  '-m' specifies how many coroutines work in parallel during the "
    "convert\n"
    "       process (defaults to 8)\n"
    "  '-W' allow to write to the target out of order rather than "
    "sequential\n"
    "\n"
    "Parameters to snapshot subcommand:\n"
    "  'snapshot' is the name of the snapshot to create, apply or delete\n"
    "  '-a' applies a snapshot (revert disk to saved state)\n"
    "  '-c' creates a snapshot\n"
    "  '-d' deletes a snapshot\n"
    "  '-l' lists all snapshots in the given image\n"
    "\n"
    "Parameters to catalog subcommand (rrvm extension; '" IMG_PROG
    " catalog -h' for details):\n"
    "  'file' is the snapshot catalog (default: $RRVM_CATALOG, else\n"
    "    $XDG_DATA_HOME/rrvm/catalog.sqlite); snapshot -c, -a and -d keep it "
    "current\n"
    "\n"
    "Parameters to compare subcommand:\n"
    "  '-f' first image format\n"
    "  '-F' second image format\n"
    "  '-s' run in Strict mode - fail on different image size or sector "
    "allocation\n"
    "\n"
    "Supported formats: qcow2 raw\n";

static void img_verror(const char *fmt, va_list ap)
{
    fflush(stdout);
    fputs(IMG_PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void img_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    img_verror(fmt, ap);
    va_end(ap);
}

void img_error_try(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    img_verror(fmt, ap);
    va_end(ap);
    fputs("Try '" IMG_PROG " --help' for more information\n", stderr);
}

void img_help(void)
{
    printf("%s version %s\n", IMG_PROG, IMG_VERSION);
    printf("Copyright (c) 2026 the rrvm developers\n");
    fputs(img_help_text, stdout);
    exit(0);
}

void img_oom(void)
{
    img_error("out of memory");
    exit(1);
}

int img_bad_option(char **argv, int optind_now)
{
    img_error_try("unrecognized option '%s'", argv[optind_now - 1]);
    return 1;
}

int img_missing_arg(char **argv, int optind_now)
{
    img_error_try("missing argument for option '%s'", argv[optind_now - 1]);
    return 1;
}

int img_refuse_opt(const char *opt)
{
    img_error("%s is not supported by " IMG_PROG
              " (use plain file names and -f)",
              opt);
    return 1;
}

static void img_version(void)
{
    printf("%s version %s (rrvm; qemu-img 7.2 compatible)\n", IMG_PROG,
           IMG_VERSION);
    printf("Copyright (c) 2026 the rrvm developers\n");
}

int main(int argc, char **argv)
{
    const char *cmd;
    size_t i;

    if (argc < 2) {
        img_error_try("Not enough arguments");
        return 1;
    }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        img_help();
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        img_version();
        return 0;
    }
    if (cmd[0] == '-') {
        img_error_try("unrecognized option '%s'", cmd);
        return 1;
    }
    for (i = 0; i < sizeof(img_commands) / sizeof(img_commands[0]); i++) {
        if (!strcmp(cmd, img_commands[i].name)) {
            int ret = img_commands[i].fn(argc - 1, argv + 1);

            if (fflush(stdout) != 0 && ret == 0) {
                ret = 1;
            }
            return ret;
        }
    }
    img_error_try("Command not found: %s", cmd);
    return 1;
}
