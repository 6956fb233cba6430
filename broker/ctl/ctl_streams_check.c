/*  ctl_streams_check.c: which existing stream captures a subject filter,
 *  for the typo checks of stream add (a stream wholly shadowed by an
 *  earlier one gets nothing: a subject goes to the first stream, by
 *  creation order, that matches) and key add (publish rights nothing
 *  captures). Reads stream.ls; changes nothing.
 */
#include "ctl.h"

#include <stdlib.h>
#include <string.h>

/* Length of the token at text (up to '.' or the end). */
static size_t
s_token(const char *text)
{
    const char *dot = strchr(text, '.');
    return dot ? (size_t) (dot - text) : strlen(text);
}

bool
fdy_ctl_filter_covers(const char *outer, const char *inner)
{
    for (;;) {
        size_t outer_len = s_token(outer), inner_len = s_token(inner);
        if (outer_len == 1 && outer[0] == '>')
            return true; /* the rest of inner, one token or more */
        if (inner_len == 1 && inner[0] == '>')
            return false; /* inner reaches further than a token of outer */
        bool star = outer_len == 1 && outer[0] == '*';
        if (!star && (outer_len != inner_len || memcmp(outer, inner, outer_len) != 0))
            return false;
        if (inner_len == 1 && inner[0] == '*' && !star)
            return false;
        bool outer_end = outer[outer_len] == '\0', inner_end = inner[inner_len] == '\0';
        if (outer_end || inner_end)
            return outer_end && inner_end;
        outer += outer_len + 1;
        inner += inner_len + 1;
    }
}

/* Copies a cell into a NUL-ended buffer. */
static void
s_cell_text(const fdy_slice_t *cell, char *out, size_t size)
{
    size_t len = cell->len < size - 1 ? cell->len : size - 1;
    memcpy(out, cell->data, len);
    out[len] = '\0';
}

int
fdy_ctl_streams_capturing(fdy_ctl_conn_t *conn, const char *filter, char *stream_out,
                          size_t stream_size, char *filter_out, size_t filter_size, bool *found)
{
    *found = false;
    fdy_table_t table;
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_ctl_conn_admin(conn, "stream.ls", NULL, 0, &table, &reason);
    if (err != FOUNDRY_OK)
        return fdy_ctl_conn_report(conn, err, &reason);
    long name_col = fdy_output_column(&table, "name");
    long filters_col = fdy_output_column(&table, "filters");
    if (name_col < 0 || filters_col < 0)
        return fdy_output_fail("stream.ls reply has no name or filters column");
    for (size_t row = 0; row < table.row_count && !*found; row++) {
        char filters[4096];
        s_cell_text(&table.cells[row * table.column_count + (size_t) filters_col], filters,
                    sizeof filters);
        char *save = NULL;
        for (char *f = strtok_r(filters, " ", &save); f; f = strtok_r(NULL, " ", &save)) {
            if (!fdy_ctl_filter_covers(f, filter))
                continue;
            s_cell_text(&table.cells[row * table.column_count + (size_t) name_col], stream_out,
                        stream_size);
            snprintf(filter_out, filter_size, "%s", f);
            *found = true;
            break;
        }
    }
    return FDY_CTL_EXIT_OK;
}
