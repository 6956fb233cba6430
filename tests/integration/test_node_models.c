/*  test_node_models.c: the real foundry-node's model updates. Model
 *  options that cannot be used stop the start with a reason naming the
 *  option; a node with no trust configured still runs and forwards
 *  telemetry. (End to end with the broker's models service and rollouts:
 *  added once they are in main.)
 */
#include "clock.h"
#include "node_proc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SITE     FDY_NODE_PROC_SITE
#define NODE_KEY FDY_NODE_PROC_KEY
#define PATH_LEN FDY_NODE_PROC_PATH_LEN

static void
s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    FDY_CHECK_MSG(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Starts a node with extra options and expects it to exit 1 at once with
 * needle in its log. */
static void
s_expect_start_refused(fdy_proc_t *p, const char *name, const char *const *extra,
                       const char *needle)
{
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, name);
    for (size_t i = 0; extra[i]; i++)
        node.extra[i] = extra[i];
    fdy_node_proc_start(&node, -1, false);
    int status = fdy_node_proc_wait(&node, 30000);
    FDY_NODE_CHECK(&node, status == 1, "foundry-node exited %d, want 1", status);
    FDY_NODE_CHECK(&node, fdy_node_proc_log_count(&node, needle) >= 1, "no '%s' in its log",
                   needle);
}

static void
test_node_models_bad_options_stop_the_start(void)
{
    fdy_proc_t *p = fdy_proc_new("node_models_options");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, NODE_KEY, "--role", "node", "--site", SITE, NULL);
    char trust[PATH_LEN];
    snprintf(trust, sizeof trust, "%s/trust", fdy_proc_dir(p));
    s_write(trust, "# model trust\nvision 2 abcd\n");
    char set_trust[PATH_LEN + 32];
    snprintf(set_trust, sizeof set_trust, "model_trust_file=%s", trust);
    const char *bad_trust[] = {"--set", set_trust, NULL};
    s_expect_start_refused(p, "bad_trust", bad_trust, "model_trust_file");

    const char *bad_key[] = {"--set", "model_release_key=0123", NULL};
    s_expect_start_refused(p, "bad_key", bad_key, "model_release_key");

    const char *empty_health[] = {"--set", "model_health=", NULL};
    s_expect_start_refused(p, "empty_health", empty_health, "model_health");

    char models[PATH_LEN + 32];
    snprintf(models, sizeof models, "models_dir=%s/trust/models", fdy_proc_dir(p));
    const char *bad_dir[] = {"--set", models, NULL};
    s_expect_start_refused(p, "bad_dir", bad_dir, "cannot create");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

static void
test_node_models_without_trust_the_node_still_works(void)
{
    fdy_proc_t *p = fdy_proc_new("node_models_untrusted");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, NODE_KEY, "--role", "node", "--site", SITE, NULL);
    fdy_node_proc_t node;
    fdy_node_proc_init(&node, p, "node");
    fdy_node_proc_start(&node, -1, true);
    fdy_node_proc_wait_log(&node, "MODEL-NO-TRUST");
    /* models_dir and its blob directory are made, 0700 */
    char path[PATH_LEN + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/models/.blobs", node.data_dir);
    FDY_CHECK_MSG(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "%s is missing", path);
    snprintf(path, sizeof path, "%s/models", node.data_dir);
    FDY_CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0700);
    /* telemetry goes on as ever */
    fdy_node_proc_pusher_t pusher;
    fdy_node_proc_pusher_open(&pusher, node.listen);
    fdy_node_proc_push_frames(&pusher, 0, 5);
    fdy_node_proc_pusher_close(&pusher);
    fdy_node_proc_reader_t reader = {
        SITE, "telemetry-" SITE, NODE_KEY, 5 * FDY_NODE_PROC_LINES_PER_FRAME, NULL, 0, 0, 0, 1, 0};
    reader.seen = calloc(reader.range, 1);
    FDY_CHECK(reader.seen);
    fdy_node_proc_wait_all(p, &node, &reader, reader.range, 60000);
    free(reader.seen);
    FDY_NODE_CHECK(&node, fdy_node_proc_stop(&node) == 0, "foundry-node did not stop cleanly");
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

int
main(int argc, char **argv)
{
    if (!getenv("FOUNDRY_NODE")) {
        fprintf(stderr, "node_models: FOUNDRY_NODE is not set: skipped\n");
        return 77;
    }
    static const fdy_proc_test_t tests[] = {
        {"node_models_bad_options_stop_the_start", test_node_models_bad_options_stop_the_start},
        {"node_models_without_trust_the_node_still_works",
         test_node_models_without_trust_the_node_still_works},
    };
    return fdy_proc_run_tests("node_models", tests, sizeof tests / sizeof tests[0], argc, argv);
}
