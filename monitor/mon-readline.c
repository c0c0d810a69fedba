/* SPDX-License-Identifier: MIT */
/*
 * monitor/mon-readline.c - the HMP line editor. It works on a byte stream
 * (sockets, pipes, telnet, ttys alike) and redraws the line the way QEMU's
 * util/readline.c does, so clients see the same bytes: after each key,
 * ESC[D back to the line start, the whole line, ESC[K.
 */
#include "monitor/mon-int.h"

#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"

enum {
    RL_NORM,
    RL_ESC,
    RL_CSI,
    RL_SS3,
};

void mon_rl_init(struct mon_rl *rl, const char *prompt, struct mon_buf *out,
                 mon_rl_line_fn *line_fn, mon_rl_complete_fn *complete_fn,
                 void *opaque)
{
    memset(rl, 0, sizeof(*rl));
    rl->prompt = prompt;
    rl->out = out;
    rl->line_fn = line_fn;
    rl->complete_fn = complete_fn;
    rl->opaque = opaque;
    rl->hist_entry = -1;
}

static void rl_free_completions(struct mon_rl *rl)
{
    int i;

    for (i = 0; i < rl->ncompl; i++) {
        mem_free(rl->compl [i]);
        rl->compl [i] = NULL;
    }
    rl->ncompl = 0;
}

void mon_rl_fini(struct mon_rl *rl)
{
    int i;

    for (i = 0; i < MON_RL_MAX_HISTORY; i++) {
        mem_free(rl->history[i]);
        rl->history[i] = NULL;
    }
    rl_free_completions(rl);
}

void mon_rl_reset(struct mon_rl *rl)
{
    rl->cmd_len = rl->cmd_pos = 0;
    rl->last_cmd_len = rl->last_cmd_pos = 0;
    rl->esc_state = RL_NORM;
    rl->hist_entry = -1;
}

void mon_rl_show_prompt(struct mon_rl *rl)
{
    mon_buf_puts(rl->out, rl->prompt);
    rl->last_cmd_len = rl->last_cmd_pos = 0;
    rl->esc_state = RL_NORM;
}

static void rl_update(struct mon_rl *rl)
{
    int i, delta;

    if (rl->cmd_len != rl->last_cmd_len ||
        memcmp(rl->cmd, rl->last_cmd, (size_t)rl->cmd_len)) {
        for (i = 0; i < rl->last_cmd_pos; i++) {
            mon_buf_puts(rl->out, "\033[D");
        }
        mon_buf_put(rl->out, rl->cmd, (size_t)rl->cmd_len);
        mon_buf_puts(rl->out, "\033[K");
        memcpy(rl->last_cmd, rl->cmd, (size_t)rl->cmd_len);
        rl->last_cmd_len = rl->cmd_len;
        rl->last_cmd_pos = rl->cmd_len;
    }
    if (rl->cmd_pos != rl->last_cmd_pos) {
        delta = rl->cmd_pos - rl->last_cmd_pos;
        for (i = 0; i < abs(delta); i++) {
            mon_buf_puts(rl->out, delta > 0 ? "\033[C" : "\033[D");
        }
        rl->last_cmd_pos = rl->cmd_pos;
    }
}

static void rl_insert(struct mon_rl *rl, char c)
{
    if (rl->cmd_len >= MON_RL_MAX_CMD - 1) {
        return;
    }
    memmove(rl->cmd + rl->cmd_pos + 1, rl->cmd + rl->cmd_pos,
            (size_t)(rl->cmd_len - rl->cmd_pos));
    rl->cmd[rl->cmd_pos++] = c;
    rl->cmd_len++;
}

/* Delete @n bytes starting at @pos. */
static void rl_cut(struct mon_rl *rl, int pos, int n)
{
    memmove(rl->cmd + pos, rl->cmd + pos + n, (size_t)(rl->cmd_len - pos - n));
    rl->cmd_len -= n;
    if (rl->cmd_pos > pos + n) {
        rl->cmd_pos -= n;
    } else if (rl->cmd_pos > pos) {
        rl->cmd_pos = pos;
    }
}

static void rl_backspace(struct mon_rl *rl)
{
    if (rl->cmd_pos > 0) {
        rl_cut(rl, rl->cmd_pos - 1, 1);
    }
}

static void rl_delete(struct mon_rl *rl)
{
    if (rl->cmd_pos < rl->cmd_len) {
        rl_cut(rl, rl->cmd_pos, 1);
    }
}

static bool rl_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Ctrl-W: delete the word before the cursor, and the spaces after it. */
static void rl_backword(struct mon_rl *rl)
{
    int start = rl->cmd_pos;

    while (start > 0 && rl_space(rl->cmd[start - 1])) {
        start--;
    }
    while (start > 0 && !rl_space(rl->cmd[start - 1])) {
        start--;
    }
    rl_cut(rl, start, rl->cmd_pos - start);
}

static void rl_set_line(struct mon_rl *rl, const char *s)
{
    size_t n = strlen(s);

    if (n > MON_RL_MAX_CMD - 1) {
        n = MON_RL_MAX_CMD - 1;
    }
    memcpy(rl->cmd, s, n);
    rl->cmd_len = rl->cmd_pos = (int)n;
}

static void rl_up(struct mon_rl *rl)
{
    int idx;

    if (rl->hist_entry == 0) {
        return;
    }
    if (rl->hist_entry == -1) {
        for (idx = 0; idx < MON_RL_MAX_HISTORY && rl->history[idx]; idx++) {
        }
        rl->hist_entry = idx;
    }
    rl->hist_entry--;
    if (rl->hist_entry >= 0) {
        rl_set_line(rl, rl->history[rl->hist_entry]);
    }
}

static void rl_down(struct mon_rl *rl)
{
    if (rl->hist_entry == -1) {
        return;
    }
    if (rl->hist_entry < MON_RL_MAX_HISTORY - 1 &&
        rl->history[rl->hist_entry + 1]) {
        rl->hist_entry++;
        rl_set_line(rl, rl->history[rl->hist_entry]);
    } else {
        rl->cmd_len = rl->cmd_pos = 0;
        rl->hist_entry = -1;
    }
}

void mon_rl_history_add(struct mon_rl *rl, const char *line)
{
    char *entry = NULL;
    int idx;

    if (!line[0]) {
        return;
    }
    for (idx = 0; idx < MON_RL_MAX_HISTORY && rl->history[idx]; idx++) {
        if (!strcmp(rl->history[idx], line)) {
            entry = rl->history[idx];
            memmove(&rl->history[idx], &rl->history[idx + 1],
                    (size_t)(MON_RL_MAX_HISTORY - idx - 1) * sizeof(char *));
            rl->history[MON_RL_MAX_HISTORY - 1] = NULL;
            while (idx < MON_RL_MAX_HISTORY && rl->history[idx]) {
                idx++;
            }
            break;
        }
    }
    if (idx == MON_RL_MAX_HISTORY) {
        mem_free(rl->history[0]);
        memmove(&rl->history[0], &rl->history[1],
                (MON_RL_MAX_HISTORY - 1) * sizeof(char *));
        rl->history[MON_RL_MAX_HISTORY - 1] = NULL;
        idx = MON_RL_MAX_HISTORY - 1;
    }
    if (!entry) {
        entry = mem_strdup(line);
    }
    rl->history[idx] = entry; /* NULL on allocation failure: entry lost */
    rl->hist_entry = -1;
}

void mon_rl_add_completion(struct mon_rl *rl, const char *s)
{
    char *c;

    if (rl->ncompl >= MON_RL_MAX_COMPL) {
        return;
    }
    c = mem_strdup(s);
    if (c) {
        rl->compl [rl->ncompl++] = c;
    }
}

static int compl_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void rl_complete(struct mon_rl *rl)
{
    char line[MON_RL_MAX_CMD];
    int i, j, len, max_width = 0, max_prefix = 0, cols;

    if (!rl->complete_fn) {
        return;
    }
    rl_free_completions(rl);
    memcpy(line, rl->cmd, (size_t)rl->cmd_pos);
    line[rl->cmd_pos] = 0;
    rl->compl_index = 0;
    rl->complete_fn(rl->opaque, rl, line);
    if (rl->ncompl == 0) {
        return;
    }
    if (rl->ncompl == 1) {
        len = (int)strlen(rl->compl [0]);
        for (i = rl->compl_index; i < len; i++) {
            rl_insert(rl, rl->compl [0][i]);
        }
        if (len > 0 && rl->compl [0][len - 1] != '/') {
            rl_insert(rl, ' ');
        }
    } else {
        qsort(rl->compl, (size_t)rl->ncompl, sizeof(char *), compl_cmp);
        mon_buf_putc(rl->out, '\n');
        for (i = 0; i < rl->ncompl; i++) {
            len = (int)strlen(rl->compl [i]);
            if (i == 0) {
                max_prefix = len;
            } else {
                if (len < max_prefix) {
                    max_prefix = len;
                }
                for (j = 0; j < max_prefix; j++) {
                    if (rl->compl [i][j] != rl->compl [0][j]) {
                        max_prefix = j;
                    }
                }
            }
            if (len > max_width) {
                max_width = len;
            }
        }
        for (i = rl->compl_index; i < max_prefix; i++) {
            rl_insert(rl, rl->compl [0][i]);
        }
        max_width += 2;
        if (max_width < 10) {
            max_width = 10;
        } else if (max_width > 80) {
            max_width = 80;
        }
        cols = 80 / max_width;
        for (i = 0, j = 0; i < rl->ncompl; i++) {
            mon_buf_printf(rl->out, "%-*s", max_width, rl->compl [i]);
            if (++j == cols || i == rl->ncompl - 1) {
                mon_buf_putc(rl->out, '\n');
                j = 0;
            }
        }
        mon_rl_show_prompt(rl);
    }
    rl_free_completions(rl);
}

static void rl_enter(struct mon_rl *rl)
{
    char line[MON_RL_MAX_CMD];

    memcpy(line, rl->cmd, (size_t)rl->cmd_len);
    line[rl->cmd_len] = 0;
    mon_rl_history_add(rl, line);
    mon_buf_putc(rl->out, '\n');
    rl->cmd_len = rl->cmd_pos = 0;
    rl->last_cmd_len = rl->last_cmd_pos = 0;
    if (rl->line_fn) {
        rl->line_fn(rl->opaque, line);
    }
}

void mon_rl_feed(struct mon_rl *rl, unsigned char c)
{
    switch (rl->esc_state) {
    case RL_NORM:
        switch (c) {
        case 1: /* Ctrl-A */
            rl->cmd_pos = 0;
            break;
        case 2: /* Ctrl-B */
            if (rl->cmd_pos > 0) {
                rl->cmd_pos--;
            }
            break;
        case 4: /* Ctrl-D */
            rl_delete(rl);
            break;
        case 5: /* Ctrl-E */
            rl->cmd_pos = rl->cmd_len;
            break;
        case 6: /* Ctrl-F */
            if (rl->cmd_pos < rl->cmd_len) {
                rl->cmd_pos++;
            }
            break;
        case 9:
            rl_complete(rl);
            break;
        case 10:
        case 13:
            rl_enter(rl);
            return;
        case 12: /* Ctrl-L: clear the screen, redraw */
            mon_buf_puts(rl->out, "\033[2J\033[1;1H");
            mon_rl_show_prompt(rl);
            break;
        case 11: /* Ctrl-K */
            rl->cmd_len = rl->cmd_pos;
            break;
        case 14: /* Ctrl-N */
            rl_down(rl);
            break;
        case 16: /* Ctrl-P */
            rl_up(rl);
            break;
        case 21: /* Ctrl-U */
            rl_cut(rl, 0, rl->cmd_pos);
            break;
        case 23: /* Ctrl-W */
            rl_backword(rl);
            break;
        case 27:
            rl->esc_state = RL_ESC;
            break;
        case 8:
        case 127:
            rl_backspace(rl);
            break;
        case 155:
            rl->esc_state = RL_CSI;
            rl->esc_param = 0;
            break;
        default:
            if (c >= 32) {
                rl_insert(rl, (char)c);
            }
            break;
        }
        break;
    case RL_ESC:
        rl->esc_param = 0;
        if (c == '[') {
            rl->esc_state = RL_CSI;
        } else if (c == 'O') {
            rl->esc_state = RL_SS3;
        } else {
            rl->esc_state = RL_NORM;
        }
        break;
    case RL_CSI:
        if (c >= '0' && c <= '9') {
            if (rl->esc_param < 1000) {
                rl->esc_param = rl->esc_param * 10 + (c - '0');
            }
            return;
        }
        /* as QEMU 7.2: CSI F is history up and CSI E down, CSI H nothing */
        switch (c) {
        case 'A':
        case 'F':
            rl_up(rl);
            break;
        case 'B':
        case 'E':
            rl_down(rl);
            break;
        case 'C':
            if (rl->cmd_pos < rl->cmd_len) {
                rl->cmd_pos++;
            }
            break;
        case 'D':
            if (rl->cmd_pos > 0) {
                rl->cmd_pos--;
            }
            break;
        case '~':
            if (rl->esc_param == 1) {
                rl->cmd_pos = 0;
            } else if (rl->esc_param == 3) {
                rl_delete(rl);
            } else if (rl->esc_param == 4) {
                rl->cmd_pos = rl->cmd_len;
            }
            break;
        default:
            break;
        }
        rl->esc_state = RL_NORM;
        break;
    case RL_SS3:
        if (c == 'F') {
            rl->cmd_pos = rl->cmd_len;
        } else if (c == 'H') {
            rl->cmd_pos = 0;
        }
        rl->esc_state = RL_NORM;
        break;
    }
    rl_update(rl);
}
