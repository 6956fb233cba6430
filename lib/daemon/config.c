/*  config.c: the table-driven `key = value` parser behind every binary's
 *  configuration (config.h). It parses and checks values and writes them
 *  into the caller's struct at each option's offset; what the options mean
 *  is the business of the binary that owns the table.
 *
 *  Value syntax, chosen here and printed by fdy_config_print():
 *  - sizes: a byte count with an optional binary unit B, KiB, MiB, GiB, TiB
 *    (powers of 1024, any letter case). KB/MB/GB/K/M/G are refused as
 *    ambiguous (1000 or 1024?), with a message saying what to write.
 *  - durations: a number with a unit ms, s, m, h or d; a bare number is
 *    refused (is "30" seconds or ms?) except 0.
 *  - bool: true/false, yes/no, on/off, 1/0 (any letter case).
 *  - endpoints: tcp://host:port (port 1-65535 or '*'), ipc://path, inproc://name.
 *  - a value may be wrapped in double quotes, inside which \" and \\ are
 *    escapes. In an unquoted value, '#' after whitespace starts a comment.
 *  - a key given twice in one file is an error (the second would silently
 *    win otherwise).
 *  - bounds: min 0 is no lower bound, max 0 no upper bound.
 */
#include "config.h"

#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *
s_type_name(fdy_opt_type_t type)
{
    switch (type) {
    case FDY_OPT_STRING: return "string";
    case FDY_OPT_ENDPOINT: return "endpoint";
    case FDY_OPT_PATH: return "path";
    case FDY_OPT_UINT: return "integer";
    case FDY_OPT_SIZE: return "size";
    case FDY_OPT_DURATION: return "duration";
    case FDY_OPT_BOOL: return "bool";
    case FDY_OPT_LOGLEVEL: return "log level";
    case FDY_OPT_LOGFORMAT: return "log format";
    }
    return "?";
}

/* Parses leading decimal digits of text into *value; *end after them.
 * Returns false on no digits or overflow. */
static bool
s_parse_digits(const char *text, uint64_t *value, const char **end, bool *overflow)
{
    uint64_t result = 0;
    const char *p = text;
    *overflow = false;
    while (*p >= '0' && *p <= '9') {
        unsigned digit = (unsigned) (*p - '0');
        if (result > (UINT64_MAX - digit) / 10)
            *overflow = true;
        else
            result = result * 10 + digit;
        p++;
    }
    *value = result;
    *end = p;
    return p != text && !*overflow;
}

foundry_err
fdy_config_parse_uint(const char *text, uint64_t *value_out, fdy_reason_t *reason)
{
    uint64_t value;
    const char *end;
    bool overflow;
    if (!s_parse_digits(text, &value, &end, &overflow) || *end != '\0') {
        if (overflow)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "'%s' is too large", text);
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "'%s' is not a whole number", text);
    }
    *value_out = value;
    return FOUNDRY_OK;
}

foundry_err
fdy_config_parse_size(const char *text, uint64_t *bytes_out, fdy_reason_t *reason)
{
    static const struct {
        const char *unit;
        unsigned shift;
    } units[] = {{"", 0}, {"b", 0}, {"kib", 10}, {"mib", 20}, {"gib", 30}, {"tib", 40}};
    static const char *const ambiguous[] = {"k", "kb", "m", "mb", "g", "gb", "t", "tb"};

    uint64_t value;
    const char *unit;
    bool overflow;
    if (!s_parse_digits(text, &value, &unit, &overflow)) {
        if (overflow)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "size '%s' is too large", text);
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "'%s' is not a size (examples: 512, 64KiB, 64MiB, 2GiB)", text);
    }
    while (*unit == ' ' || *unit == '\t')
        unit++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(unit, units[i].unit) != 0)
            continue;
        if (units[i].shift && value > (UINT64_MAX >> units[i].shift))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "size '%s' is too large", text);
        *bytes_out = value << units[i].shift;
        return FOUNDRY_OK;
    }
    for (size_t i = 0; i < sizeof ambiguous / sizeof ambiguous[0]; i++) {
        if (strcasecmp(unit, ambiguous[i]) == 0)
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "size unit '%s' is ambiguous: write %ciB (powers of 1024) "
                                  "or the byte count",
                                  unit, toupper((unsigned char) unit[0]));
    }
    return fdy_reason_set(reason, FOUNDRY_EINVAL,
                          "unknown size unit '%s' in '%s' (use B, KiB, MiB, GiB or TiB)", unit,
                          text);
}

foundry_err
fdy_config_parse_duration(const char *text, uint64_t *ms_out, fdy_reason_t *reason)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};

    uint64_t value;
    const char *unit;
    bool overflow;
    if (!s_parse_digits(text, &value, &unit, &overflow)) {
        if (overflow)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "duration '%s' is too large", text);
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "'%s' is not a duration (examples: 250ms, 30s, 2m, 1h)", text);
    }
    while (*unit == ' ' || *unit == '\t')
        unit++;
    if (*unit == '\0') {
        if (value == 0) {
            *ms_out = 0;
            return FOUNDRY_OK;
        }
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "duration '%s' needs a unit: ms, s, m, h or d", text);
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].unit) != 0)
            continue;
        if (value > UINT64_MAX / units[i].ms)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "duration '%s' is too large", text);
        *ms_out = value * units[i].ms;
        return FOUNDRY_OK;
    }
    return fdy_reason_set(reason, FOUNDRY_EINVAL,
                          "unknown duration unit '%s' in '%s' (use ms, s, m, h or d)", unit, text);
}

static foundry_err
s_parse_bool(const char *text, bool *out, fdy_reason_t *why)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return FOUNDRY_OK;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return FOUNDRY_OK;
        }
    }
    return fdy_reason_set(why, FOUNDRY_EINVAL,
                          "'%s' is not a bool (true/false, yes/no, on/off, 1/0)", text);
}

static bool
s_has_space_or_control(const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return true;
    return false;
}

/* Checks the shape of an endpoint; whether it binds or resolves is found
 * out when it is used, where the zmq error can be reported. */
static foundry_err
s_check_endpoint(const char *text, fdy_reason_t *why)
{
    if (s_has_space_or_control(text))
        return fdy_reason_set(why, FOUNDRY_EINVAL, "endpoint '%s' contains whitespace", text);
    if (strncmp(text, "ipc://", 6) == 0 || strncmp(text, "inproc://", 9) == 0) {
        const char *rest = strstr(text, "://") + 3;
        if (*rest == '\0')
            return fdy_reason_set(why, FOUNDRY_EINVAL, "endpoint '%s' has no %s", text,
                                  text[0] == 'i' && text[1] == 'p' ? "path" : "name");
        return FOUNDRY_OK;
    }
    if (strncmp(text, "tcp://", 6) != 0)
        return fdy_reason_set(why, FOUNDRY_EINVAL,
                              "endpoint '%s': use tcp://host:port, ipc://path or inproc://name",
                              text);
    const char *host = text + 6;
    const char *colon = strrchr(host, ':');
    if (!colon || colon == host)
        return fdy_reason_set(why, FOUNDRY_EINVAL, "endpoint '%s': expected tcp://host:port", text);
    size_t host_len = (size_t) (colon - host);
    if (host[0] == '[' ? host[host_len - 1] != ']' || host_len < 3
                       : memchr(host, ':', host_len) != NULL)
        return fdy_reason_set(why, FOUNDRY_EINVAL,
                              "endpoint '%s': write an IPv6 host in brackets, [::1]:port", text);
    const char *port = colon + 1;
    if (strcmp(port, "*") == 0)
        return FOUNDRY_OK;
    uint64_t number;
    const char *end;
    bool overflow;
    if (!s_parse_digits(port, &number, &end, &overflow) || *end != '\0' || number < 1 ||
        number > 65535)
        return fdy_reason_set(why, FOUNDRY_EINVAL, "endpoint '%s': port must be 1-65535 or '*'",
                              text);
    return FOUNDRY_OK;
}

/* Formats a byte count exactly, in the largest binary unit that divides it. */
static void
s_format_size(uint64_t bytes, char *out, size_t size)
{
    static const char *const units[] = {"TiB", "GiB", "MiB", "KiB"};
    static const unsigned shifts[] = {40, 30, 20, 10};
    for (size_t i = 0; i < 4; i++) {
        uint64_t unit = (uint64_t) 1 << shifts[i];
        if (bytes >= unit && bytes % unit == 0) {
            snprintf(out, size, "%" PRIu64 "%s", bytes / unit, units[i]);
            return;
        }
    }
    snprintf(out, size, "%" PRIu64, bytes);
}

static void
s_format_duration(uint64_t ms, char *out, size_t size)
{
    static const char *const units[] = {"d", "h", "m", "s"};
    static const uint64_t lengths[] = {86400000, 3600000, 60000, 1000};
    for (size_t i = 0; i < 4; i++) {
        if (ms >= lengths[i] && ms % lengths[i] == 0) {
            snprintf(out, size, "%" PRIu64 "%s", ms / lengths[i], units[i]);
            return;
        }
    }
    snprintf(out, size, "%" PRIu64 "ms", ms);
}

static void
s_format_number(const fdy_option_t *opt, uint64_t value, char *out, size_t size)
{
    if (opt->type == FDY_OPT_SIZE)
        s_format_size(value, out, size);
    else if (opt->type == FDY_OPT_DURATION)
        s_format_duration(value, out, size);
    else
        snprintf(out, size, "%" PRIu64, value);
}

static bool
s_bounded(const fdy_option_t *opt)
{
    return opt->min != 0 || opt->max != 0;
}

/* max 0 means no upper bound even when min is set: [min, 0] would admit
 * nothing, which no table means. */
static uint64_t
s_max(const fdy_option_t *opt)
{
    return opt->max ? opt->max : UINT64_MAX;
}

/* Parses value for opt and stores it in cfg. On error, why says why
 * (without the option name) and cfg is unchanged. */
static foundry_err
s_apply(const fdy_option_t *opt, void *cfg, const char *value, fdy_reason_t *why)
{
    void *field = (char *) cfg + opt->offset;
    foundry_err err = FOUNDRY_OK;
    switch (opt->type) {
    case FDY_OPT_ENDPOINT: err = s_check_endpoint(value, why); break;
    case FDY_OPT_PATH:
        if (value[0] == '\0')
            err = fdy_reason_set(why, FOUNDRY_EINVAL, "path is empty");
        else if (strchr(value, '\n') || strchr(value, '\r'))
            err = fdy_reason_set(why, FOUNDRY_EINVAL, "path contains a line break");
        break;
    case FDY_OPT_STRING: break;
    case FDY_OPT_UINT:
    case FDY_OPT_SIZE:
    case FDY_OPT_DURATION: {
        uint64_t number = 0;
        if (opt->type == FDY_OPT_UINT)
            err = fdy_config_parse_uint(value, &number, why);
        else if (opt->type == FDY_OPT_SIZE)
            err = fdy_config_parse_size(value, &number, why);
        else
            err = fdy_config_parse_duration(value, &number, why);
        if (err != FOUNDRY_OK)
            return err;
        char limit[32];
        if (number < opt->min) {
            s_format_number(opt, opt->min, limit, sizeof limit);
            return fdy_reason_set(why, FOUNDRY_EINVAL, "%s is below the minimum %s", value, limit);
        }
        if (number > s_max(opt)) {
            s_format_number(opt, opt->max, limit, sizeof limit);
            return fdy_reason_set(why, FOUNDRY_EINVAL, "%s is above the maximum %s", value, limit);
        }
        *(uint64_t *) field = number;
        return FOUNDRY_OK;
    }
    case FDY_OPT_BOOL: return s_parse_bool(value, (bool *) field, why);
    case FDY_OPT_LOGLEVEL: {
        int level;
        if (fdy_log_level_parse(value, &level) != FOUNDRY_OK)
            return fdy_reason_set(why, FOUNDRY_EINVAL,
                                  "'%s' is not a log level (err, warn, notice, info, debug)",
                                  value);
        *(int *) field = level;
        return FOUNDRY_OK;
    }
    case FDY_OPT_LOGFORMAT:
        if (fdy_log_format_parse(value, (int *) field) != FOUNDRY_OK)
            return fdy_reason_set(why, FOUNDRY_EINVAL, "'%s' is not a log format (text, json)",
                                  value);
        return FOUNDRY_OK;
    default:
        return fdy_reason_set(why, FOUNDRY_EINVAL, "option has an unknown type %d",
                              (int) opt->type);
    }
    if (err != FOUNDRY_OK)
        return err;
    char *copy = strdup(value);
    if (!copy)
        return fdy_reason_set(why, FOUNDRY_ENOMEM, "out of memory");
    free(*(char **) field);
    *(char **) field = copy;
    return FOUNDRY_OK;
}

static const fdy_option_t *
s_find(const fdy_option_t *opts, size_t count, const char *key)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(opts[i].key, key) == 0)
            return &opts[i];
    return NULL;
}

foundry_err
fdy_config_defaults(const fdy_option_t *opts, size_t count, void *cfg, fdy_reason_t *reason)
{
    for (size_t i = 0; i < count; i++) {
        if (!opts[i].default_value)
            continue;
        fdy_reason_t why;
        foundry_err err = s_apply(&opts[i], cfg, opts[i].default_value, &why);
        if (err != FOUNDRY_OK)
            return fdy_reason_set(reason, err, "option '%s': default: %s", opts[i].key, why.text);
    }
    return FOUNDRY_OK;
}

foundry_err
fdy_config_set(const fdy_option_t *opts, size_t count, void *cfg, const char *key,
               const char *value, fdy_reason_t *reason)
{
    const fdy_option_t *opt = s_find(opts, count, key);
    if (!opt)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown option '%s'", key);
    if (!value)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "option '%s': no value", key);
    fdy_reason_t why;
    foundry_err err = s_apply(opt, cfg, value, &why);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "option '%s': %s", key, why.text);
    return FOUNDRY_OK;
}

static char *
s_trim(char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r'))
        text[--len] = '\0';
    return text;
}

static bool
s_key_valid(const char *key)
{
    if (*key == '\0')
        return false;
    for (; *key; key++)
        if (!isalnum((unsigned char) *key) && *key != '_' && *key != '-' && *key != '.')
            return false;
    return true;
}

/* Turns the raw text after '=' into the value, in place: strips a trailing
 * comment, or unquotes. Returns NULL with why on a malformed value. */
static char *
s_unquote(char *raw, fdy_reason_t *why)
{
    char *value = s_trim(raw);
    if (*value != '"') {
        for (char *p = value; *p; p++) {
            if (*p == '#' && p > value && (p[-1] == ' ' || p[-1] == '\t')) {
                *p = '\0';
                return s_trim(value);
            }
        }
        return value;
    }
    char *out = value;
    char *p = value + 1;
    for (;; p++) {
        if (*p == '\0') {
            fdy_reason_set(why, FOUNDRY_EINVAL, "missing closing '\"'");
            return NULL;
        }
        if (*p == '"')
            break;
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        *out++ = *p;
    }
    p = s_trim(p + 1);
    if (*p != '\0' && *p != '#') {
        fdy_reason_set(why, FOUNDRY_EINVAL, "unexpected text after the closing '\"'");
        return NULL;
    }
    *out = '\0';
    return value;
}

foundry_err
fdy_config_load_file(const fdy_option_t *opts, size_t count, void *cfg, const char *path,
                     fdy_reason_t *reason)
{
    FILE *file = fopen(path, "r");
    if (!file)
        return fdy_reason_set(reason, FOUNDRY_EIO, "cannot open %s: %s", path, strerror(errno));
    foundry_err err = FOUNDRY_OK;
    char *line = NULL;
    size_t line_size = 0;
    /* The line each option was set on, to refuse a second setting. */
    unsigned *set_on = calloc(count ? count : 1, sizeof *set_on);
    if (!set_on) {
        err = fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    unsigned lineno = 0;
    ssize_t len;
    errno = 0; /* getline() sets it only on failure */
    while ((len = getline(&line, &line_size, file)) >= 0) {
        lineno++;
        if ((size_t) len != strlen(line)) {
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: line contains a NUL byte", path,
                                 lineno);
            goto out;
        }
        char *text = line;
        if (lineno == 1 && strncmp(text, "\xef\xbb\xbf", 3) == 0)
            text += 3; /* UTF-8 byte order mark from some editors */
        text[strcspn(text, "\n")] = '\0';
        text = s_trim(text);
        if (*text == '\0' || *text == '#')
            continue;
        char *equals = strchr(text, '=');
        if (equals)
            *equals = '\0';
        char *key = s_trim(text);
        if (!equals || !s_key_valid(key)) {
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: expected 'key = value'", path,
                                 lineno);
            goto out;
        }
        const fdy_option_t *opt = s_find(opts, count, key);
        if (!opt) {
            err = fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: unknown option '%s'", path, lineno,
                                 key);
            goto out;
        }
        size_t index = (size_t) (opt - opts);
        fdy_reason_t why;
        if (set_on[index]) {
            err =
                fdy_reason_set(reason, FOUNDRY_EINVAL, "%s:%u: option '%s': already set on line %u",
                               path, lineno, key, set_on[index]);
            goto out;
        }
        set_on[index] = lineno;
        char *value = s_unquote(equals + 1, &why);
        err = value ? s_apply(opt, cfg, value, &why) : FOUNDRY_EINVAL;
        if (err != FOUNDRY_OK) {
            err =
                fdy_reason_set(reason, err, "%s:%u: option '%s': %s", path, lineno, key, why.text);
            goto out;
        }
    }
    if (ferror(file))
        err = fdy_reason_set(reason, FOUNDRY_EIO, "cannot read %s: %s", path,
                             strerror(errno ? errno : EIO));
out:
    free(set_on);
    free(line);
    fclose(file);
    return err;
}

/* Writes value so the parser reads it back unchanged: quoted and escaped
 * when it is empty, has outer whitespace, or holds '#', '"' or '\'. */
static void
s_print_value(const char *value, FILE *out)
{
    size_t len = strlen(value);
    bool quote = len == 0 || value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' ||
                 value[len - 1] == '\t' || strpbrk(value, "#\"\\");
    if (!quote) {
        fputs(value, out);
        return;
    }
    fputc('"', out);
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            fputc('\\', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

void
fdy_config_print(const fdy_option_t *opts, size_t count, FILE *out)
{
    fputs("# Every option with its default. Format: key = value; '#' starts a comment.\n"
          "# Sizes: bytes or B, KiB, MiB, GiB, TiB (powers of 1024; KB/MB/GB are refused).\n"
          "# Durations need a unit: ms, s, m, h, d (e.g. 250ms, 30s, 2m, 1h).\n"
          "# Bools: true/false, yes/no, on/off, 1/0. Quote a value with \"...\" to keep a\n"
          "# '#' or outer spaces; inside quotes \\\" and \\\\ are escapes.\n",
          out);
    for (size_t i = 0; i < count; i++) {
        const fdy_option_t *opt = &opts[i];
        fputc('\n', out);
        if (opt->help)
            fprintf(out, "# %s\n", opt->help);
        fprintf(out, "# type: %s", s_type_name(opt->type));
        if (s_bounded(opt) && (opt->type == FDY_OPT_UINT || opt->type == FDY_OPT_SIZE ||
                               opt->type == FDY_OPT_DURATION)) {
            char low[32], high[32];
            s_format_number(opt, opt->min, low, sizeof low);
            s_format_number(opt, opt->max, high, sizeof high);
            if (opt->max)
                fprintf(out, ", range %s to %s", low, high);
            else
                fprintf(out, ", at least %s", low);
        }
        fprintf(out, "; %s\n",
                (opt->flags & FDY_OPT_RELOAD) ? "may change on reload" : "needs a restart");
        if (opt->default_value) {
            fprintf(out, "%s = ", opt->key);
            s_print_value(opt->default_value, out);
            fputc('\n', out);
        } else {
            fprintf(out, "# %s =   (no default: unset)\n", opt->key);
        }
    }
}

void
fdy_config_free(const fdy_option_t *opts, size_t count, void *cfg)
{
    for (size_t i = 0; i < count; i++) {
        if (opts[i].type != FDY_OPT_STRING && opts[i].type != FDY_OPT_ENDPOINT &&
            opts[i].type != FDY_OPT_PATH)
            continue;
        char **field = (char **) ((char *) cfg + opts[i].offset);
        free(*field);
        *field = NULL;
    }
}

foundry_err
fdy_config_init(const fdy_config_schema_t *schema, void *cfg, fdy_reason_t *reason)
{
    memset(cfg, 0, schema->cfg_size);
    return fdy_config_defaults(schema->options, schema->option_count, cfg, reason);
}

foundry_err
fdy_config_finish(const fdy_config_schema_t *schema, void *cfg, fdy_reason_t *reason)
{
    return schema->finish ? schema->finish(cfg, reason) : FOUNDRY_OK;
}

void
fdy_config_describe(const fdy_config_schema_t *schema, FILE *out)
{
    fdy_config_print(schema->options, schema->option_count, out);
}

void
fdy_config_fini(const fdy_config_schema_t *schema, void *cfg)
{
    fdy_config_free(schema->options, schema->option_count, cfg);
    memset(cfg, 0, schema->cfg_size);
}
