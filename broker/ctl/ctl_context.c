/*  ctl_context.c: named connection settings, like `nats context`: where a
 *  broker is and which key files to use, stored under
 *  $XDG_CONFIG_HOME/foundry (else ~/.config/foundry) as
 *  contexts/NAME.conf ("endpoint = ...", "key = ...", "broker_key = ...")
 *  plus `current`, the name `context use` chose. Only paths are stored,
 *  never key material. ctl_conn.c asks it for what flags and FOUNDRY_*
 *  variables left unset; the context commands live here too.
 */
#include "ctl.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONTEXT_NAME_MAX 64

static bool
s_name_valid(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= CONTEXT_NAME_MAX || name[0] == '.')
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return false;
    return true;
}

/* The configuration directory, "<base>/foundry"; false when neither
 * XDG_CONFIG_HOME nor HOME is set. */
static bool
s_dir(char *out, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(out, size, "%s/foundry", xdg);
    else if (home && *home)
        n = snprintf(out, size, "%s/.config/foundry", home);
    else
        return false;
    return n > 0 && (size_t) n < size;
}

static bool
s_path(char *out, size_t size, const char *name)
{
    char dir[PATH_MAX];
    if (!s_dir(dir, sizeof dir))
        return false;
    int n = name ? snprintf(out, size, "%s/contexts/%s.conf", dir, name)
                 : snprintf(out, size, "%s/current", dir);
    return n > 0 && (size_t) n < size;
}

/* The name in `current`, or "" when none is chosen. */
static void
s_current(char *out, size_t size)
{
    out[0] = '\0';
    char path[PATH_MAX];
    if (!s_path(path, sizeof path, NULL))
        return;
    FILE *file = fopen(path, "r");
    if (!file)
        return;
    if (fgets(out, (int) size, file))
        out[strcspn(out, "\r\n")] = '\0';
    fclose(file);
    if (!s_name_valid(out))
        out[0] = '\0';
}

/* Reads NAME.conf's settings into the three buffers (FDY_CTL_SETTING_MAX
 * each; "" when absent). Returns false when the file cannot be read. */
static bool
s_read(const char *name, char *endpoint, char *key, char *broker_key)
{
    endpoint[0] = key[0] = broker_key[0] = '\0';
    char path[PATH_MAX];
    if (!s_path(path, sizeof path, name))
        return false;
    FILE *file = fopen(path, "r");
    if (!file)
        return false;
    char line[FDY_CTL_SETTING_MAX + 32];
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (!eq || line[0] == '#')
            continue;
        char *value = eq + 1;
        while (*value == ' ')
            value++;
        *eq = '\0';
        for (char *end = eq; end > line && end[-1] == ' ';)
            *--end = '\0';
        char *target = strcmp(line, "endpoint") == 0     ? endpoint
                       : strcmp(line, "key") == 0        ? key
                       : strcmp(line, "broker_key") == 0 ? broker_key
                                                         : NULL;
        if (target)
            snprintf(target, FDY_CTL_SETTING_MAX, "%s", value);
    }
    fclose(file);
    return true;
}

int
fdy_ctl_context_fill(const char *chosen, fdy_ctl_conn_settings_t *settings)
{
    char name[CONTEXT_NAME_MAX] = "";
    if (chosen)
        snprintf(name, sizeof name, "%s", chosen);
    else
        s_current(name, sizeof name);
    if (!name[0])
        return FDY_CTL_EXIT_OK;
    if (!s_name_valid(name))
        return fdy_output_usage("bad context name '%s'", name);
    if (!s_read(name, settings->context_endpoint, settings->context_key,
                settings->context_broker_key))
        return chosen ? fdy_output_usage("no context named %s (foundryctl context ls)", name)
                      : fdy_output_usage("the current context %s is gone: foundryctl context "
                                         "use NAME, or context rm %s",
                                         name, name);
    snprintf(settings->context_name, sizeof settings->context_name, "%s", name);
    if (!settings->endpoint && settings->context_endpoint[0])
        settings->endpoint = settings->context_endpoint;
    if (!settings->key_file && settings->context_key[0])
        settings->key_file = settings->context_key;
    if (!settings->broker_key_file && settings->context_broker_key[0])
        settings->broker_key_file = settings->context_broker_key;
    return FDY_CTL_EXIT_OK;
}

/* ---- the commands --------------------------------------------------------- */

static int
s_mkdirs(void)
{
    char dir[PATH_MAX], sub[PATH_MAX + 16];
    if (!s_dir(dir, sizeof dir))
        return fdy_output_fail("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep "
                               "contexts");
    /* ~/.config may not exist yet either */
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return fdy_output_fail("%s: %s", dir, strerror(errno));
        *slash = '/';
    }
    snprintf(sub, sizeof sub, "%s/contexts", dir);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || (mkdir(sub, 0700) != 0 && errno != EEXIST))
        return fdy_output_fail("%s: %s", sub, strerror(errno));
    return FDY_CTL_EXIT_OK;
}

/* An absolute path, so the context works from any directory. The file
 * must exist: a typo is caught now, not at the first connect. */
static int
s_absolute(const char *flag, const char *path, char out[PATH_MAX])
{
    if (!realpath(path, out))
        return fdy_output_fail("%s %s: %s", flag, path, strerror(errno));
    return FDY_CTL_EXIT_OK;
}

static int
s_write_current(const char *name)
{
    char path[PATH_MAX];
    if (!s_path(path, sizeof path, NULL))
        return fdy_output_fail("no configuration directory");
    FILE *file = fopen(path, "w");
    if (!file || fprintf(file, "%s\n", name) < 0 || fclose(file) != 0)
        return fdy_output_fail("%s: %s", path, strerror(errno));
    return FDY_CTL_EXIT_OK;
}

static int
s_add(const fdy_ctl_args_t *args)
{
    const char *name = args->pos[0];
    if (!s_name_valid(name))
        return fdy_output_usage("bad context name '%s': letters, digits, '-', '_' and '.'", name);
    if (!args->endpoint || !args->key_file || !args->broker_key_file)
        return fdy_output_usage("context add needs --endpoint, --key and --broker-key");
    char key[PATH_MAX], broker_key[PATH_MAX], endpoint[FDY_CTL_SETTING_MAX];
    int status = s_absolute("--key", args->key_file, key);
    if (status == FDY_CTL_EXIT_OK)
        status = s_absolute("--broker-key", args->broker_key_file, broker_key);
    if (status == FDY_CTL_EXIT_OK)
        status = fdy_ctl_endpoint_expand(args->endpoint, endpoint);
    if (status == FDY_CTL_EXIT_OK)
        status = s_mkdirs();
    if (status != FDY_CTL_EXIT_OK)
        return status;
    char path[PATH_MAX];
    if (!s_path(path, sizeof path, name))
        return fdy_output_fail("context path too long");
    if (access(path, F_OK) == 0)
        return fdy_output_fail("a context named %s exists: context rm %s first", name, name);
    FILE *file = fopen(path, "w");
    if (!file)
        return fdy_output_fail("%s: %s", path, strerror(errno));
    bool ok = fprintf(file,
                      "# foundryctl context %s: paths only, never key material\n"
                      "endpoint = %s\nkey = %s\nbroker_key = %s\n",
                      name, endpoint, key, broker_key) > 0;
    if (fclose(file) != 0 || !ok)
        return fdy_output_fail("%s: %s", path, strerror(errno));
    char current[CONTEXT_NAME_MAX];
    s_current(current, sizeof current);
    if (!current[0]) { /* the first context is the one in use */
        status = s_write_current(name);
        if (status == FDY_CTL_EXIT_OK)
            fdy_output_note("context %s is now in use", name);
    }
    if (status == FDY_CTL_EXIT_OK)
        printf("%s\n", path);
    return status;
}

static int
s_use(const fdy_ctl_args_t *args)
{
    const char *name = args->pos[0];
    char path[PATH_MAX];
    if (!s_name_valid(name) || !s_path(path, sizeof path, name) || access(path, R_OK) != 0)
        return fdy_output_fail("no context named %s (foundryctl context ls)", name);
    return s_write_current(name);
}

static int
s_rm(const fdy_ctl_args_t *args)
{
    const char *name = args->pos[0];
    char path[PATH_MAX];
    if (!s_name_valid(name) || !s_path(path, sizeof path, name) || access(path, F_OK) != 0)
        return fdy_output_fail("no context named %s (foundryctl context ls)", name);
    if (unlink(path) != 0)
        return fdy_output_fail("%s: %s", path, strerror(errno));
    char current[CONTEXT_NAME_MAX];
    s_current(current, sizeof current);
    if (strcmp(current, name) == 0 && s_path(path, sizeof path, NULL))
        unlink(path);
    return FDY_CTL_EXIT_OK;
}

/* The names of dir's NAME.conf files (malloc'd), at most max. */
static size_t
s_list(const char *dir, char **names, size_t max)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while (count < max && (entry = readdir(d))) {
        size_t len = strlen(entry->d_name);
        if (len <= 5 || strcmp(entry->d_name + len - 5, ".conf") != 0)
            continue;
        char *name = strndup(entry->d_name, len - 5);
        if (name && s_name_valid(name))
            names[count++] = name;
        else
            free(name);
    }
    closedir(d);
    return count;
}

static int
s_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int
s_ls(const fdy_ctl_args_t *args)
{
    char dir[PATH_MAX], sub[PATH_MAX + 16];
    char current[CONTEXT_NAME_MAX];
    s_current(current, sizeof current);
    char *names[256];
    size_t count = 0;
    if (s_dir(dir, sizeof dir)) {
        snprintf(sub, sizeof sub, "%s/contexts", dir);
        count = s_list(sub, names, sizeof names / sizeof names[0]);
    }
    qsort(names, count, sizeof names[0], s_name_cmp);
    if (args->json)
        fputs("[\n", stdout);
    else
        printf("%-1s %-16s %s\n", "", "NAME", "ENDPOINT  KEY  BROKER_KEY");
    for (size_t i = 0; i < count; i++) {
        fdy_ctl_conn_settings_t s;
        memset(&s, 0, sizeof s);
        s_read(names[i], s.context_endpoint, s.context_key, s.context_broker_key);
        bool in_use = strcmp(names[i], current) == 0;
        if (args->json) {
            fputs("{\"name\":", stdout);
            fdy_output_json_string(stdout, names[i], strlen(names[i]));
            fputs(",\"endpoint\":", stdout);
            fdy_output_json_string(stdout, s.context_endpoint, strlen(s.context_endpoint));
            fputs(",\"key\":", stdout);
            fdy_output_json_string(stdout, s.context_key, strlen(s.context_key));
            fputs(",\"broker_key\":", stdout);
            fdy_output_json_string(stdout, s.context_broker_key, strlen(s.context_broker_key));
            printf(",\"current\":%s}%s\n", in_use ? "true" : "false", i + 1 < count ? "," : "");
        } else {
            printf("%-1s %-16s %s  %s  %s\n", in_use ? "*" : "", names[i], s.context_endpoint,
                   s.context_key, s.context_broker_key);
        }
        free(names[i]);
    }
    if (args->json)
        fputs("]\n", stdout);
    return FDY_CTL_EXIT_OK;
}

static const fdy_ctl_cmd_t s_commands[] = {
    {
        .words = "context add",
        .synopsis = "NAME --endpoint E --key SECRETFILE --broker-key PUBFILE",
        .summary = "store connection settings under a name (paths only, never keys)",
        .notes = "Kept in $XDG_CONFIG_HOME/foundry/contexts/NAME.conf (else\n"
                 "~/.config/foundry). Key paths are stored absolute and must exist. The first\n"
                 "context added is put in use. Flags and FOUNDRY_* variables still win over\n"
                 "a context; --context NAME (or FOUNDRY_CONTEXT) picks one for a command.",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_add,
    },
    {
        .words = "context use",
        .synopsis = "NAME",
        .summary = "make a stored context the one commands use",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_use,
    },
    {
        .words = "context ls",
        .synopsis = "",
        .summary = "list stored contexts; * marks the one in use",
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_ls,
    },
    {
        .words = "context rm",
        .synopsis = "NAME",
        .summary = "delete a stored context (the key files stay)",
        .pos_names = {"NAME"},
        .min_pos = 1,
        .max_pos = 1,
        .reach = FDY_CTL_REACH_LOCAL,
        .run = s_rm,
    },
};

const fdy_ctl_group_t fdy_cmd_context_group = {
    .commands = s_commands,
    .command_count = sizeof s_commands / sizeof s_commands[0],
};
