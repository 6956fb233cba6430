/*  test_config.c: the table-driven config parser: defaults, value syntax of
 *  every option type, file parsing, the exact "file:line: ..." text of every
 *  error class, precedence (defaults, file, then fdy_config_set) and the
 *  round trip of fdy_config_print() back through the parser, and the
 *  schema functions (fdy_config_init/finish/describe/fini) over a table.
 */
#include "config.h"

#include "log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

typedef struct {
    char *name;
    char *listen;
    char *data_dir;
    uint64_t commit_max_msgs;
    uint64_t map_size;
    uint64_t dedupe_window;
    bool fsync;
    int log_level;
    char *sites;
    char *extra;
    char *quoted;
} test_cfg_t;

#define KIB 1024ull
#define MIB (1024ull * 1024ull)
#define GIB (1024ull * 1024ull * 1024ull)

static const fdy_option_t s_opts[] = {
    {"name", FDY_OPT_STRING, "foundry", 0, 0, FDY_OPT_RELOAD, offsetof(test_cfg_t, name),
     "A free-form name"},
    {"listen", FDY_OPT_ENDPOINT, "tcp://127.0.0.1:7700", 0, 0, FDY_OPT_RESTART,
     offsetof(test_cfg_t, listen), "Client endpoint"},
    {"data_dir", FDY_OPT_PATH, "/var/lib/foundry", 0, 0, FDY_OPT_RESTART,
     offsetof(test_cfg_t, data_dir), "Data directory"},
    {"commit_max_msgs", FDY_OPT_UINT, "8192", 1, 65536, FDY_OPT_RELOAD,
     offsetof(test_cfg_t, commit_max_msgs), "Messages per group commit"},
    {"map_size", FDY_OPT_SIZE, "64MiB", 1 * MIB, 16 * GIB, FDY_OPT_RESTART,
     offsetof(test_cfg_t, map_size), "Initial LMDB map size"},
    {"dedupe_window", FDY_OPT_DURATION, "2m", 1000, 86400000, FDY_OPT_RELOAD,
     offsetof(test_cfg_t, dedupe_window), "How long message ids are remembered"},
    {"fsync", FDY_OPT_BOOL, "yes", 0, 0, FDY_OPT_RESTART, offsetof(test_cfg_t, fsync),
     "Sync every commit"},
    {"log_level", FDY_OPT_LOGLEVEL, "notice", 0, 0, FDY_OPT_RELOAD, offsetof(test_cfg_t, log_level),
     "Log level"},
    {"sites", FDY_OPT_STRING, "siheung bucheon uijeongbu", 0, 0, FDY_OPT_RESTART,
     offsetof(test_cfg_t, sites), "Sites"},
    {"extra", FDY_OPT_PATH, NULL, 0, 0, FDY_OPT_RESTART, offsetof(test_cfg_t, extra),
     "Optional path"},
    {"quoted", FDY_OPT_STRING, " odd \"value\" with \\ and # ", 0, 0, FDY_OPT_RESTART,
     offsetof(test_cfg_t, quoted), "A default that needs quoting"},
};
#define OPT_COUNT (sizeof s_opts / sizeof s_opts[0])

typedef struct {
    char dir[64];
    char path[128];
    test_cfg_t cfg;
} fixture_t;

#define assert_foundry_err(expr, want)                                                             \
    do {                                                                                           \
        foundry_err got_ = (expr);                                                                 \
        if (got_ != (want))                                                                        \
            fail_msg("%s: got %s, want %s (reason: %s)", #expr, foundry_strerror(got_),            \
                     foundry_strerror(want), reason.text);                                         \
    } while (0)
#define assert_foundry_ok(expr) assert_foundry_err(expr, FOUNDRY_OK)

static int
s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/test_config.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/foundry.conf", fx->dir);
    *state = fx;
    return 0;
}

static int
s_teardown(void **state)
{
    fixture_t *fx = *state;
    fdy_config_free(s_opts, OPT_COUNT, &fx->cfg);
    unlink(fx->path);
    rmdir(fx->dir);
    free(fx);
    return 0;
}

static void
s_write(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fwrite(text, 1, strlen(text), file);
    assert_int_equal(fclose(file), 0);
}

static void
test_config_defaults(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_config_defaults(s_opts, OPT_COUNT, &fx->cfg, &reason));
    assert_string_equal(fx->cfg.name, "foundry");
    assert_string_equal(fx->cfg.listen, "tcp://127.0.0.1:7700");
    assert_string_equal(fx->cfg.data_dir, "/var/lib/foundry");
    assert_int_equal(fx->cfg.commit_max_msgs, 8192);
    assert_int_equal(fx->cfg.map_size, 64 * MIB);
    assert_int_equal(fx->cfg.dedupe_window, 120000);
    assert_true(fx->cfg.fsync);
    assert_int_equal(fx->cfg.log_level, FDY_LOG_NOTICE);
    assert_string_equal(fx->cfg.sites, "siheung bucheon uijeongbu");
    assert_null(fx->cfg.extra);
    assert_string_equal(fx->cfg.quoted, " odd \"value\" with \\ and # ");
}

static void
test_config_bad_default_is_reported(void **state)
{
    (void) state;
    const fdy_option_t bad[] = {
        {"window", FDY_OPT_DURATION, "30", 0, 0, 0, offsetof(test_cfg_t, dedupe_window), "x"},
    };
    test_cfg_t cfg = {0};
    fdy_reason_t reason = {{0}};
    assert_foundry_err(fdy_config_defaults(bad, 1, &cfg, &reason), FOUNDRY_EINVAL);
    assert_string_equal(reason.text,
                        "option 'window': default: duration '30' needs a unit: ms, s, m, h or d");
}

static void
test_config_min_only_bound(void **state)
{
    (void) state;
    const fdy_option_t opts[] = {
        {"map_size", FDY_OPT_SIZE, "64MiB", 4096, 0, 0, offsetof(test_cfg_t, map_size), "x"},
    };
    test_cfg_t cfg = {0};
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_config_defaults(opts, 1, &cfg, &reason));
    assert_foundry_ok(fdy_config_set(opts, 1, &cfg, "map_size", "1TiB", &reason));
    assert_int_equal(cfg.map_size, 1024 * GIB);
    assert_foundry_err(fdy_config_set(opts, 1, &cfg, "map_size", "4095", &reason), FOUNDRY_EINVAL);
    assert_string_equal(reason.text, "option 'map_size': 4095 is below the minimum 4KiB");
}

static void
test_config_parse_size(void **state)
{
    (void) state;
    struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"0", 0},
        {"512", 512},
        {"8B", 8},
        {"64KiB", 64 * KIB},
        {"64MiB", 64 * MIB},
        {"2GiB", 2 * GIB},
        {"1TiB", 1024 * GIB},
        {"64 MiB", 64 * MIB},
        {"64mib", 64 * MIB},
        {"16777215TiB", 16777215ull << 40},
    };
    fdy_reason_t reason = {{0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t bytes = 1;
        assert_foundry_ok(fdy_config_parse_size(good[i].text, &bytes, &reason));
        assert_int_equal(bytes, good[i].bytes);
    }
    struct {
        const char *text, *reason;
    } bad[] = {
        {"", "'' is not a size (examples: 512, 64KiB, 64MiB, 2GiB)"},
        {"MiB", "'MiB' is not a size"},
        {"-1", "'-1' is not a size"},
        {"1.5GiB", "unknown size unit '.5GiB' in '1.5GiB'"},
        {"64MB", "size unit 'MB' is ambiguous: write MiB (powers of 1024) or the byte count"},
        {"64k", "size unit 'k' is ambiguous: write KiB"},
        {"2GB", "write GiB"},
        {"12XB", "unknown size unit 'XB' in '12XB' (use B, KiB, MiB, GiB or TiB)"},
        {"18446744073709551616", "size '18446744073709551616' is too large"},
        {"16777216TiB", "size '16777216TiB' is too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t bytes = 7;
        reason.text[0] = '\0';
        assert_foundry_err(fdy_config_parse_size(bad[i].text, &bytes, &reason), FOUNDRY_EINVAL);
        if (!strstr(reason.text, bad[i].reason))
            fail_msg("'%s': reason '%s' lacks '%s'", bad[i].text, reason.text, bad[i].reason);
        assert_int_equal(bytes, 7);
    }
}

static void
test_config_parse_duration(void **state)
{
    (void) state;
    struct {
        const char *text;
        uint64_t ms;
    } good[] = {{"250ms", 250},   {"30s", 30000}, {"2m", 120000}, {"1h", 3600000},
                {"1d", 86400000}, {"0", 0},       {"0ms", 0},     {"5 s", 5000}};
    fdy_reason_t reason = {{0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint64_t ms = 1;
        assert_foundry_ok(fdy_config_parse_duration(good[i].text, &ms, &reason));
        assert_int_equal(ms, good[i].ms);
    }
    struct {
        const char *text, *reason;
    } bad[] = {
        {"30", "duration '30' needs a unit: ms, s, m, h or d"},
        {"1w", "unknown duration unit 'w' in '1w' (use ms, s, m, h or d)"},
        {"1S", "unknown duration unit 'S'"},
        {"", "'' is not a duration (examples: 250ms, 30s, 2m, 1h)"},
        {"ms", "'ms' is not a duration"},
        {"-5s", "is not a duration"},
        {"1.5s", "unknown duration unit '.5s'"},
        {"99999999999999999999ms", "is too large"},
        {"18446744073709551615h", "is too large"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t ms = 7;
        reason.text[0] = '\0';
        assert_foundry_err(fdy_config_parse_duration(bad[i].text, &ms, &reason), FOUNDRY_EINVAL);
        if (!strstr(reason.text, bad[i].reason))
            fail_msg("'%s': reason '%s' lacks '%s'", bad[i].text, reason.text, bad[i].reason);
        assert_int_equal(ms, 7);
    }
}

static void
test_config_parse_uint(void **state)
{
    (void) state;
    fdy_reason_t reason = {{0}};
    uint64_t value = 1;
    assert_foundry_ok(fdy_config_parse_uint("0", &value, &reason));
    assert_int_equal(value, 0);
    assert_foundry_ok(fdy_config_parse_uint("8192", &value, &reason));
    assert_int_equal(value, 8192);
    assert_foundry_ok(fdy_config_parse_uint("18446744073709551615", &value, &reason));
    assert_true(value == UINT64_MAX);
    const char *bad[] = {"", "12a", "+1", " 1", "-1", "0x10", "1 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_foundry_err(fdy_config_parse_uint(bad[i], &value, &reason), FOUNDRY_EINVAL);
        assert_non_null(strstr(reason.text, "is not a whole number"));
    }
    assert_foundry_err(fdy_config_parse_uint("18446744073709551616", &value, &reason),
                       FOUNDRY_EINVAL);
    assert_string_equal(reason.text, "'18446744073709551616' is too large");
}

static void
test_config_load_file(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_config_defaults(s_opts, OPT_COUNT, &fx->cfg, &reason));
    s_write(fx->path, "\xef\xbb\xbf# broker config\n"
                      "\n"
                      "   # indented comment\n"
                      "name=edge-1\n"
                      "listen = tcp://*:*\r\n"
                      "\tdata_dir\t=\t/srv/foundry   # where data lives\n"
                      "commit_max_msgs = 65536\n"
                      "map_size = 2 GiB\n"
                      "dedupe_window = 90s\n"
                      "fsync = OFF\n"
                      "log_level = debug\n"
                      "sites = \"a # b\"   # quoted keeps the hash\n"
                      "extra = relative/path#not-a-comment\n"
                      "quoted = \"say \\\"hi\\\" \\\\ \"\n");
    assert_foundry_ok(fdy_config_load_file(s_opts, OPT_COUNT, &fx->cfg, fx->path, &reason));
    assert_string_equal(fx->cfg.name, "edge-1");
    assert_string_equal(fx->cfg.listen, "tcp://*:*");
    assert_string_equal(fx->cfg.data_dir, "/srv/foundry");
    assert_int_equal(fx->cfg.commit_max_msgs, 65536);
    assert_int_equal(fx->cfg.map_size, 2 * GIB);
    assert_int_equal(fx->cfg.dedupe_window, 90000);
    assert_false(fx->cfg.fsync);
    assert_int_equal(fx->cfg.log_level, FDY_LOG_DEBUG);
    assert_string_equal(fx->cfg.sites, "a # b");
    assert_string_equal(fx->cfg.extra, "relative/path#not-a-comment");
    assert_string_equal(fx->cfg.quoted, "say \"hi\" \\ ");

    /* An empty file changes nothing. */
    s_write(fx->path, "");
    assert_foundry_ok(fdy_config_load_file(s_opts, OPT_COUNT, &fx->cfg, fx->path, &reason));
    assert_string_equal(fx->cfg.name, "edge-1");
}

static void
test_config_value_types(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    test_cfg_t *cfg = &fx->cfg;
    const char *endpoints[] = {"tcp://127.0.0.1:7700", "tcp://*:7700", "tcp://host.example:1",
                               "tcp://[::1]:65535",    "tcp://eth0:*", "ipc:///run/foundry.sock",
                               "inproc://zap"};
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "listen", endpoints[i], &reason));
        assert_string_equal(cfg->listen, endpoints[i]);
    }
    const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    const char *no[] = {"false", "no", "off", "0", "False", "NO"};
    for (size_t i = 0; i < 6; i++) {
        assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "fsync", yes[i], &reason));
        assert_true(cfg->fsync);
        assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "fsync", no[i], &reason));
        assert_false(cfg->fsync);
    }
    const char *levels[] = {"err", "warn", "notice", "info", "debug"};
    for (int i = 0; i < 5; i++) {
        assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "log_level", levels[i], &reason));
        assert_int_equal(cfg->log_level, FDY_LOG_ERR + i);
    }
    /* Bounds are inclusive. */
    assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "commit_max_msgs", "1", &reason));
    assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "map_size", "16GiB", &reason));
    assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "dedupe_window", "1s", &reason));
    assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "name", "", &reason));
    assert_string_equal(cfg->name, "");
}

/* Writes text as the file, loads it, and checks the exact reason, in which
 * "@" stands for the file's path. */
static void
s_assert_file_error(fixture_t *fx, const char *text, foundry_err want, const char *want_reason)
{
    char expected[FDY_REASON_MAX * 2];
    const char *at = strchr(want_reason, '@');
    if (at)
        snprintf(expected, sizeof expected, "%.*s%s%s", (int) (at - want_reason), want_reason,
                 fx->path, at + 1);
    else
        snprintf(expected, sizeof expected, "%s", want_reason);
    s_write(fx->path, text);
    fdy_reason_t reason = {{0}};
    foundry_err err = fdy_config_load_file(s_opts, OPT_COUNT, &fx->cfg, fx->path, &reason);
    if (err != want || strcmp(reason.text, expected) != 0)
        fail_msg("file <<%s>>\n got %s '%s'\nwant %s '%s'", text, foundry_strerror(err),
                 reason.text, foundry_strerror(want), expected);
}

static void
test_config_file_errors(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_config_defaults(s_opts, OPT_COUNT, &fx->cfg, &reason));
    const struct {
        const char *text, *reason;
    } cases[] = {
        {"# c\n\nbogus = 1\n", "@:3: unknown option 'bogus'"},
        {"fsync = yes\nnot a setting\n", "@:2: expected 'key = value'"},
        {"= 5\n", "@:1: expected 'key = value'"},
        {"bad key = 5\n", "@:1: expected 'key = value'"},
        {"commit_max_msgs = 12x\n", "@:1: option 'commit_max_msgs': '12x' is not a whole number"},
        {"commit_max_msgs = 0\n", "@:1: option 'commit_max_msgs': 0 is below the minimum 1"},
        {"commit_max_msgs = 65537\n",
         "@:1: option 'commit_max_msgs': 65537 is above the maximum 65536"},
        {"map_size = 32GiB\n", "@:1: option 'map_size': 32GiB is above the maximum 16GiB"},
        {"map_size = 512KiB\n", "@:1: option 'map_size': 512KiB is below the minimum 1MiB"},
        {"map_size = 64MB\n", "@:1: option 'map_size': size unit 'MB' is ambiguous: write MiB "
                              "(powers of 1024) or the byte count"},
        {"dedupe_window = 30\n",
         "@:1: option 'dedupe_window': duration '30' needs a unit: ms, s, m, h or d"},
        {"dedupe_window = 999ms\n", "@:1: option 'dedupe_window': 999ms is below the minimum 1s"},
        {"dedupe_window = 2d\n", "@:1: option 'dedupe_window': 2d is above the maximum 1d"},
        {"fsync = maybe\n",
         "@:1: option 'fsync': 'maybe' is not a bool (true/false, yes/no, on/off, 1/0)"},
        {"log_level = loud\n", "@:1: option 'log_level': 'loud' is not a log level (err, warn, "
                               "notice, info, debug)"},
        {"listen = tcp://host\n",
         "@:1: option 'listen': endpoint 'tcp://host': expected tcp://host:port"},
        {"listen = tcp://host:70000\n",
         "@:1: option 'listen': endpoint 'tcp://host:70000': port must be 1-65535 or '*'"},
        {"listen = tcp://host:0\n",
         "@:1: option 'listen': endpoint 'tcp://host:0': port must be 1-65535 or '*'"},
        {"listen = tcp://::1:5\n", "@:1: option 'listen': endpoint 'tcp://::1:5': write an IPv6 "
                                   "host in brackets, [::1]:port"},
        {"listen = udp://host:5\n", "@:1: option 'listen': endpoint 'udp://host:5': use "
                                    "tcp://host:port, ipc://path or inproc://name"},
        {"listen = ipc://\n", "@:1: option 'listen': endpoint 'ipc://' has no path"},
        {"listen = inproc://\n", "@:1: option 'listen': endpoint 'inproc://' has no name"},
        {"listen = \"tcp://a b:1\"\n",
         "@:1: option 'listen': endpoint 'tcp://a b:1' contains whitespace"},
        {"data_dir =\n", "@:1: option 'data_dir': path is empty"},
        {"name = \"open\n", "@:1: option 'name': missing closing '\"'"},
        {"name = \"a\" b\n", "@:1: option 'name': unexpected text after the closing '\"'"},
        {"fsync = yes\n\nfsync = no\n", "@:3: option 'fsync': already set on line 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_assert_file_error(fx, cases[i].text, FOUNDRY_EINVAL, cases[i].reason);

    /* A NUL byte in the file. */
    FILE *file = fopen(fx->path, "w");
    assert_non_null(file);
    fwrite("name = a\nname2\0 = b\n", 1, 20, file);
    fclose(file);
    assert_foundry_err(fdy_config_load_file(s_opts, OPT_COUNT, &fx->cfg, fx->path, &reason),
                       FOUNDRY_EINVAL);
    assert_non_null(strstr(reason.text, ":2: line contains a NUL byte"));

    /* Cannot open, cannot read. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.conf", fx->dir);
    assert_foundry_err(fdy_config_load_file(s_opts, OPT_COUNT, &fx->cfg, missing, &reason),
                       FOUNDRY_EIO);
    char want[300];
    snprintf(want, sizeof want, "cannot open %s: No such file or directory", missing);
    assert_string_equal(reason.text, want);
    assert_foundry_err(fdy_config_load_file(s_opts, OPT_COUNT, &fx->cfg, fx->dir, &reason),
                       FOUNDRY_EIO);
    snprintf(want, sizeof want, "cannot read %s: ", fx->dir);
    assert_memory_equal(reason.text, want, strlen(want));

    /* A refused value leaves the option as it was. */
    assert_int_equal(fx->cfg.map_size, 64 * MIB);
    assert_string_equal(fx->cfg.listen, "tcp://127.0.0.1:7700");
}

static void
test_config_set_errors(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    assert_foundry_ok(fdy_config_defaults(s_opts, OPT_COUNT, &fx->cfg, &reason));
    assert_foundry_err(fdy_config_set(s_opts, OPT_COUNT, &fx->cfg, "nope", "1", &reason),
                       FOUNDRY_EINVAL);
    assert_string_equal(reason.text, "unknown option 'nope'");
    assert_foundry_err(fdy_config_set(s_opts, OPT_COUNT, &fx->cfg, "map_size", "lots", &reason),
                       FOUNDRY_EINVAL);
    assert_string_equal(reason.text,
                        "option 'map_size': 'lots' is not a size (examples: 512, 64KiB, 64MiB, "
                        "2GiB)");
    assert_foundry_err(fdy_config_set(s_opts, OPT_COUNT, &fx->cfg, "listen", "tcp://x", &reason),
                       FOUNDRY_EINVAL);
    assert_string_equal(reason.text,
                        "option 'listen': endpoint 'tcp://x': expected tcp://host:port");
    assert_int_equal(fx->cfg.map_size, 64 * MIB);
    assert_string_equal(fx->cfg.listen, "tcp://127.0.0.1:7700");
}

static void
test_config_precedence(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    test_cfg_t *cfg = &fx->cfg;
    assert_foundry_ok(fdy_config_defaults(s_opts, OPT_COUNT, cfg, &reason));
    s_write(fx->path, "map_size = 1GiB\nfsync = no\nlisten = tcp://0.0.0.0:9000\n");
    assert_foundry_ok(fdy_config_load_file(s_opts, OPT_COUNT, cfg, fx->path, &reason));
    assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "map_size", "2GiB", &reason));
    assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, cfg, "listen", "tcp://*:9001", &reason));
    assert_int_equal(cfg->map_size, 2 * GIB); /* command line beats the file */
    assert_string_equal(cfg->listen, "tcp://*:9001");
    assert_false(cfg->fsync);                     /* the file beats the default */
    assert_int_equal(cfg->commit_max_msgs, 8192); /* untouched: the default */
    assert_string_equal(cfg->data_dir, "/var/lib/foundry");
}

static void
s_assert_same(const test_cfg_t *a, const test_cfg_t *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->listen, b->listen);
    assert_string_equal(a->data_dir, b->data_dir);
    assert_int_equal(a->commit_max_msgs, b->commit_max_msgs);
    assert_int_equal(a->map_size, b->map_size);
    assert_int_equal(a->dedupe_window, b->dedupe_window);
    assert_int_equal(a->fsync, b->fsync);
    assert_int_equal(a->log_level, b->log_level);
    assert_string_equal(a->sites, b->sites);
    assert_true(a->extra == NULL && b->extra == NULL);
    assert_string_equal(a->quoted, b->quoted);
}

static void
test_config_print_round_trip(void **state)
{
    fixture_t *fx = *state;
    fdy_reason_t reason = {{0}};
    FILE *file = fopen(fx->path, "w");
    assert_non_null(file);
    fdy_config_print(s_opts, OPT_COUNT, file);
    assert_int_equal(fclose(file), 0);

    /* Parsed over a zeroed struct, the printout alone gives the defaults. */
    assert_foundry_ok(fdy_config_load_file(s_opts, OPT_COUNT, &fx->cfg, fx->path, &reason));
    test_cfg_t defaults = {0};
    assert_foundry_ok(fdy_config_defaults(s_opts, OPT_COUNT, &defaults, &reason));
    s_assert_same(&fx->cfg, &defaults);
    fdy_config_free(s_opts, OPT_COUNT, &defaults);
    assert_null(defaults.name);

    /* It documents each option. */
    file = fopen(fx->path, "r");
    assert_non_null(file);
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, file);
    text[len] = '\0';
    fclose(file);
    assert_non_null(strstr(text, "# Initial LMDB map size\n# type: size, range 1MiB to 16GiB; "
                                 "needs a restart\nmap_size = 64MiB\n"));
    assert_non_null(strstr(text, "# type: duration, range 1s to 1d; may change on reload\n"
                                 "dedupe_window = 2m\n"));
    assert_non_null(strstr(text, "# extra =   (no default: unset)"));
}

/* A cross-check like a binary's: refuses a value, and derives a field. */
static foundry_err
s_finish(void *cfg_in, fdy_reason_t *reason)
{
    test_cfg_t *cfg = cfg_in;
    if (cfg->commit_max_msgs > 1000)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "commit_max_msgs above 1000");
    if (!cfg->extra)
        cfg->extra = strdup(cfg->data_dir);
    return cfg->extra ? FOUNDRY_OK : FOUNDRY_ENOMEM;
}

static const fdy_config_schema_t s_schema = {
    .options = s_opts,
    .option_count = OPT_COUNT,
    .cfg_size = sizeof(test_cfg_t),
    .finish = s_finish,
};

static void
test_config_schema_lifecycle(void **state)
{
    (void) state;
    fdy_reason_t reason = {{0}};
    test_cfg_t cfg;
    memset(&cfg, 0x5a, sizeof cfg); /* init zeroes first: no garbage survives */
    assert_foundry_ok(fdy_config_init(&s_schema, &cfg, &reason));
    assert_string_equal(cfg.name, "foundry");
    assert_null(cfg.extra);
    assert_int_equal(cfg.commit_max_msgs, 8192);
    assert_foundry_err(fdy_config_finish(&s_schema, &cfg, &reason), FOUNDRY_EINVAL);
    assert_string_equal(reason.text, "commit_max_msgs above 1000");
    assert_foundry_ok(fdy_config_set(s_opts, OPT_COUNT, &cfg, "commit_max_msgs", "10", &reason));
    assert_foundry_ok(fdy_config_finish(&s_schema, &cfg, &reason));
    assert_string_equal(cfg.extra, "/var/lib/foundry"); /* derived, freed by fini */
    fdy_config_fini(&s_schema, &cfg);
    test_cfg_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&cfg, &zero, sizeof cfg);
    fdy_config_fini(&s_schema, &cfg); /* a zeroed config is fine to fini again */

    /* Without a finish there is nothing to check. */
    fdy_config_schema_t bare = s_schema;
    bare.finish = NULL;
    assert_foundry_ok(fdy_config_init(&bare, &cfg, &reason));
    assert_foundry_ok(fdy_config_finish(&bare, &cfg, &reason));
    assert_null(cfg.extra);
    fdy_config_fini(&bare, &cfg);
}

static void
test_config_schema_describe_is_print(void **state)
{
    (void) state;
    char *described = NULL, *printed = NULL;
    size_t described_len = 0, printed_len = 0;
    FILE *out = open_memstream(&described, &described_len);
    assert_non_null(out);
    fdy_config_describe(&s_schema, out);
    assert_int_equal(fclose(out), 0);
    out = open_memstream(&printed, &printed_len);
    assert_non_null(out);
    fdy_config_print(s_opts, OPT_COUNT, out);
    assert_int_equal(fclose(out), 0);
    assert_true(described_len > 100);
    assert_string_equal(described, printed);
    free(described);
    free(printed);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_defaults, s_setup, s_teardown),
        cmocka_unit_test(test_config_bad_default_is_reported),
        cmocka_unit_test(test_config_min_only_bound),
        cmocka_unit_test(test_config_parse_size),
        cmocka_unit_test(test_config_parse_duration),
        cmocka_unit_test(test_config_parse_uint),
        cmocka_unit_test_setup_teardown(test_config_load_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_config_value_types, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_config_file_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_config_set_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_config_precedence, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_config_print_round_trip, s_setup, s_teardown),
        cmocka_unit_test(test_config_schema_lifecycle),
        cmocka_unit_test(test_config_schema_describe_is_print),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
