/*  subject.c: validation of subjects, filters and site ids, and filter
 *  matching. Runs once or more per message, so it scans each string once,
 *  never allocates and never copies. It does not know about streams or
 *  ACLs; those call fdy_subject_matches() with their own filters (the site
 *  rule knows only the length of the stream name a site becomes).
 */
#include "subject.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* 1 for the bytes a token may hold: [A-Za-z0-9_-]. A table, because a
 * per-byte range test chain is the hot path of every publish. */
static const unsigned char s_token_char[256] = {
    ['-'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1,
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1,
    ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* Describes one byte for a reason: printable bytes quoted, others in hex,
 * so a control character or UTF-8 byte never garbles a log line. */
static const char *
s_describe_byte(unsigned char byte, char buf[8])
{
    if (byte > 0x20 && byte < 0x7f)
        snprintf(buf, 8, "'%c'", byte);
    else
        snprintf(buf, 8, "0x%02x", byte);
    return buf;
}

/* The grammar shared by subjects (wildcards false) and filters. */
static foundry_err
s_validate(const char *text, bool wildcards, fdy_reason_t *reason)
{
    const char *what = wildcards ? "filter" : "subject";
    if (!text)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is missing", what);
    if (text[0] == '\0')
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is empty", what);

    const unsigned char *start = (const unsigned char *) text;
    const unsigned char *token = start;
    const unsigned char *p = start;
    unsigned tokens = 1;
    for (;; p++) {
        size_t offset = (size_t) (p - start);
        if (offset > FOUNDRY_SUBJECT_MAX)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s is longer than %d bytes", what,
                                  FOUNDRY_SUBJECT_MAX);
        if (s_token_char[*p])
            continue;
        if (*p == '.' || *p == '\0') {
            size_t token_len = (size_t) (p - token);
            if (token_len == 0)
                return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                      "%s token %u is empty (byte %zu): leading, trailing or "
                                      "double '.'",
                                      what, tokens, offset);
            if (*p == '\0')
                return FOUNDRY_OK;
            if (wildcards && token_len == 1 && *token == '>')
                return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                      "filter token %u: '>' is only allowed as the last token",
                                      tokens);
            if (++tokens > FDY_SUBJECT_TOKENS_MAX)
                return fdy_reason_set(reason, FOUNDRY_EINVAL, "%s has more than %d tokens", what,
                                      FDY_SUBJECT_TOKENS_MAX);
            token = p + 1;
            continue;
        }
        char byte[8];
        if (wildcards && (*p == '*' || *p == '>')) {
            /* A wildcard must be the whole token. */
            if (p == token && (p[1] == '.' || p[1] == '\0'))
                continue;
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "filter token %u: '%c' must be a whole token (byte %zu)", tokens,
                                  *p, offset);
        }
        if (*p == '*' || *p == '>')
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "subject token %u: wildcard '%c' is only allowed in filters "
                                  "(byte %zu)",
                                  tokens, *p, offset);
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "%s token %u: invalid character %s at byte %zu (allowed: "
                              "A-Z a-z 0-9 _ -)",
                              what, tokens, s_describe_byte(*p, byte), offset);
    }
}

foundry_err
fdy_subject_validate(const char *subject, fdy_reason_t *reason)
{
    return s_validate(subject, false, reason);
}

foundry_err
fdy_filter_validate(const char *filter, fdy_reason_t *reason)
{
    return s_validate(filter, true, reason);
}

/* The site rule, spelled once so every refusal states it the same way. */
#define SITE_RULE "a site id is one subject token, 1..%d bytes of A-Z a-z 0-9 _ -"

foundry_err
fdy_site_validate(const char *site, fdy_reason_t *reason)
{
    if (!site || !*site)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "site id is empty; " SITE_RULE, FDY_SITE_MAX);
    /* The id as shown in the reason: cut to what fits in a stream name
     * (and one more byte) and printable, so a stray control byte in a
     * config file cannot garble the terminal or the journal. */
    char shown[FDY_SITE_MAX + 2];
    size_t len = 0;
    size_t bad = SIZE_MAX;
    for (; site[len] && len <= (size_t) FDY_SITE_MAX; len++) {
        unsigned char byte = (unsigned char) site[len];
        shown[len] = byte > 0x20 && byte < 0x7f ? (char) byte : '?';
        if (!s_token_char[byte] && bad == SIZE_MAX)
            bad = len;
    }
    shown[len] = '\0';
    if (bad != SIZE_MAX) {
        char byte[8];
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "site '%s': invalid character %s at byte %zu; " SITE_RULE, shown,
                              s_describe_byte((unsigned char) site[bad], byte), bad, FDY_SITE_MAX);
    }
    if (len > (size_t) FDY_SITE_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "site '%s...' is too long: stream " FDY_SITE_STREAM_PREFIX
                              "<site> must fit %d bytes; " SITE_RULE,
                              shown, FOUNDRY_STREAM_NAME_MAX, FDY_SITE_MAX);
    return FOUNDRY_OK;
}

bool
fdy_subject_matches(const char *filter, const char *subject)
{
    const char *f = filter;
    const char *s = subject;
    for (;;) {
        if (f[0] == '>' && f[1] == '\0')
            return *s != '\0'; /* one or more remaining tokens */
        if (*s == '\0')
            return false; /* filter has tokens left, subject none */
        if (f[0] == '*' && (f[1] == '.' || f[1] == '\0')) {
            f++;
            while (*s != '.' && *s != '\0')
                s++;
        } else {
            while (*f == *s && *f != '.' && *f != '\0') {
                f++;
                s++;
            }
            /* Equal tokens end together; anything else is a mismatch. */
            if (!((*f == '.' || *f == '\0') && (*s == '.' || *s == '\0')))
                return false;
        }
        if (*f == '\0' || *s == '\0')
            return *f == '\0' && *s == '\0';
        f++; /* both are at '.' */
        s++;
    }
}
