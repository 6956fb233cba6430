/*  test_rollouts.c: fleet-job rollouts end to end with the real broker and
 *  real foundry-node agents at several sites running exec-mode handlers:
 *  waves in order (seen in the job ids each wave's nodes got), an abort
 *  threshold that trips at the site whose handler fails, pause and resume,
 *  the rate limit as rollout.status shows it, and a broker SIGKILL while
 *  paused and again while a wave's job runs, after which the rollout
 *  finishes. Admin commands go over a raw CURVE DEALER as the admin key.
 */
#include "clock.h"
#include "node_proc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_LEN         FDY_NODE_PROC_PATH_LEN
#define REPLY_TIMEOUT_MS 10000
#define WAIT_MS          60000
static const char *const s_broker_args[] = {"--set", "job_node_timeout_ms=1500", NULL};

/* ---- agents ---------------------------------------------------------------------- */

static void
s_script(fdy_proc_t *p, const char *name, const char *body, char *path_out)
{
    snprintf(path_out, PATH_LEN, "%s/%s", fdy_proc_dir(p), name);
    FILE *f = fopen(path_out, "w");
    FDY_CHECK(f != NULL);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    FDY_CHECK(chmod(path_out, 0755) == 0);
}

/* An agent's handler line for job type "update": a script with body,
 * run as `exec` with slots and timeout. */
static void
s_update_handler(fdy_proc_t *p, const char *name, const char *body, int slots,
                 const char *timeout, char text_out[PATH_LEN + 64])
{
    char script[PATH_LEN];
    s_script(p, name, body, script);
    snprintf(text_out, PATH_LEN + 64, "update exec %d %s -- %s\n", slots, timeout, script);
}

typedef struct {
    fdy_node_proc_t proc;
    char handlers[PATH_LEN];
    const char *labels; /* --labels, or NULL */
} s_agent_t;

/* Runs the agent of an existing node key. */
static void
s_agent_run(fdy_proc_t *p, s_agent_t *a, const char *name, const char *site,
            const char *handlers_text)
{
    snprintf(a->handlers, sizeof a->handlers, "%s/%s.jobs", fdy_proc_dir(p), name);
    FILE *f = fopen(a->handlers, "w");
    FDY_CHECK(f != NULL);
    fputs(handlers_text, f);
    fclose(f);
    fdy_node_proc_init(&a->proc, p, name);
    a->proc.site = site;
    a->proc.key_name = name;
    size_t n = 0;
    a->proc.extra[n++] = "--jobs";
    a->proc.extra[n++] = a->handlers;
    a->proc.extra[n++] = "--set";
    a->proc.extra[n++] = "job_heartbeat=200ms";
    if (a->labels) {
        a->proc.extra[n++] = "--labels";
        a->proc.extra[n++] = a->labels;
    }
    a->proc.extra[n] = NULL;
    fdy_node_proc_start(&a->proc, -1, true);
}

/* A node key at site and its agent. */
static void
s_agent_start(fdy_proc_t *p, s_agent_t *a, const char *name, const char *site,
              const char *handlers_text)
{
    fdy_proc_key_add(p, name, "--role", "node", "--site", site, NULL);
    s_agent_run(p, a, name, site, handlers_text);
}

static void
s_agents_stop(s_agent_t *agents, size_t count)
{
    for (size_t i = 0; i < count; i++)
        FDY_NODE_CHECK(&agents[i].proc, fdy_node_proc_stop(&agents[i].proc) == 0, "node stop");
}

/* ---- admin over a raw DEALER ---------------------------------------------------------- */

typedef struct {
    fdy_proc_t *p;
    fdy_proc_dealer_t *dealer;
    fdy_arena_t *arena;
    fdy_envelope_t reply;
    uint64_t request_id;
} s_admin_t;

static void
s_admin_open(s_admin_t *a, fdy_proc_t *p)
{
    a->p = p;
    if (!a->arena)
        a->arena = fdy_arena_new(FDY_DECODE_BUDGET(FDY_REPLY_MAX));
    FDY_CHECK(a->arena != NULL);
    FDY_CHECK_OK(fdy_proc_dealer_new(p, "admin", &a->dealer));
}

static void
s_admin_close(s_admin_t *a)
{
    fdy_proc_dealer_destroy(&a->dealer);
}

/* Sends command with args; returns the reply's error code (FOUNDRY_OK for
 * an ADMIN_REPLY, whose table is a->reply.table). */
static foundry_err
s_admin_try(s_admin_t *a, const char *command, const char *const *args, size_t count)
{
    fdy_envelope_t env = {0};
    env.kind = FDY_KIND_ADMIN;
    env.request_id = ++a->request_id;
    env.command = command;
    env.args = args;
    env.arg_count = count;
    uint8_t *buf = NULL;
    size_t len = 0;
    FDY_CHECK_OK(fdy_codec_encode_envelope(&env, &buf, &len));
    fdy_slice_t frame = {buf, len};
    FDY_CHECK_OK(fdy_proc_dealer_send(a->dealer, &frame, 1));
    free(buf);
    FDY_CHECK_OK(fdy_proc_dealer_recv(a->dealer, REPLY_TIMEOUT_MS, a->arena, &a->reply));
    FDY_CHECK_EQ(a->reply.request_id, a->request_id);
    if (a->reply.kind == FDY_KIND_ERROR)
        return a->reply.error_code;
    FDY_CHECK_EQ(a->reply.kind, FDY_KIND_ADMIN_REPLY);
    return FOUNDRY_OK;
}

static const fdy_table_t *
s_admin(s_admin_t *a, const char *command, const char *const *args, size_t count)
{
    foundry_err err = s_admin_try(a, command, args, count);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "%s: %s (%s)", command, foundry_strerror(err),
                  a->reply.error_reason ? a->reply.error_reason : "");
    return &a->reply.table;
}

/* A rollout command on rollout id: "id=N" is its one argument. */
static foundry_err
s_admin_id_try(s_admin_t *a, const char *command, uint64_t id)
{
    char id_arg[32];
    snprintf(id_arg, sizeof id_arg, "id=%" PRIu64, id);
    const char *args[] = {id_arg};
    return s_admin_try(a, command, args, 1);
}

static const fdy_table_t *
s_admin_id(s_admin_t *a, const char *command, uint64_t id)
{
    foundry_err err = s_admin_id_try(a, command, id);
    FDY_CHECK_MSG(err == FOUNDRY_OK, "%s: %s (%s)", command, foundry_strerror(err),
                  a->reply.error_reason ? a->reply.error_reason : "");
    return &a->reply.table;
}

/* The end of a test: the admin connection, the agents, then the broker
 * (its stop must be clean). */
static void
s_finish(s_admin_t *a, s_agent_t *agents, size_t count, fdy_proc_t **p)
{
    s_admin_close(a);
    fdy_arena_destroy(&a->arena);
    s_agents_stop(agents, count);
    FDY_CHECK_EQ(fdy_proc_broker_stop(*p), 0);
    fdy_proc_destroy(p);
}

/* The cell of row in column `name` as text (cut to size). */
static void
s_cell(const fdy_table_t *t, size_t row, const char *name, char *out, size_t size)
{
    for (size_t c = 0; c < t->column_count; c++) {
        if (strcmp(t->columns[c], name) != 0)
            continue;
        const fdy_slice_t *cell = &t->cells[row * t->column_count + c];
        size_t len = cell->len < size - 1 ? cell->len : size - 1;
        if (len)
            memcpy(out, cell->data, len); /* an empty cell has no data */
        out[len] = '\0';
        return;
    }
    FDY_CHECK_MSG(false, "no column %s", name);
}

static uint64_t
s_cell_int(const fdy_table_t *t, size_t row, const char *name)
{
    char text[32];
    s_cell(t, row, name, text, sizeof text);
    return strtoull(text, NULL, 10);
}

static uint64_t
s_start(s_admin_t *a, const char *const *args, size_t count)
{
    const fdy_table_t *t = s_admin(a, "rollout.start", args, count);
    FDY_CHECK_EQ(t->row_count, 1);
    uint64_t id = s_cell_int(t, 0, "id");
    FDY_CHECK(id > 0);
    return id;
}

typedef struct {
    char state[32];
    char wave[16];
    uint64_t nodes, healthy, failed;
    char reason[256];
} s_ls_t;

static void
s_ls(s_admin_t *a, uint64_t id, s_ls_t *out)
{
    const fdy_table_t *t = s_admin(a, "rollout.ls", NULL, 0);
    for (size_t r = 0; r < t->row_count; r++) {
        if (s_cell_int(t, r, "id") != id)
            continue;
        s_cell(t, r, "state", out->state, sizeof out->state);
        s_cell(t, r, "wave", out->wave, sizeof out->wave);
        s_cell(t, r, "reason", out->reason, sizeof out->reason);
        out->nodes = s_cell_int(t, r, "nodes");
        out->healthy = s_cell_int(t, r, "healthy");
        out->failed = s_cell_int(t, r, "failed");
        return;
    }
    FDY_CHECK_MSG(false, "rollout.ls has no rollout %" PRIu64, id);
}

typedef struct {
    char state[32];
    char reason[256];
    uint64_t wave;
} s_node_row_t;

/* The status row of node in rollout id. */
static void
s_node(s_admin_t *a, uint64_t id, const char *node, s_node_row_t *out)
{
    char text[32];
    snprintf(text, sizeof text, "id=%" PRIu64, id);
    const char *args[] = {text};
    const fdy_table_t *t = s_admin(a, "rollout.status", args, 1);
    for (size_t r = 0; r < t->row_count; r++) {
        char name[64];
        s_cell(t, r, "node", name, sizeof name);
        if (strcmp(name, node) != 0)
            continue;
        s_cell(t, r, "state", out->state, sizeof out->state);
        s_cell(t, r, "reason", out->reason, sizeof out->reason);
        out->wave = s_cell_int(t, r, "wave");
        return;
    }
    FDY_CHECK_MSG(false, "rollout %" PRIu64 " has no node %s", id, node);
}

/* Polls until the rollout is in state (deadline); returns its row. */
static void
s_wait_state(s_admin_t *a, uint64_t id, const char *state, s_ls_t *out)
{
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    for (;;) {
        s_ls(a, id, out);
        if (strcmp(out->state, state) == 0)
            return;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "rollout %" PRIu64 " is %s (%s), not %s", id,
                      out->state, out->reason, state);
        fdy_proc_nap_ms(50);
    }
}

/* Polls until node's state is one of the space-separated states. */
static void
s_wait_node(s_admin_t *a, uint64_t id, const char *node, const char *states, s_node_row_t *out)
{
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    for (;;) {
        s_node(a, id, node, out);
        char padded[64], want[128];
        snprintf(padded, sizeof padded, " %s ", out->state);
        snprintf(want, sizeof want, " %s ", states);
        if (strstr(want, padded))
            return;
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "node %s of rollout %" PRIu64 " is %s (%s)",
                      node, id, out->state, out->reason);
        fdy_proc_nap_ms(50);
    }
}

/* "job 12 succeeded" -> 12 */
static uint64_t
s_job_of(const s_node_row_t *row)
{
    uint64_t job = 0;
    FDY_CHECK_MSG(sscanf(row->reason, "job %" SCNu64, &job) == 1, "reason '%s'", row->reason);
    return job;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void
test_rollouts_waves_then_abort_at_failing_site(void)
{
    fdy_proc_t *p = fdy_proc_new("rollouts-abort");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char ok[PATH_LEN], bad[PATH_LEN];
    s_script(p, "ok.sh", "exit 0", ok);
    s_script(p, "bad.sh", "echo 'calibration drift' >&2; exit 3", bad);
    char ok_text[PATH_LEN + 64], bad_text[PATH_LEN + 64];
    snprintf(ok_text, sizeof ok_text, "update exec 2 10s -- %s\n", ok);
    snprintf(bad_text, sizeof bad_text, "update exec 2 10s -- %s\n", bad);
    static const struct {
        const char *name, *site;
        bool fails;
    } who[] = {
        {"lab-1", "seongnam-lab", false}, {"si-1", "siheung", false}, {"si-2", "siheung", false},
        {"ha-1", "hanam", true},          {"pa-1", "pangyo", false},
    };
    s_agent_t agents[5] = {{.labels = NULL}};
    for (size_t i = 0; i < 5; i++)
        s_agent_start(p, &agents[i], who[i].name, who[i].site, who[i].fails ? bad_text : ok_text);
    s_admin_t a = {0};
    s_admin_open(&a, p);

    /* Bad input is refused with its reason and starts nothing. */
    const char *bad_args[] = {"job=update", "waves=siheung;150%"};
    FDY_CHECK_EQ(s_admin_try(&a, "rollout.start", bad_args, 2), FOUNDRY_EINVAL);
    FDY_CHECK(strstr(a.reply.error_reason, "wave 2") != NULL);
    const char *nobody[] = {"job=update", "site=uijeongbu"};
    FDY_CHECK_EQ(s_admin_try(&a, "rollout.start", nobody, 2), FOUNDRY_EINVAL);
    FDY_CHECK(strstr(a.reply.error_reason, "no target nodes") != NULL);
    const char *unknown[] = {"id=99"};
    FDY_CHECK_EQ(s_admin_try(&a, "rollout.status", unknown, 1), FOUNDRY_ENOTFOUND);

    const char *args[] = {"job=update", "data=v2", "waves=seongnam-lab;siheung;hanam,pangyo",
                          "abort_failures=1"};
    uint64_t id = s_start(&a, args, 4);
    s_ls_t ls;
    s_wait_state(&a, id, "aborted", &ls);
    FDY_CHECK_STR(ls.wave, "3/3");
    FDY_CHECK_EQ(ls.nodes, 5);
    FDY_CHECK_EQ(ls.failed, 1);
    FDY_CHECK_MSG(strstr(ls.reason, "abort_failures=1: 1 nodes failed") != NULL, "reason %s",
                  ls.reason);
    /* Waves in order: each wave's jobs were queued after the one before
     * had ended, so their ids grow wave by wave. */
    s_node_row_t lab, si1, si2, ha;
    s_node(&a, id, "lab-1", &lab);
    s_node(&a, id, "si-1", &si1);
    s_node(&a, id, "si-2", &si2);
    s_node(&a, id, "ha-1", &ha);
    FDY_CHECK_STR(lab.state, "healthy");
    FDY_CHECK_STR(si1.state, "healthy");
    FDY_CHECK_STR(si2.state, "healthy");
    FDY_CHECK_STR(ha.state, "failed");
    FDY_CHECK_EQ(lab.wave, 1);
    FDY_CHECK_EQ(ha.wave, 3);
    FDY_CHECK(s_job_of(&lab) < s_job_of(&si1) && s_job_of(&lab) < s_job_of(&si2));
    FDY_CHECK(s_job_of(&si1) < s_job_of(&ha) && s_job_of(&si2) < s_job_of(&ha));
    /* The node's state carries its job's end and error. */
    FDY_CHECK_MSG(strstr(ha.reason, "dead: exit status 3") != NULL, "ha-1: %s", ha.reason);
    /* An ended rollout takes no more admin changes. */
    FDY_CHECK_EQ(s_admin_id_try(&a, "rollout.resume", id), FOUNDRY_EINVAL);
    FDY_CHECK(strstr(a.reply.error_reason, "is aborted, not paused") != NULL);

    s_finish(&a, agents, 5, &p);
}

static void
test_rollouts_rate_limit_shows_in_status(void)
{
    fdy_proc_t *p = fdy_proc_new("rollouts-rate");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char text[PATH_LEN + 64];
    s_update_handler(p, "ok.sh", "exit 0", 2, "10s", text);
    s_agent_t agents[2] = {{.labels = NULL}};
    s_agent_start(p, &agents[0], "bu-1", "bucheon", text);
    s_agent_start(p, &agents[1], "bu-2", "bucheon", text);
    s_admin_t a = {0};
    s_admin_open(&a, p);
    const char *args[] = {"job=update", "rate=1"};
    uint64_t id = s_start(&a, args, 2);
    /* One node a minute: the first runs to its end, the second waits and
     * says why. */
    s_node_row_t first, second;
    s_wait_node(&a, id, "bu-1", "healthy", &first);
    s_node(&a, id, "bu-2", &second);
    FDY_CHECK_STR(second.state, "pending");
    FDY_CHECK_MSG(strstr(second.reason, "rate 1/min: next start in") != NULL, "bu-2: %s",
                  second.reason);
    s_ls_t ls;
    s_ls(&a, id, &ls);
    FDY_CHECK_STR(ls.state, "running");
    FDY_CHECK(strstr(ls.reason, "rate 1/min") != NULL);
    const fdy_table_t *t = s_admin_id(&a, "rollout.abort", id);
    char state[32];
    s_cell(t, 0, "state", state, sizeof state);
    FDY_CHECK_STR(state, "aborted");
    s_ls(&a, id, &ls);
    FDY_CHECK(strstr(ls.reason, "aborted by admin") != NULL);
    s_node(&a, id, "bu-2", &second);
    FDY_CHECK_STR(second.state, "pending");

    s_finish(&a, agents, 2, &p);
}

static void
test_rollouts_pause_resume_survive_broker_kill(void)
{
    fdy_proc_t *p = fdy_proc_new("rollouts-kill");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char text[PATH_LEN + 64];
    s_update_handler(p, "work.sh", "sleep 1; exit 0", 2, "20s", text);
    s_agent_t agents[3] = {{.labels = NULL}};
    s_agent_start(p, &agents[0], "si-1", "siheung", text);
    s_agent_start(p, &agents[1], "si-2", "siheung", text);
    s_agent_start(p, &agents[2], "bu-1", "bucheon", text);
    s_admin_t a = {0};
    s_admin_open(&a, p);
    const char *args[] = {"job=update", "waves=siheung;bucheon"};
    uint64_t id = s_start(&a, args, 2);

    /* Pause while wave 1 runs: its nodes finish, wave 2 does not start. */
    s_node_row_t row;
    s_wait_node(&a, id, "si-1", "started running", &row);
    s_wait_node(&a, id, "si-2", "started running", &row);
    s_admin_id(&a, "rollout.pause", id);
    /* Each node's job was pinned to it: it ran there and nowhere else,
     * though both nodes take jobs of the type at that site. */
    foundry_client_t *c = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &c));
    const char *names[] = {"si-1", "si-2"};
    for (size_t i = 0; i < 2; i++) {
        s_wait_node(&a, id, names[i], "healthy", &row);
        const foundry_job_info_t *info = NULL;
        FDY_CHECK_OK(foundry_job_status(c, s_job_of(&row), &info));
        FDY_CHECK_STR(info->node, names[i]);
        FDY_CHECK_STR(info->state_name, "succeeded");
    }
    foundry_client_close(&c, 1000, NULL);
    s_ls_t ls;
    s_ls(&a, id, &ls);
    FDY_CHECK_STR(ls.state, "paused");
    FDY_CHECK_STR(ls.wave, "1/2");
    FDY_CHECK(strstr(ls.reason, "paused by admin") != NULL);
    s_node(&a, id, "bu-1", &row);
    FDY_CHECK_STR(row.state, "pending");
    const fdy_table_t *status = s_admin(&a, "status", NULL, 0);
    FDY_CHECK_EQ(s_cell_int(status, 0, "rollouts_paused"), 1);
    FDY_CHECK_EQ(s_cell_int(status, 0, "rollouts_running"), 0);

    /* SIGKILL while paused: the pause and wave 1's results are durable. */
    s_admin_close(&a);
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_admin_open(&a, p);
    s_ls(&a, id, &ls);
    FDY_CHECK_STR(ls.state, "paused");
    FDY_CHECK_EQ(ls.healthy, 2);
    FDY_CHECK_STR(ls.wave, "1/2");

    /* Resume; SIGKILL again while wave 2's job runs; the rollout ends. */
    const fdy_table_t *t = s_admin_id(&a, "rollout.resume", id);
    char state[32];
    s_cell(t, 0, "state", state, sizeof state);
    FDY_CHECK_STR(state, "running");
    s_wait_node(&a, id, "bu-1", "started running", &row);
    s_admin_close(&a);
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_admin_open(&a, p);
    s_wait_state(&a, id, "succeeded", &ls);
    FDY_CHECK_EQ(ls.healthy, 3);
    FDY_CHECK_EQ(ls.failed, 0);
    FDY_CHECK_STR(ls.wave, "2/2");
    s_node(&a, id, "bu-1", &row);
    FDY_CHECK_STR(row.state, "healthy");
    FDY_CHECK_EQ(row.wave, 2);

    s_finish(&a, agents, 3, &p);
}

static void
test_rollouts_gate_violation_pauses_with_metric_value_node(void)
{
    fdy_proc_t *p = fdy_proc_new("rollouts-gate");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char text[PATH_LEN + 64];
    s_update_handler(p, "ok.sh", "exit 0", 2, "10s", text);
    s_agent_t agents[3] = {{.labels = NULL}};
    s_agent_start(p, &agents[0], "si-1", "siheung", text);
    s_agent_start(p, &agents[1], "si-2", "siheung", text);
    s_agent_start(p, &agents[2], "bu-1", "bucheon", text);
    s_admin_t a = {0};
    s_admin_open(&a, p);
    /* A long soak: the gate must trip within it, not time out of it. */
    const char *args[] = {"job=update", "waves=siheung;bucheon", "soak=600000",
                          "gate=line.reject_rate<0.02", "gate=spindle.temp<=80"};
    uint64_t id = s_start(&a, args, 5);
    s_node_row_t row;
    s_wait_node(&a, id, "si-1", "healthy", &row);
    s_wait_node(&a, id, "si-2", "healthy", &row);
    /* Soaking: si-2 publishes samples within bounds and another metric,
     * then si-1 one reject rate over it. */
    fdy_node_proc_pusher_t pusher;
    fdy_node_proc_pusher_open(&pusher, agents[1].proc.listen);
    const char *fine = "line.reject_rate 0.01\nspindle.temp 80 C\nline.speed 99\n";
    fdy_node_proc_push(&pusher, fine, strlen(fine), 0);
    fdy_node_proc_pusher_close(&pusher);
    /* Stored (one message per metric) before the bad sample is sent, so
     * the reader judges them first. */
    const char *stream_args[] = {"name=telemetry-siheung"};
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    while (s_cell_int(s_admin(&a, "stream.info", stream_args, 1), 0, "messages") < 3) {
        FDY_CHECK(fdy_clock_mono_ms() < deadline);
        fdy_proc_nap_ms(20);
    }
    s_ls_t ls;
    s_ls(&a, id, &ls);
    FDY_CHECK_STR(ls.state, "running");
    fdy_node_proc_pusher_open(&pusher, agents[0].proc.listen);
    const char *bad = "line.reject_rate 0.05\n";
    fdy_node_proc_push(&pusher, bad, strlen(bad), 0);
    fdy_node_proc_pusher_close(&pusher);
    s_wait_state(&a, id, "paused", &ls);
    FDY_CHECK_STR(ls.reason, "gate line.reject_rate<0.02 violated: 0.05 at siheung/si-1");
    FDY_CHECK_STR(ls.wave, "1/2");
    s_node(&a, id, "bu-1", &row);
    FDY_CHECK_STR(row.state, "pending");
    FDY_CHECK_STR(row.reason, "waits for wave 2 of 2");
    s_admin_id(&a, "rollout.abort", id);
    s_ls(&a, id, &ls);
    FDY_CHECK_STR(ls.state, "aborted");

    s_finish(&a, agents, 3, &p);
}

static void
test_rollouts_pinned_job_waits_for_its_node(void)
{
    fdy_proc_t *p = fdy_proc_new("rollouts-pin");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char text[PATH_LEN + 64];
    s_update_handler(p, "ok.sh", "exit 0", 4, "10s", text);
    /* ui-2's key exists, its agent is not running yet. */
    s_agent_t agents[2] = {{.labels = NULL}};
    s_agent_start(p, &agents[0], "ui-1", "uijeongbu", text);
    fdy_proc_key_add(p, "ui-2", "--role", "node", "--site", "uijeongbu", NULL);
    s_admin_t a = {0};
    s_admin_open(&a, p);
    const char *args[] = {"job=update"};
    uint64_t id = s_start(&a, args, 1);
    s_node_row_t row;
    s_wait_node(&a, id, "ui-1", "healthy", &row);
    /* ui-1 had free slots when both jobs were queued, yet ui-2's job waits
     * for ui-2. */
    s_node(&a, id, "ui-2", &row);
    FDY_CHECK_STR(row.state, "started");
    foundry_client_t *c = NULL;
    FDY_CHECK_OK(fdy_proc_client_new(p, "admin", NULL, &c));
    const foundry_job_info_t *info = NULL;
    FDY_CHECK_OK(foundry_job_status(c, s_job_of(&row), &info));
    FDY_CHECK_STR(info->state_name, "queued");
    FDY_CHECK_STR(info->waiting, "pinned node ui-2 is not connected");
    foundry_client_close(&c, 1000, NULL);
    s_agent_run(p, &agents[1], "ui-2", "uijeongbu", text);
    s_ls_t ls;
    s_wait_state(&a, id, "succeeded", &ls);
    FDY_CHECK_EQ(ls.healthy, 2);

    s_finish(&a, agents, 2, &p);
}

static void
test_rollouts_label_filter_excludes_nodes(void)
{
    fdy_proc_t *p = fdy_proc_new("rollouts-labels");
    FDY_CHECK_OK(fdy_proc_broker_start(p, s_broker_args));
    char text[PATH_LEN + 64];
    s_update_handler(p, "ok.sh", "exit 0", 2, "10s", text);
    s_agent_t agents[2] = {{.labels = "gpu=a100 line=3"}, {.labels = "gpu=none"}};
    /* pa-1's agent comes after the start: the rollout waits for its labels. */
    fdy_proc_key_add(p, "pa-1", "--role", "node", "--site", "pangyo", NULL);
    s_agent_start(p, &agents[1], "pa-2", "pangyo", text);
    s_admin_t a = {0};
    s_admin_open(&a, p);
    const char *args[] = {"job=update", "label=gpu=a100"};
    uint64_t id = s_start(&a, args, 2);
    s_node_row_t waiting;
    s_wait_node(&a, id, "pa-2", "excluded", &waiting);
    s_node(&a, id, "pa-1", &waiting);
    FDY_CHECK_STR(waiting.state, "pending");
    FDY_CHECK_MSG(strstr(waiting.reason, "waiting for the node's labels") != NULL, "pa-1: %s",
                  waiting.reason);
    s_agent_run(p, &agents[0], "pa-1", "pangyo", text);
    s_ls_t ls;
    s_wait_state(&a, id, "succeeded", &ls);
    FDY_CHECK_EQ(ls.nodes, 1);
    FDY_CHECK_EQ(ls.healthy, 1);
    s_node_row_t row;
    s_node(&a, id, "pa-2", &row);
    FDY_CHECK_STR(row.state, "excluded");
    s_node(&a, id, "pa-1", &row);
    FDY_CHECK_STR(row.state, "healthy");

    s_finish(&a, agents, 2, &p);
}

/* Whether rollout.ls lists id. */
static bool
s_listed(s_admin_t *a, uint64_t id)
{
    const fdy_table_t *t = s_admin(a, "rollout.ls", NULL, 0);
    for (size_t r = 0; r < t->row_count; r++)
        if ((uint64_t) s_cell_int(t, r, "id") == id)
            return true;
    return false;
}

static void
test_rollouts_ended_removed_after_keep_newest_stays(void)
{
    fdy_proc_t *p = fdy_proc_new("rollouts-keep");
    const char *const args_keep[] = {"--set", "job_node_timeout_ms=1500", "--set",
                                     "rollout_keep_ended=1s", NULL};
    FDY_CHECK_OK(fdy_proc_broker_start(p, args_keep));
    char text[PATH_LEN + 64];
    s_update_handler(p, "ok.sh", "exit 0", 2, "10s", text);
    s_agent_t agents[1] = {{.labels = NULL}};
    s_agent_start(p, &agents[0], "ha-1", "hanam", text);
    s_admin_t a = {0};
    s_admin_open(&a, p);
    const char *args[] = {"job=update"};
    s_ls_t ls;
    uint64_t first = s_start(&a, args, 1);
    s_wait_state(&a, first, "succeeded", &ls);
    uint64_t second = s_start(&a, args, 1);
    s_wait_state(&a, second, "succeeded", &ls);
    /* A second after its end the first is removed; the newest stays. */
    int64_t deadline = fdy_clock_mono_ms() + WAIT_MS;
    while (s_listed(&a, first)) {
        FDY_CHECK_MSG(fdy_clock_mono_ms() < deadline, "rollout %" PRIu64 " still listed", first);
        fdy_proc_nap_ms(100);
    }
    FDY_CHECK_EQ(s_admin_id_try(&a, "rollout.status", first), FOUNDRY_ENOTFOUND);
    fdy_proc_nap_ms(1500);
    FDY_CHECK(s_listed(&a, second));
    const fdy_table_t *status = s_admin(&a, "status", NULL, 0);
    FDY_CHECK_EQ(s_cell_int(status, 0, "rollouts_removed"), 1);
    /* The removal is durable, and ids go on after the newest. */
    s_admin_close(&a);
    FDY_CHECK_OK(fdy_proc_broker_kill(p));
    FDY_CHECK_OK(fdy_proc_broker_restart(p));
    s_admin_open(&a, p);
    FDY_CHECK(!s_listed(&a, first));
    FDY_CHECK(s_listed(&a, second));
    uint64_t third = s_start(&a, args, 1);
    FDY_CHECK_MSG(third > second, "rollout id %" PRIu64 " after %" PRIu64, third, second);
    s_wait_state(&a, third, "succeeded", &ls);

    s_finish(&a, agents, 1, &p);
}

int
main(int argc, char **argv)
{
    const fdy_proc_test_t tests[] = {
        {"rollouts_waves_then_abort_at_failing_site",
         test_rollouts_waves_then_abort_at_failing_site},
        {"rollouts_rate_limit_shows_in_status", test_rollouts_rate_limit_shows_in_status},
        {"rollouts_pinned_job_waits_for_its_node", test_rollouts_pinned_job_waits_for_its_node},
        {"rollouts_label_filter_excludes_nodes", test_rollouts_label_filter_excludes_nodes},
        {"rollouts_pause_resume_survive_broker_kill",
         test_rollouts_pause_resume_survive_broker_kill},
        {"rollouts_gate_violation_pauses_with_metric_value_node",
         test_rollouts_gate_violation_pauses_with_metric_value_node},
        {"rollouts_ended_removed_after_keep_newest_stays",
         test_rollouts_ended_removed_after_keep_newest_stays},
    };
    return fdy_proc_run_tests("rollouts", tests, sizeof tests / sizeof tests[0], argc, argv);
}
