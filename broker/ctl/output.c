/*  output.c: everything foundryctl prints, human or --json. It renders the
 *  admin reply tables (and the tables built offline from the key store) and
 *  owns the error line format. It knows nothing about the broker or store.
 *
 *  Formats (stable: scripts and the integration tests parse them):
 *
 *  Errors: one line on stderr, "foundryctl: <reason>", nothing else.
 *
 *  Human tables (key ls, stream ls, key add, key revoke, bootstrap):
 *    a header row with the column names upper-cased, then one line per row;
 *    columns left-aligned, padded with spaces and separated by two spaces,
 *    no trailing whitespace. Widths count UTF-8 code points. Cell text:
 *      TEXT/BYTES  as is when valid UTF-8 without control characters (C0,
 *                  DEL, C1), else "<" lower-case hex ">"; each run of spaces
 *                  inside a cell becomes one "," (lists like allow_publish
 *                  "a.> b.>" print as "a.>,b.>") so every cell is one word;
 *                  an empty cell prints "-".
 *      INT         decimal; a column whose name ends in "_ns" prints as UTC
 *                  time "YYYY-MM-DDTHH:MM:SS.mmmZ" ("-" for 0) and its
 *                  header drops the "_NS" suffix (created_ns -> CREATED).
 *  Human records (status): one line per column, "name  value": names
 *    left-aligned and padded to the longest name, two spaces, the value as
 *    above but spaces are kept (principals "a b" stays "a b").
 *  Human messages (stream read): the header line "SEQ SUBJECT PAYLOAD"
 *    (always, even for no messages), then one line per message:
 *      <seq> <subject> <payload>
 *    single spaces, not aligned (pages arrive one at a time); the payload is
 *    the text when valid UTF-8 without control characters, else "<hex>"; an
 *    empty payload prints "<>". Parse with split(" ", 2); use --json when
 *    payloads may look like "<...>".
 *  Human deliveries (sub, cmd_sub.c): no header; "<subject> <payload>"
 *    (ephemeral) or "<seq> <subject> <payload>" (durable), payload as above.
 *
 *  --json: a table is an array of objects, one per row, keys in column order:
 *      [
 *      {"name":"admin","revoked":0},
 *      {"name":"n1","revoked":1}
 *      ]
 *    ("[]" when empty), one object per line, no other whitespace. A single
 *    record (status, key add, key revoke, bootstrap) is one object on one
 *    line. INT cells are JSON numbers (a cell that is not a decimal integer
 *    becomes a string); list cells (a TEXT column whose name starts with
 *    "allow_", or is filters, consumers, labels, slots, sites or
 *    principals: the broker joins them with single spaces) are arrays of
 *    strings, [] when empty; other TEXT cells are strings; BYTES cells are strings when
 *    valid UTF-8 (PLAN.md; control characters included, escaped), else
 *    {"base64":"..."} (standard alphabet, padded). Strings escape '"', '\'
 *    and control characters (\n \r \t \b \f; other C0, DEL, C1 as \u00XX);
 *    invalid UTF-8 in a TEXT cell becomes U+FFFD, so TEXT is never lossless
 *    for non-UTF-8 (the broker only sends UTF-8 there). stream read --json is
 *    one array over all pages.
 */
#include "ctl.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- errors ------------------------------------------------------------- */

static void
s_error_line(const char *fmt, va_list args)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, args);
    /* One line, always: a reason from the broker or a file must not break
     * the format. */
    for (char *c = line; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    fflush(stdout);
    fprintf(stderr, "foundryctl: %s\n", line);
}

int
fdy_output_fail(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    s_error_line(fmt, args);
    va_end(args);
    return FDY_CTL_EXIT_FAIL;
}

void
fdy_output_note(const char *fmt, ...)
{
    char line[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    fdy_output_fail("note: %s", line);
}

int
fdy_output_usage(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    s_error_line(fmt, args);
    va_end(args);
    return FDY_CTL_EXIT_USAGE;
}

/* ---- text classification ------------------------------------------------ */

/* Length of the valid UTF-8 sequence at text[0..len), and its code point,
 * or 0 when it is not valid (overlong, surrogate, beyond U+10FFFF,
 * truncated). */
static size_t
s_utf8_next(const uint8_t *text, size_t len, uint32_t *cp_out)
{
    uint8_t b0 = text[0];
    size_t need;
    uint32_t cp, min;
    if (b0 < 0x80) {
        *cp_out = b0;
        return 1;
    } else if ((b0 & 0xe0) == 0xc0) {
        need = 2, cp = b0 & 0x1f, min = 0x80;
    } else if ((b0 & 0xf0) == 0xe0) {
        need = 3, cp = b0 & 0x0f, min = 0x800;
    } else if ((b0 & 0xf8) == 0xf0) {
        need = 4, cp = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((text[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (text[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    *cp_out = cp;
    return need;
}

static bool
s_is_control(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/* True when text is valid UTF-8 and, with no_controls, has no control
 * characters (safe to print as one terminal line). */
static bool
s_utf8_valid(const uint8_t *text, size_t len, bool no_controls)
{
    size_t at = 0;
    while (at < len) {
        uint32_t cp;
        size_t step = s_utf8_next(text + at, len - at, &cp);
        if (step == 0 || (no_controls && s_is_control(cp)))
            return false;
        at += step;
    }
    return true;
}

static bool
s_printable(const uint8_t *text, size_t len)
{
    return s_utf8_valid(text, len, true);
}

static size_t
s_code_points(const char *text)
{
    size_t count = 0;
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if ((*c & 0xc0) != 0x80)
            count++;
    return count;
}

static bool
s_json_integer(const uint8_t *text, size_t len)
{
    size_t at = 0;
    if (at < len && text[at] == '-')
        at++;
    if (at == len)
        return false;
    if (text[at] == '0')
        return at + 1 == len;
    for (; at < len; at++)
        if (!isdigit(text[at]))
            return false;
    return len <= 21;
}

foundry_err
fdy_output_parse_u64(const uint8_t *text, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return FOUNDRY_EINVAL;
    uint64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit(text[i]))
            return FOUNDRY_EINVAL;
        unsigned digit = (unsigned) (text[i] - '0');
        if (value > (UINT64_MAX - digit) / 10)
            return FOUNDRY_EINVAL;
        value = value * 10 + digit;
    }
    *out = value;
    return FOUNDRY_OK;
}

/* ---- tables from the wire ----------------------------------------------- */

long
fdy_output_column(const fdy_table_t *table, const char *name)
{
    for (size_t i = 0; i < table->column_count; i++)
        if (table->columns[i] && strcmp(table->columns[i], name) == 0)
            return (long) i;
    return -1;
}

foundry_err
fdy_output_check_table(const fdy_table_t *table, fdy_reason_t *reason)
{
    if (table->column_count == 0)
        return table->row_count == 0
                   ? FOUNDRY_OK
                   : fdy_reason_set(reason, FOUNDRY_EPROTO, "reply table has rows but no columns");
    if (!table->columns || !table->types)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "reply table lacks column names or types");
    if (table->row_count > 0 && !table->cells)
        return fdy_reason_set(reason, FOUNDRY_EPROTO, "reply table lacks cells");
    for (size_t i = 0; i < table->column_count; i++) {
        if (!table->columns[i])
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "reply column %zu has no name", i);
        if (table->types[i] != FDY_COL_TEXT && table->types[i] != FDY_COL_INT &&
            table->types[i] != FDY_COL_BYTES)
            return fdy_reason_set(reason, FOUNDRY_EPROTO, "reply column %s has unknown type %d",
                                  table->columns[i], (int) table->types[i]);
    }
    return FOUNDRY_OK;
}

static const fdy_slice_t *
s_cell(const fdy_table_t *table, size_t row, size_t col)
{
    return &table->cells[row * table->column_count + col];
}

static bool
s_ends_with(const char *text, const char *suffix)
{
    size_t len = strlen(text), slen = strlen(suffix);
    return len >= slen && strcmp(text + len - slen, suffix) == 0;
}

/* ---- human rendering ---------------------------------------------------- */

static void
s_write_hex(FILE *out, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    fputc('<', out);
    for (size_t i = 0; i < len; i++) {
        fputc(digits[data[i] >> 4], out);
        fputc(digits[data[i] & 0x0f], out);
    }
    fputc('>', out);
}

static void
s_write_time(FILE *out, uint64_t ns)
{
    time_t secs = (time_t) (ns / 1000000000u);
    struct tm tm;
    char text[32];
    if (ns == 0 || !gmtime_r(&secs, &tm) ||
        strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        fputs(ns == 0 ? "-" : "?", out);
        return;
    }
    fprintf(out, "%s.%03uZ", text, (unsigned) (ns / 1000000u % 1000u));
}

/* Writes one cell for a human reader. In a table (one_word) runs of spaces
 * become "," so the line splits into exactly one word per column. */
static void
s_write_human_cell(FILE *out, const char *column, fdy_col_type_t type, const fdy_slice_t *cell,
                   bool one_word)
{
    uint64_t ns;
    if (type == FDY_COL_INT && s_ends_with(column, "_ns") &&
        fdy_output_parse_u64(cell->data, cell->len, &ns) == FOUNDRY_OK) {
        s_write_time(out, ns);
        return;
    }
    if (cell->len == 0) {
        fputc('-', out);
        return;
    }
    if (!s_printable(cell->data, cell->len)) {
        s_write_hex(out, cell->data, cell->len);
        return;
    }
    if (!one_word) {
        fwrite(cell->data, 1, cell->len, out);
        return;
    }
    bool in_space = false;
    for (size_t i = 0; i < cell->len; i++) {
        if (cell->data[i] == ' ') {
            in_space = true;
            continue;
        }
        if (in_space)
            fputc(',', out);
        in_space = false;
        fputc(cell->data[i], out);
    }
}

static char *
s_header_name(const char *column, fdy_col_type_t type)
{
    size_t len = strlen(column);
    if (type == FDY_COL_INT && s_ends_with(column, "_ns") && len > 3)
        len -= 3;
    char *name = malloc(len + 1);
    if (!name)
        return NULL;
    for (size_t i = 0; i < len; i++)
        name[i] = (char) toupper((unsigned char) column[i]);
    name[len] = '\0';
    return name;
}

/* Renders one cell to a new string (caller frees), or NULL. */
static char *
s_render_cell(const fdy_table_t *table, size_t row, size_t col)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return NULL;
    s_write_human_cell(mem, table->columns[col], table->types[col], s_cell(table, row, col), true);
    if (fclose(mem) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* Human table of rows [first, first + count). */
static foundry_err
s_human_table(FILE *out, const fdy_table_t *table, size_t first, size_t count)
{
    size_t cols = table->column_count;
    size_t lines = count + 1;
    foundry_err err = FOUNDRY_OK;
    char **text = calloc(cols * lines + 1, sizeof *text);
    size_t *width = calloc(cols + 1, sizeof *width);
    if (!text || !width) {
        err = FOUNDRY_ENOMEM;
        goto out;
    }
    for (size_t col = 0; col < cols; col++) {
        text[col] = s_header_name(table->columns[col], table->types[col]);
        if (!text[col]) {
            err = FOUNDRY_ENOMEM;
            goto out;
        }
        for (size_t row = 0; row < count; row++) {
            text[(row + 1) * cols + col] = s_render_cell(table, first + row, col);
            if (!text[(row + 1) * cols + col]) {
                err = FOUNDRY_ENOMEM;
                goto out;
            }
        }
    }
    for (size_t i = 0; i < cols * lines; i++) {
        size_t w = s_code_points(text[i]);
        if (w > width[i % cols])
            width[i % cols] = w;
    }
    for (size_t line = 0; line < lines; line++) {
        for (size_t col = 0; col < cols; col++) {
            const char *cell = text[line * cols + col];
            fputs(cell, out);
            if (col + 1 < cols)
                fprintf(out, "%*s", (int) (width[col] - s_code_points(cell) + 2), "");
        }
        fputc('\n', out);
    }
out:
    if (text)
        for (size_t i = 0; i < cols * lines; i++)
            free(text[i]);
    free(text);
    free(width);
    return err;
}

static void
s_human_vertical(FILE *out, const fdy_table_t *table, size_t row)
{
    size_t width = 0;
    for (size_t col = 0; col < table->column_count; col++)
        if (strlen(table->columns[col]) > width)
            width = strlen(table->columns[col]);
    for (size_t col = 0; col < table->column_count; col++) {
        fprintf(out, "%-*s  ", (int) width, table->columns[col]);
        s_write_human_cell(out, table->columns[col], table->types[col], s_cell(table, row, col),
                           false);
        fputc('\n', out);
    }
}

/* ---- JSON rendering ----------------------------------------------------- */

static void
s_json_text(FILE *out, const uint8_t *text, size_t len)
{
    fputc('"', out);
    size_t at = 0;
    while (at < len) {
        uint32_t cp;
        size_t step = s_utf8_next(text + at, len - at, &cp);
        if (step == 0) {
            fputs("\\ufffd", out); /* JSON must be UTF-8: one replacement per bad byte */
            at++;
            continue;
        }
        switch (cp) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        default:
            if (s_is_control(cp)) /* C0, DEL and C1: never raw, for terminals' sake */
                fprintf(out, "\\u%04x", (unsigned) cp);
            else
                fwrite(text + at, 1, step, out);
        }
        at += step;
    }
    fputc('"', out);
}

void
fdy_output_json_string(FILE *out, const char *text, size_t len)
{
    s_json_text(out, (const uint8_t *) text, len);
}

static void
s_json_base64(FILE *out, const uint8_t *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputs("{\"base64\":\"", out);
    size_t at = 0;
    for (; at + 3 <= len; at += 3) {
        uint32_t v = (uint32_t) data[at] << 16 | (uint32_t) data[at + 1] << 8 | data[at + 2];
        fputc(alphabet[v >> 18 & 63], out);
        fputc(alphabet[v >> 12 & 63], out);
        fputc(alphabet[v >> 6 & 63], out);
        fputc(alphabet[v & 63], out);
    }
    if (len - at == 1) {
        uint32_t v = (uint32_t) data[at] << 16;
        fputc(alphabet[v >> 18 & 63], out);
        fputc(alphabet[v >> 12 & 63], out);
        fputs("==", out);
    } else if (len - at == 2) {
        uint32_t v = (uint32_t) data[at] << 16 | (uint32_t) data[at + 1] << 8;
        fputc(alphabet[v >> 18 & 63], out);
        fputc(alphabet[v >> 12 & 63], out);
        fputc(alphabet[v >> 6 & 63], out);
        fputc('=', out);
    }
    fputs("\"}", out);
}

/* Columns the broker sends as space-joined lists. By name, since the wire
 * has no list type: a new list column is added here (and in docs/cli.md). */
static bool
s_list_column(const char *name)
{
    static const char *const lists[] = {"filters", "consumers", "labels",
                                        "slots",   "sites",     "principals"};
    if (strncmp(name, "allow_", 6) == 0)
        return true;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (strcmp(name, lists[i]) == 0)
            return true;
    return false;
}

static void
s_json_list(FILE *out, const fdy_slice_t *cell)
{
    fputc('[', out);
    size_t at = 0;
    bool first = true;
    while (at < cell->len) {
        while (at < cell->len && cell->data[at] == ' ')
            at++;
        size_t end = at;
        while (end < cell->len && cell->data[end] != ' ')
            end++;
        if (end > at) {
            if (!first)
                fputc(',', out);
            s_json_text(out, cell->data + at, end - at);
            first = false;
        }
        at = end;
    }
    fputc(']', out);
}

static void
s_json_cell(FILE *out, fdy_col_type_t type, const fdy_slice_t *cell)
{
    if (type == FDY_COL_INT && s_json_integer(cell->data, cell->len))
        fwrite(cell->data, 1, cell->len, out);
    else if (type == FDY_COL_BYTES && !s_utf8_valid(cell->data, cell->len, false))
        s_json_base64(out, cell->data, cell->len);
    else
        s_json_text(out, cell->data, cell->len);
}

void
fdy_output_json_bytes(FILE *out, const uint8_t *data, size_t len)
{
    fdy_slice_t cell = {data, len};
    s_json_cell(out, FDY_COL_BYTES, &cell);
}

/* The members of row's object, without the braces. */
static void s_json_members(FILE *out, const fdy_table_t *table, size_t row);

static void
s_json_object(FILE *out, const fdy_table_t *table, size_t row)
{
    fputc('{', out);
    s_json_members(out, table, row);
    fputc('}', out);
}

static void
s_json_members(FILE *out, const fdy_table_t *table, size_t row)
{
    for (size_t col = 0; col < table->column_count; col++) {
        if (col > 0)
            fputc(',', out);
        s_json_text(out, (const uint8_t *) table->columns[col], strlen(table->columns[col]));
        fputc(':', out);
        if (table->types[col] == FDY_COL_TEXT && s_list_column(table->columns[col]))
            s_json_list(out, s_cell(table, row, col));
        else
            s_json_cell(out, table->types[col], s_cell(table, row, col));
    }
}

/* ---- entry points ------------------------------------------------------- */

foundry_err
fdy_output_table(FILE *out, const fdy_table_t *table, bool json)
{
    if (!json)
        return s_human_table(out, table, 0, table->row_count);
    if (table->row_count == 0) {
        fputs("[]\n", out);
        return FOUNDRY_OK;
    }
    fputs("[\n", out);
    for (size_t row = 0; row < table->row_count; row++) {
        s_json_object(out, table, row);
        fputs(row + 1 < table->row_count ? ",\n" : "\n", out);
    }
    fputs("]\n", out);
    return FOUNDRY_OK;
}

foundry_err
fdy_output_record(FILE *out, const fdy_table_t *table, size_t row, bool vertical, bool json)
{
    if (row >= table->row_count)
        return FOUNDRY_EPROTO;
    if (json) {
        s_json_object(out, table, row);
        fputc('\n', out);
        return FOUNDRY_OK;
    }
    if (vertical) {
        s_human_vertical(out, table, row);
        return FOUNDRY_OK;
    }
    return s_human_table(out, table, row, 1);
}

void
fdy_output_msgs_begin(FILE *out, fdy_output_msgs_t *msgs, bool json)
{
    msgs->json = json;
    msgs->printed = 0; /* decode stays as the caller set it */
    if (!json)
        fputs("SEQ SUBJECT PAYLOAD\n", out);
}

foundry_err
fdy_output_msgs_rows(FILE *out, fdy_output_msgs_t *msgs, const fdy_table_t *table,
                     fdy_reason_t *reason)
{
    if (table->row_count == 0)
        return FOUNDRY_OK;
    long seq = fdy_output_column(table, "seq");
    long subject = fdy_output_column(table, "subject");
    long payload = fdy_output_column(table, "payload");
    if (msgs->json) {
        for (size_t row = 0; row < table->row_count; row++) {
            fputs(msgs->printed++ == 0 ? "[\n" : ",\n", out);
            fputc('{', out);
            s_json_members(out, table, row);
            if (subject >= 0 && payload >= 0) {
                const fdy_slice_t *s = s_cell(table, row, (size_t) subject);
                const fdy_slice_t *d = s_cell(table, row, (size_t) payload);
                fdy_ctl_payload_json_samples(out, (fdy_ctl_decode_t) msgs->decode,
                                             (const char *) s->data, s->len, d->data, d->len);
            }
            fputc('}', out);
        }
        return FOUNDRY_OK;
    }
    if (seq < 0 || subject < 0 || payload < 0)
        return fdy_reason_set(reason, FOUNDRY_EPROTO,
                              "the broker's stream.read reply lacks seq, subject or payload");
    for (size_t row = 0; row < table->row_count; row++) {
        const fdy_slice_t *cell = s_cell(table, row, (size_t) seq);
        fwrite(cell->data, 1, cell->len, out);
        fputc(' ', out);
        cell = s_cell(table, row, (size_t) subject);
        fwrite(cell->data, 1, cell->len, out);
        fputc(' ', out);
        const fdy_slice_t *subject_cell = cell;
        cell = s_cell(table, row, (size_t) payload);
        fdy_ctl_payload_human(out, (fdy_ctl_decode_t) msgs->decode,
                              (const char *) subject_cell->data, subject_cell->len, cell->data,
                              cell->len);
        fputc('\n', out);
        msgs->printed++;
    }
    return FOUNDRY_OK;
}

void
fdy_output_payload(FILE *out, const uint8_t *data, size_t len)
{
    if (len > 0 && s_printable(data, len))
        fwrite(data, 1, len, out);
    else
        s_write_hex(out, data, len);
}

void
fdy_output_msgs_end(FILE *out, fdy_output_msgs_t *msgs)
{
    if (!msgs->json)
        return;
    fputs(msgs->printed == 0 ? "[]\n" : "\n]\n", out);
}
