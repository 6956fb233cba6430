/*  audit_entry.c: making audit entry texts safe to store and show (UTF-8
 *  cut at a character, control bytes replaced, secrets elided from admin
 *  args), the names of kinds and results, and an entry as table cells.
 *  Not for storing entries (store_audit.c) or deciding what is audited.
 */
#include "audit_entry.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---- text ------------------------------------------------------------------ */

/* Length of the valid UTF-8 character at s (n bytes left), or 0. */
static size_t
s_utf8_char(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len = c >= 0xC2 && c <= 0xDF   ? 2
                 : c >= 0xE0 && c <= 0xEF ? 3
                 : c >= 0xF0 && c <= 0xF4 ? 4
                                          : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    /* overlong forms, surrogates, past U+10FFFF */
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) || (c == 0xF0 && s[1] < 0x90) ||
        (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return len;
}

void
fdy_audit_entry_text(char *out, size_t size, const char *text)
{
    if (size == 0)
        return;
    if (!text)
        text = "";
    /* Writes never pass reads, so out may be text (in place). */
    const unsigned char *in = (const unsigned char *) text;
    size_t len = strlen(text);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = s_utf8_char(in + i, len - i);
        bool bad = n == 0 || (n == 1 && (in[i] < 0x20 || in[i] == 0x7F));
        size_t emit = bad ? 1 : n;
        if (o + emit > size - 1)
            break;
        if (bad)
            out[o] = '?';
        else
            memmove(out + o, in + i, n);
        o += emit;
        i += n ? n : 1;
    }
    out[o] = '\0';
}

static bool
s_contains_ci(const char *text, size_t len, const char *word)
{
    size_t n = strlen(word);
    for (size_t at = 0; at + n <= len; at++) {
        size_t i = 0;
        while (i < n && (text[at + i] | 0x20) == word[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static bool
s_secret_name(const char *name, size_t len)
{
    static const char *const words[] = {
        "secret", "password", "passwd", "passphrase", "token", "private", "credential",
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (s_contains_ci(name, len, words[i]))
            return true;
    return false;
}

/* A CURVE key in Z85 (40 characters) or 32 bytes in hex: a public key
 * looks the same as a secret one, so only "key" may carry one. */
static bool
s_key_material(const char *value)
{
    static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              ".-:+=^!/*?&<>()[]{}@%$#";
    size_t len = strlen(value);
    if (len == FDY_Z85_KEY_LEN && strspn(value, z85) == len)
        return true;
    return len == 2 * FDY_AUDIT_HASH_LEN && strspn(value, "0123456789abcdefABCDEF") == len;
}

typedef struct {
    char *out;
    size_t cap; /* bytes for text, without the NUL */
    size_t len;
    bool cut;
} s_join_t;

static void
s_join_put(s_join_t *j, const char *text, size_t len)
{
    if (j->cut)
        return;
    if (len > j->cap - j->len) {
        len = j->cap - j->len;
        j->cut = true;
    }
    memcpy(j->out + j->len, text, len);
    j->len += len;
}

void
fdy_audit_entry_join_args(char *out, size_t size, const char *const *args, size_t count)
{
    if (size == 0)
        return;
    s_join_t j = {out, size - 1, 0, false};
    for (size_t i = 0; i < count && args && args[i]; i++) {
        const char *arg = args[i];
        const char *eq = strchr(arg, '=');
        if (i > 0)
            s_join_put(&j, " ", 1);
        if (!eq) {
            bool secret = s_secret_name(arg, strlen(arg)) || s_key_material(arg);
            const char *shown = secret ? FDY_AUDIT_ELIDED : arg;
            s_join_put(&j, shown, strlen(shown));
            continue;
        }
        size_t name_len = (size_t) (eq - arg);
        const char *value = eq + 1;
        bool public_key = name_len == 3 && memcmp(arg, "key", 3) == 0;
        bool secret = s_secret_name(arg, name_len) ||
                      s_contains_ci(value, strlen(value), "secret") ||
                      (!public_key && s_key_material(value));
        const char *shown = secret ? FDY_AUDIT_ELIDED : value;
        s_join_put(&j, arg, name_len + 1);
        s_join_put(&j, shown, strlen(shown));
    }
    if (j.cut && j.cap >= 3)
        memcpy(out + j.cap - 3, "...", 3);
    out[j.len] = '\0';
    fdy_audit_entry_text(out, size, out); /* a cut may have split a character */
}

const char *
fdy_audit_entry_kind_name(fdy_audit_kind_t kind)
{
    switch (kind) {
    case FDY_AUDIT_ADMIN: return "admin";
    case FDY_AUDIT_AUTH_REFUSED: return "auth-refused";
    case FDY_AUDIT_SUPPRESSED: return "suppressed";
    case FDY_AUDIT_TRIM: return "trim";
    case FDY_AUDIT_DAMAGED: return "damaged";
    }
    return "unknown";
}

const char *
fdy_audit_entry_result_name(foundry_err result)
{
    static const char *const names[] = {
        "OK",      "ENOMEM",    "EINVAL",   "EPROTO",   "ETOOBIG",   "EAUTH",
        "EDENIED", "EFULL",     "ESTORE",   "EVERSION", "ENOSTREAM", "ETIMEDOUT",
        "ECLOSED", "ENOTFOUND", "ECORRUPT", "EIO",      "EEXIST",    "EKIND",
    };
    if ((unsigned) result < sizeof names / sizeof names[0])
        return names[result];
    return "E?";
}

/* ---- as a table row ------------------------------------------------------------------------ */

const char *const fdy_audit_entry_columns[FDY_AUDIT_COLUMNS] = {
    "seq",     "time_ns", "kind",   "principal",   "key",    "peer",
    "command", "args",    "result", "result_code", "reason",
};
const fdy_col_type_t fdy_audit_entry_types[FDY_AUDIT_COLUMNS] = {
    FDY_COL_INT,  FDY_COL_INT,  FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT,
    FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_TEXT, FDY_COL_INT,  FDY_COL_TEXT,
};

static fdy_slice_t
s_slice(const char *text)
{
    return (fdy_slice_t){.data = (const uint8_t *) text, .len = strlen(text)};
}

void
fdy_audit_entry_row(const fdy_audit_entry_t *entry, fdy_audit_row_text_t *text, fdy_slice_t *cells)
{
    snprintf(text->seq, sizeof text->seq, "%" PRIu64, entry->seq);
    snprintf(text->time_ns, sizeof text->time_ns, "%" PRIu64, entry->time_ns);
    snprintf(text->result_code, sizeof text->result_code, "%d", (int) entry->result);
    cells[0] = s_slice(text->seq);
    cells[1] = s_slice(text->time_ns);
    cells[2] = s_slice(fdy_audit_entry_kind_name(entry->kind));
    cells[3] = s_slice(entry->principal);
    cells[4] = s_slice(entry->key);
    cells[5] = s_slice(entry->peer);
    cells[6] = s_slice(entry->command);
    cells[7] = s_slice(entry->args);
    cells[8] = s_slice(fdy_audit_entry_result_name(entry->result));
    cells[9] = s_slice(text->result_code);
    cells[10] = s_slice(entry->reason);
}
