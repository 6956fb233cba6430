/*  test_dashboard.c: the broker's dashboard in a real browser. Headless
 *  Chromium (Debian's chromium) loads http://.../ from a running broker,
 *  runs the page's script, which fetches /api/status, and the test reads
 *  the resulting DOM (--dump-dom): the six site rows, a node counted at
 *  its site, telemetry counted, and a job count the test changed between
 *  two loads. A screenshot is saved as dashboard.png in the test's
 *  directory (kept with FOUNDRY_KEEP_TMP, or copied to
 *  FOUNDRY_DASHBOARD_SHOT when set). Skips (exit 77) only when Chromium
 *  is missing or cannot start here, and says so.
 */
#include "proc.h"
#include "scrape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_LEN 512
/* Each load gets this much virtual time for the page's fetch and redraw. */
#define BUDGET_ARG "--virtual-time-budget=8000"
#define LOAD_DEADLINE_MS 90000

static const char *
s_chromium(void)
{
    const char *path = getenv("FOUNDRY_CHROMIUM");
    return path && *path ? path : "/usr/bin/chromium";
}

/* Runs chromium headless with its own profile in the test directory.
 * Returns stdout (caller frees via the run) in *run. */
static void
s_chromium_run(fdy_proc_t *p, const char *mode_arg, const char *url, fdy_proc_run_t *run)
{
    char profile[PATH_LEN];
    snprintf(profile, sizeof profile, "--user-data-dir=%s/chromium-profile", fdy_proc_dir(p));
    const char *argv[] = {"--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage", "--no-first-run", profile,
                          "--window-size=1100,900", BUDGET_ARG, mode_arg, url, NULL};
    fdy_proc_ctl_opts_t opts = {.no_auth = true, .program = s_chromium(), .deadline_ms = 60000};
    FDY_CHECK_OK(fdy_proc_ctlv(p, &opts, argv, run));
}

/* Loads the page until its DOM contains want (the page polls; a load can
 * end before the first fetch came back), within a deadline. Returns the
 * DOM (caller frees). */
static char *
s_load_until(fdy_proc_t *p, const char *url, const char *want)
{
    int64_t waited = 0;
    for (;;) {
        fdy_proc_run_t run;
        s_chromium_run(p, "--dump-dom", url, &run);
        if (run.status == 0 && run.out && strstr(run.out, want)) {
            char *dom = strdup(run.out);
            fdy_proc_run_clear(&run);
            return dom;
        }
        waited += run.elapsed_ms + 200;
        if (waited > LOAD_DEADLINE_MS) {
            fdy_proc_run_print("chromium", &run);
            fdy_proc_run_clear(&run);
            fdy_proc_fail(__FILE__, __LINE__, "the dashboard never showed '%s'", want);
        }
        fdy_proc_run_clear(&run);
        fdy_proc_nap_ms(200);
    }
}

static void
s_submit(foundry_client_t *c)
{
    foundry_job_spec_t spec;
    foundry_job_spec_init(&spec);
    spec.type = "inspect";
    uint64_t id = 0;
    FDY_CHECK_OK(foundry_job_submit(c, &spec, &id, NULL));
}

static void
test_dashboard_shows_sites_and_jobs(void)
{
    fdy_proc_t *p = fdy_proc_new("dashboard");
    FDY_CHECK_OK(fdy_proc_broker_start(p, NULL));
    fdy_proc_key_add(p, "node-pangyo", "--role", "node", "--site", "pangyo", NULL);
    foundry_client_t *node = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "node-pangyo", NULL, &node));
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "t-%d", i);
        foundry_ack_t ack;
        FDY_CHECK_OK(foundry_client_publish(node, "telemetry.pangyo.robot2.joint", "0.7", 3, id,
                                            strlen(id), &ack));
    }
    char url[256];
    fdy_scrape_url(p, "", url, sizeof url);

    /* Before: no job submitted. The rows come from the script's fetch. */
    char *dom = s_load_until(p, url, "id=\"jobs-submitted\">0<");
    static const char *const sites[] = {"siheung", "bucheon", "uijeongbu", "hanam", "pangyo",
                                        "seongnam-lab"};
    for (size_t i = 0; i < 6; i++) {
        char row[64];
        snprintf(row, sizeof row, "<tr id=\"site-%s\"><td>%s</td>", sites[i], sites[i]);
        FDY_CHECK_MSG(strstr(dom, row) != NULL, "no row for %s", sites[i]);
    }
    /* pangyo: one node connected (nodes, connections), three messages */
    FDY_CHECK(strstr(dom, "<tr id=\"site-pangyo\"><td>pangyo</td><td>1</td><td>1</td><td>3</td>")
              != NULL);
    FDY_CHECK(strstr(dom, "<tr id=\"site-hanam\"><td>hanam</td><td>0</td><td>0</td><td>0</td>")
              != NULL);
    FDY_CHECK(strstr(dom, "<td>node-pangyo</td></tr>") != NULL);   /* the node by name */
    free(dom);

    /* The test changes the job count; the page shows it. */
    foundry_client_t *admin = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &admin));
    s_submit(admin);
    s_submit(admin);
    dom = s_load_until(p, url, "id=\"jobs-submitted\">2<");
    FDY_CHECK(strstr(dom, "id=\"jobs-queued\">2<") != NULL);
    free(dom);

    char shot[PATH_LEN], shot_arg[PATH_LEN + 16];
    snprintf(shot, sizeof shot, "%s/dashboard.png", fdy_proc_dir(p));
    snprintf(shot_arg, sizeof shot_arg, "--screenshot=%s", shot);
    fdy_proc_run_t run;
    s_chromium_run(p, shot_arg, url, &run);
    FDY_CHECK_RUN(&run, 0);
    fdy_proc_run_clear(&run);
    struct stat st;
    FDY_CHECK_MSG(stat(shot, &st) == 0 && st.st_size > 1000, "no screenshot at %s", shot);
    const char *keep = getenv("FOUNDRY_DASHBOARD_SHOT");
    if (keep && *keep) {
        char cmd[2 * PATH_LEN + 16];
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", shot, keep);
        FDY_CHECK(system(cmd) == 0);
    }
    fprintf(stderr, "  screenshot: %s\n", shot);

    foundry_client_close(&admin, 1000, NULL);
    foundry_client_close(&node, 1000, NULL);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* With a token, the page passes its ?token= on to /api/status. */
static void
test_dashboard_with_token(void)
{
    fdy_proc_t *p = fdy_proc_new("dashboard-token");
    const char *const extra[] = {"--set", "metrics_token=dash-token-1", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, extra));
    char url[256];
    fdy_scrape_url(p, "?token=dash-token-1", url, sizeof url);
    char *dom = s_load_until(p, url, "id=\"site-siheung\"");
    free(dom);
    FDY_CHECK_EQ(fdy_proc_broker_stop(p), 0);
    fdy_proc_destroy(&p);
}

/* True when chromium runs here at all (installed, and able to start
 * headless: a container without /dev/shm or namespaces may not). */
static bool
s_chromium_works(char *why, size_t size)
{
    if (access(s_chromium(), X_OK) != 0) {
        snprintf(why, size, "%s is not installed (deploy/install-deps.sh installs chromium)",
                 s_chromium());
        return false;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "'%s' --headless --no-sandbox --disable-gpu --disable-dev-shm-usage "
             "--user-data-dir=\"$(mktemp -d)\" --dump-dom about:blank >/dev/null 2>&1",
             s_chromium());
    if (system(cmd) != 0) {
        snprintf(why, size, "%s cannot start headless here", s_chromium());
        return false;
    }
    return true;
}

int
main(int argc, char **argv)
{
    char why[256];
    if (!s_chromium_works(why, sizeof why)) {
        fprintf(stderr, "SKIP dashboard: %s\n", why);
        return 77;
    }
    static const fdy_proc_test_t tests[] = {
        {"dashboard_shows_sites_and_jobs", test_dashboard_shows_sites_and_jobs},
        {"dashboard_with_token", test_dashboard_with_token},
    };
    return fdy_proc_run_tests("dashboard", tests, sizeof tests / sizeof tests[0], argc, argv);
}
