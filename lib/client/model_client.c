/*  model_client.c: libfoundry's model push (foundry.h: foundry_model_*).
 *  A push hashes the file once, asks the broker which chunks it already
 *  holds (UPLOAD_BEGIN), sends the others with a window of UPLOAD_CHUNK
 *  requests in flight (each chunk read from the file once and kept until
 *  acknowledged, so a reconnect resends it without reading it again),
 *  then PUBLISHes the signed manifest (model_manifest.c). MODEL requests
 *  carry request ids with MODEL_BIT set, in a small table of calls.
 *  Not for the node's side of the models protocol (WATCH, FETCH, REPORT).
 */
#include "model_client.h"

#include "artifact.h"
#include "client.h"
#include "clock.h"
#include "codec_models.h"
#include "files.h"
#include "model_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bits 63 (subscriptions) and 62 (jobs) belong to the other modules. */
#define MODEL_BIT    (1ull << 61)
#define OTHER_BITS   ((1ull << 63) | (1ull << 62))
#define CALLS        FOUNDRY_MODEL_WINDOW_MAX
#define REPLY_BUDGET FDY_DECODE_BUDGET(FDY_REPLY_MAX)

typedef struct {
    uint64_t request_id; /* 0: free */
    uint32_t index;      /* UPLOAD_CHUNK: its chunk */
    uint8_t *body;       /* the encoded ModelRequest (frame 1) */
    size_t body_len;
    uint8_t *chunk; /* a chunk call: the bytes (frame 2), from s_chunk_new() */
    size_t chunk_len;
    uint64_t epoch; /* connection epoch it was last sent on; 0: not sent */
    bool done;
    foundry_err err;
    uint8_t *reply; /* the MODEL_REPLY body, copied */
    size_t reply_len;
    char reason[FDY_REASON_MAX];
} s_call_t;

struct fdy_model_client {
    foundry_client_t *client; /* borrowed: it owns us */
    s_call_t calls[CALLS];
    size_t in_flight;
    uint64_t next_id;
    fdy_arena_t *arena; /* the last decoded reply */
};

/* A chunk's bytes, shared by its call (kept for a resend) and libzmq,
 * which sends them without a copy and lets go on its I/O thread. */
#define CHUNK_HEAD 64 /* the count, then the bytes on a cache line of their own */

static uint8_t *
s_chunk_new(size_t len)
{
    uint8_t *base = malloc(CHUNK_HEAD + (len ? len : 1));
    if (!base)
        return NULL;
    atomic_init((atomic_uint *) (void *) base, 1u);
    return base + CHUNK_HEAD;
}

static void
s_chunk_unref(uint8_t *data)
{
    if (!data)
        return;
    uint8_t *base = data - CHUNK_HEAD;
    if (atomic_fetch_sub((atomic_uint *) (void *) base, 1u) == 1u)
        free(base);
}

static void
s_chunk_sent(void *data, void *hint)
{
    (void) hint;
    s_chunk_unref(data);
}

fdy_model_client_t *
fdy_model_client_new(foundry_client_t *client)
{
    fdy_model_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->next_id = 1;
    self->arena = fdy_arena_new(FDY_DECODE_BUDGET(4096));
    if (!self->arena) {
        free(self);
        return NULL;
    }
    return self;
}

static void
s_call_free(fdy_model_client_t *self, s_call_t *call)
{
    free(call->body);
    s_chunk_unref(call->chunk);
    free(call->reply);
    memset(call, 0, sizeof *call);
    self->in_flight--;
}

void
fdy_model_client_destroy(fdy_model_client_t **self_p)
{
    fdy_model_client_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < CALLS; i++)
        if (self->calls[i].request_id)
            s_call_free(self, &self->calls[i]);
    fdy_arena_destroy(&self->arena);
    free(self);
    *self_p = NULL;
}

/* ---- calls ------------------------------------------------------------- */

bool
fdy_model_client_owns(const fdy_envelope_t *env)
{
    if (!(env->request_id & MODEL_BIT) || (env->request_id & OTHER_BITS))
        return false;
    return env->kind == FDY_KIND_MODEL_REPLY || env->kind == FDY_KIND_ERROR;
}

static s_call_t *
s_find(fdy_model_client_t *self, uint64_t request_id)
{
    s_call_t *call = &self->calls[(request_id & ~MODEL_BIT) % CALLS];
    return call->request_id == request_id ? call : NULL;
}

void
fdy_model_client_on_reply(fdy_model_client_t *self, const fdy_envelope_t *env)
{
    s_call_t *call = s_find(self, env->request_id);
    if (!call || call->done)
        return; /* a resend's second answer, or a call given up */
    call->done = true;
    if (env->kind == FDY_KIND_ERROR) {
        /* A broker that answers ERROR with code 0 still refused. */
        call->err = env->error_code != FOUNDRY_OK ? env->error_code : FOUNDRY_EPROTO;
        snprintf(call->reason, sizeof call->reason, "%s",
                 env->error_reason && *env->error_reason ? env->error_reason
                                                         : foundry_strerror(call->err));
        return;
    }
    call->err = FOUNDRY_OK;
    if (env->model_len) {
        call->reply = malloc(env->model_len);
        if (!call->reply) {
            call->err = FOUNDRY_ENOMEM;
            snprintf(call->reason, sizeof call->reason, "out of memory for a model reply");
            return;
        }
        memcpy(call->reply, env->model, env->model_len);
        call->reply_len = env->model_len;
    }
}

/* Sends call when the connection is up; a call not sent (or sent on an
 * earlier connection, whose broker side may be gone) is sent again by
 * s_send_due(). */
static void
s_send(fdy_model_client_t *self, s_call_t *call)
{
    fdy_conn_t *conn = fdy_client_conn(self->client);
    if (fdy_conn_state(conn) != FDY_CONN_UP)
        return;
    fdy_envelope_t env;
    memset(&env, 0, sizeof env);
    env.kind = FDY_KIND_MODEL;
    env.request_id = call->request_id;
    uint8_t *head = NULL;
    size_t head_len = 0;
    if (fdy_codec_encode_envelope(&env, &head, &head_len) != FOUNDRY_OK)
        return;
    fdy_slice_t frames[3] = {
        {head, head_len}, {call->body, call->body_len}, {call->chunk, call->chunk_len}};
    foundry_err err;
    if (call->chunk) {
        atomic_fetch_add((atomic_uint *) (void *) (call->chunk - CHUNK_HEAD), 1u);
        void *hints[3] = {NULL, NULL, call->chunk};
        err = fdy_conn_send_zero_copy(conn, frames, hints, 3, s_chunk_sent);
    } else {
        err = fdy_conn_send(conn, frames, 2);
    }
    if (err == FOUNDRY_OK)
        call->epoch = fdy_conn_epoch(conn);
    free(head);
}

static void
s_send_due(fdy_model_client_t *self)
{
    uint64_t epoch = fdy_conn_epoch(fdy_client_conn(self->client));
    for (size_t i = 0; i < CALLS; i++) {
        s_call_t *call = &self->calls[i];
        if (call->request_id && !call->done && call->epoch != epoch)
            s_send(self, call);
    }
}

/* Encodes req into a new call (chunk, when not NULL, is taken over on
 * success) and sends it. */
static foundry_err
s_start(fdy_model_client_t *self, const fdy_model_request_t *req, uint8_t *chunk, size_t chunk_len,
        s_call_t **call_out)
{
    if (self->in_flight == CALLS)
        return fdy_client_fail(self->client, FOUNDRY_EINVAL, "model calls table full");
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    uint8_t *body = NULL;
    size_t body_len = 0;
    foundry_err err = fdy_codec_model_request_encode(req, &body, &body_len, &reason);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(self->client, err, "model request: %s",
                               reason.text[0] ? reason.text : foundry_strerror(err));
    s_call_t *call;
    uint64_t id;
    do {
        id = MODEL_BIT | (self->next_id++ & ~(MODEL_BIT | OTHER_BITS));
        call = &self->calls[(id & ~MODEL_BIT) % CALLS];
    } while (call->request_id != 0 || id == MODEL_BIT);
    memset(call, 0, sizeof *call);
    call->request_id = id;
    call->index = req->index;
    call->body = body;
    call->body_len = body_len;
    call->chunk = chunk;
    call->chunk_len = chunk_len;
    self->in_flight++;
    s_send(self, call);
    *call_out = call;
    return FOUNDRY_OK;
}

/* Pumps until some call is done. The deadline is ack_timeout_ms after
 * *progress_ms, the last time the broker answered. */
static foundry_err
s_wait_any(fdy_model_client_t *self, int64_t progress_ms)
{
    foundry_client_t *client = self->client;
    int64_t deadline = progress_ms + fdy_client_ack_timeout_ms(client);
    for (;;) {
        s_send_due(self);
        for (size_t i = 0; i < CALLS; i++)
            if (self->calls[i].request_id && self->calls[i].done)
                return FOUNDRY_OK;
        if (fdy_client_refused(client))
            return fdy_client_fail(client, FOUNDRY_EAUTH, "the broker refused our key");
        int64_t left = deadline - fdy_clock_mono_ms();
        if (left <= 0)
            return fdy_client_fail(client, FOUNDRY_ETIMEDOUT,
                                   "no answer to %zu model requests within %u ms", self->in_flight,
                                   fdy_client_ack_timeout_ms(client));
        fdy_client_pump(client, left < 100 ? (int) left : 100);
    }
}

static void
s_drop_all(fdy_model_client_t *self)
{
    for (size_t i = 0; i < CALLS; i++)
        if (self->calls[i].request_id)
            s_call_free(self, &self->calls[i]);
}

/* One request, waited for; its reply decoded into self->arena. */
static foundry_err
s_call(fdy_model_client_t *self, const fdy_model_request_t *req, fdy_model_reply_t *reply)
{
    s_call_t *call;
    foundry_err err = s_start(self, req, NULL, 0, &call);
    if (err != FOUNDRY_OK)
        return err;
    err = s_wait_any(self, fdy_clock_mono_ms());
    if (err != FOUNDRY_OK) {
        s_drop_all(self);
        return err;
    }
    err = call->err;
    if (err != FOUNDRY_OK) {
        err = fdy_client_fail(self->client, err, "%s", call->reason);
        s_call_free(self, call);
        return err;
    }
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_arena_reset(self->arena, FDY_DECODE_BUDGET(call->reply_len));
    err = fdy_codec_model_reply_decode(call->reply, call->reply_len, self->arena, reply, &reason);
    /* The arena holds the decoded reply, which may borrow from the bytes:
     * keep them until the next call by moving them out of the slot. */
    if (err != FOUNDRY_OK)
        err = fdy_client_fail(self->client, FOUNDRY_EPROTO, "bad model reply: %s",
                              reason.text[0] ? reason.text : foundry_strerror(err));
    return err; /* the caller frees the call with s_reply_done() */
}

/* Frees the call s_call() left holding the reply bytes. */
static void
s_reply_done(fdy_model_client_t *self)
{
    s_drop_all(self);
}

/* ---- a push ------------------------------------------------------------ */

typedef struct {
    fdy_model_client_t *self;
    const foundry_model_push_opts_t *opts;
    foundry_model_progress_fn *progress_fn;
    void *user;
    foundry_model_progress_t progress;
    fdy_model_artifact_t artifact;
    uint8_t *hashes; /* owned when the file was hashed */
    uint32_t window;
} s_push_t;

static void
s_report(s_push_t *push, foundry_model_phase phase)
{
    push->progress.phase = phase;
    if (push->progress_fn)
        push->progress_fn(&push->progress, push->user);
}

static void
s_on_hashed(uint64_t done, uint64_t total, void *user)
{
    s_push_t *push = user;
    push->progress.done_bytes = done;
    push->progress.total_bytes = total;
    s_report(push, FOUNDRY_MODEL_HASHING);
}

static foundry_err
s_hash(s_push_t *push, uint32_t chunk_size)
{
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    fdy_model_artifact_t *a = &push->artifact;
    a->chunk_size = chunk_size;
    foundry_err err = fdy_artifact_hash_file(push->opts->file, chunk_size, &a->size, &push->hashes,
                                             &a->chunk_count, a->id, s_on_hashed, push, &reason);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(push->self->client, err, "%s",
                               reason.text[0] ? reason.text : foundry_strerror(err));
    a->chunk_hashes = push->hashes;
    push->progress.total_bytes = a->size;
    push->progress.chunk_count = a->chunk_count;
    return FOUNDRY_OK;
}

static bool
s_held(const uint8_t *have, size_t have_len, size_t index)
{
    return index / 8 < have_len && (have[index / 8] & (1u << (index % 8)));
}

/* Reads chunk index of the file into a new buffer. */
static foundry_err
s_read_chunk(s_push_t *push, int fd, size_t index, uint8_t **out, size_t *len_out)
{
    const fdy_model_artifact_t *a = &push->artifact;
    size_t len = fdy_artifact_chunk_len(a->size, a->chunk_size, index);
    uint8_t *buf = s_chunk_new(len);
    if (!buf)
        return fdy_client_fail(push->self->client, FOUNDRY_ENOMEM, "out of memory for a chunk");
    if (fdy_pread_all(fd, buf, len, (off_t) index * (off_t) a->chunk_size) != FOUNDRY_OK) {
        int error = errno;
        s_chunk_unref(buf);
        if (error == 0)
            return fdy_client_fail(push->self->client, FOUNDRY_EIO,
                                   "%s: shorter than when it was hashed (changed?)",
                                   push->opts->file);
        return fdy_client_fail(push->self->client, FOUNDRY_EIO, "%s: %s", push->opts->file,
                               strerror(error));
    }
    *out = buf;
    *len_out = len;
    return FOUNDRY_OK;
}

/* Reads and hashes chunk index into a new buffer. */
static foundry_err
s_read_hashed(s_push_t *push, int fd, size_t index, uint8_t **out, size_t *len_out)
{
    foundry_err err = s_read_chunk(push, fd, index, out, len_out);
    if (err == FOUNDRY_OK)
        fdy_artifact_hash_chunk(*out, *len_out, push->hashes + index * FDY_MODEL_HASH_LEN);
    return err;
}

/* Takes the answers of done chunk calls: the first refusal ends the upload. */
static foundry_err
s_collect(s_push_t *push)
{
    fdy_model_client_t *self = push->self;
    foundry_err err = FOUNDRY_OK;
    for (size_t i = 0; i < CALLS; i++) {
        s_call_t *call = &self->calls[i];
        if (!call->request_id || !call->done)
            continue;
        if (call->err != FOUNDRY_OK && err == FOUNDRY_OK) {
            err = fdy_client_fail(self->client, call->err, "%s", call->reason);
        } else if (call->err == FOUNDRY_OK) {
            push->progress.chunks_sent++;
            push->progress.sent_bytes += call->chunk_len;
            push->progress.done_bytes += call->chunk_len;
            s_report(push, FOUNDRY_MODEL_UPLOADING);
        }
        s_call_free(self, call);
    }
    return err;
}

/* Where the chunks a windowed send takes come from: the file, and what the
 * broker holds already. A stream's chunks carry their hashes. */
typedef struct {
    int fd;
    const uint8_t *have;
    size_t have_len;
    const uint8_t *stream_id; /* NULL: an upload's UPLOAD_CHUNKs */
    uint8_t *first;           /* a stream's chunk 0, read and hashed already */
} s_source_t;

/* The call for chunk index into *req and *chunk; *chunk NULL: the broker
 * holds it, nothing to send. A stream hashes every chunk, held or not:
 * the artifact id needs them all. */
static foundry_err
s_next_chunk(s_push_t *push, s_source_t *src, size_t index, fdy_model_request_t *req,
             uint8_t **chunk, size_t *len)
{
    const fdy_model_artifact_t *a = &push->artifact;
    *chunk = NULL;
    bool held = s_held(src->have, src->have_len, index);
    if (!src->stream_id) {
        *req = (fdy_model_request_t){
            .op = FDY_MODEL_UPLOAD_CHUNK, .artifact_hash = a->id, .index = (uint32_t) index};
        return held ? FOUNDRY_OK : s_read_chunk(push, src->fd, index, chunk, len);
    }
    foundry_err err = FOUNDRY_OK;
    if (index == 0) {
        *chunk = src->first;
        *len = fdy_artifact_chunk_len(a->size, a->chunk_size, 0);
        src->first = NULL;
    } else {
        err = s_read_hashed(push, src->fd, index, chunk, len);
    }
    if (err == FOUNDRY_OK && held) {
        s_chunk_unref(*chunk); /* hashed for the artifact id; UPLOAD_BEGIN checks it */
        *chunk = NULL;
    }
    *req = (fdy_model_request_t){.op = FDY_MODEL_STREAM_CHUNK,
                                 .artifact_hash = src->stream_id,
                                 .index = (uint32_t) index,
                                 .chunk_hashes = push->hashes + index * FDY_MODEL_HASH_LEN,
                                 .chunk_count = 1};
    return err;
}

/* Sends every chunk src does not hold, with the push's window in flight;
 * the first refusal ends it. */
static foundry_err
s_send_chunks(s_push_t *push, s_source_t *src)
{
    fdy_model_client_t *self = push->self;
    const fdy_model_artifact_t *a = &push->artifact;
    foundry_err err = FOUNDRY_OK;
    size_t next = 0;
    int64_t progress_ms = fdy_clock_mono_ms();
    while (err == FOUNDRY_OK && (next < a->chunk_count || self->in_flight > 0)) {
        while (err == FOUNDRY_OK && next < a->chunk_count && self->in_flight < push->window) {
            fdy_model_request_t req;
            uint8_t *chunk = NULL;
            size_t len = 0;
            err = s_next_chunk(push, src, next++, &req, &chunk, &len);
            if (err != FOUNDRY_OK || !chunk)
                continue;
            s_call_t *call;
            err = s_start(self, &req, chunk, len, &call);
            if (err != FOUNDRY_OK)
                s_chunk_unref(chunk);
        }
        if (err != FOUNDRY_OK || self->in_flight == 0)
            break;
        err = s_wait_any(self, progress_ms);
        if (err == FOUNDRY_OK) {
            progress_ms = fdy_clock_mono_ms();
            err = s_collect(push);
        }
    }
    s_chunk_unref(src->first);
    src->first = NULL;
    /* Chunks still in flight may be stored or not: the next push asks. */
    s_drop_all(self);
    return err;
}

/* UPLOAD_BEGIN with every hash, then the chunks the broker lacks. After
 * a stream (streamed) that is normally none, and what the broker holds
 * was counted already. */
static foundry_err
s_upload(s_push_t *push, bool streamed)
{
    fdy_model_client_t *self = push->self;
    const fdy_model_artifact_t *a = &push->artifact;
    fdy_model_request_t req = {.op = FDY_MODEL_UPLOAD_BEGIN,
                               .artifact_hash = a->id,
                               .size = a->size,
                               .chunk_size = a->chunk_size,
                               .chunk_hashes = a->chunk_hashes,
                               .chunk_count = a->chunk_count};
    fdy_model_reply_t reply;
    foundry_err err = s_call(self, &req, &reply);
    if (err != FOUNDRY_OK) {
        s_reply_done(self);
        return err;
    }
    size_t have_len = reply.have_len;
    uint8_t *have = have_len ? malloc(have_len) : NULL;
    if (have_len && !have) {
        s_reply_done(self);
        return fdy_client_fail(self->client, FOUNDRY_ENOMEM, "out of memory");
    }
    if (have_len)
        memcpy(have, reply.have, have_len);
    s_reply_done(self);
    push->progress.done_bytes = 0; /* from here: bytes the broker holds */
    for (size_t i = 0; i < a->chunk_count; i++) {
        if (s_held(have, have_len, i)) {
            push->progress.chunks_held += !streamed;
            push->progress.done_bytes += fdy_artifact_chunk_len(a->size, a->chunk_size, i);
        }
    }
    s_report(push, FOUNDRY_MODEL_UPLOADING);
    s_source_t src = {.fd = open(push->opts->file, O_RDONLY | O_CLOEXEC),
                      .have = have,
                      .have_len = have_len};
    if (src.fd < 0)
        err = fdy_client_fail(self->client, FOUNDRY_EIO, "%s: %s", push->opts->file,
                              strerror(errno));
    else
        err = s_send_chunks(push, &src);
    if (src.fd >= 0)
        close(src.fd);
    free(have);
    return err;
}

/* ---- a streamed push (docs/models.md "Streamed push") -------------------- */

/* STREAM_BEGIN for the stream of chunk 0 (hash first): *have_out is what
 * the stream holds (caller frees); *first_known: hash the file first. */
static foundry_err
s_stream_begin(s_push_t *push, const uint8_t stream_id[32], uint8_t **have_out,
               size_t *have_len_out, bool *first_known)
{
    fdy_model_client_t *self = push->self;
    const fdy_model_artifact_t *a = &push->artifact;
    fdy_model_request_t req = {.op = FDY_MODEL_STREAM_BEGIN,
                               .artifact_hash = stream_id,
                               .size = a->size,
                               .chunk_size = a->chunk_size,
                               .chunk_hashes = push->hashes,
                               .chunk_count = 1};
    fdy_model_reply_t reply;
    foundry_err err = s_call(self, &req, &reply);
    if (err == FOUNDRY_OK && reply.have_len) {
        *have_out = malloc(reply.have_len);
        if (*have_out)
            memcpy(*have_out, reply.have, reply.have_len);
        else
            err = fdy_client_fail(self->client, FOUNDRY_ENOMEM, "out of memory");
    }
    *have_len_out = *have_out ? reply.have_len : 0;
    *first_known = err == FOUNDRY_OK && reply.first_known;
    s_reply_done(self);
    return err;
}

/* A fresh push: chunk 0 names the stream, the others follow as they are
 * hashed, and UPLOAD_BEGIN then finds them held. *streamed false: hash
 * first instead (an empty or odd file, whose errors s_hash() words, or a
 * first chunk the broker holds for another artifact). */
static foundry_err
s_stream(s_push_t *push, uint32_t chunk_size, bool *streamed)
{
    *streamed = false;
    fdy_model_client_t *self = push->self;
    fdy_model_artifact_t *a = &push->artifact;
    int fd = open(push->opts->file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
        chunk_size < FOUNDRY_MODEL_CHUNK_MIN || chunk_size > FOUNDRY_MODEL_CHUNK_MAX ||
        fdy_artifact_chunk_count((uint64_t) st.st_size, chunk_size) > FDY_MODEL_CHUNKS_MAX) {
        if (fd >= 0)
            close(fd);
        return FOUNDRY_OK;
    }
    a->size = (uint64_t) st.st_size;
    a->chunk_size = chunk_size;
    a->chunk_count = fdy_artifact_chunk_count(a->size, chunk_size);
    push->hashes = malloc(a->chunk_count * FDY_MODEL_HASH_LEN);
    uint8_t *first = NULL, *have = NULL;
    size_t len = 0, have_len = 0;
    bool first_known = false;
    uint8_t stream_id[FDY_MODEL_HASH_LEN];
    foundry_err err = push->hashes ? s_read_hashed(push, fd, 0, &first, &len)
                                   : fdy_client_fail(self->client, FOUNDRY_ENOMEM, "out of memory");
    if (err == FOUNDRY_OK) {
        fdy_artifact_stream_id(a->size, chunk_size, push->hashes, stream_id);
        err = s_stream_begin(push, stream_id, &have, &have_len, &first_known);
    }
    if (err == FOUNDRY_OK && !first_known) {
        *streamed = true;
        push->progress.total_bytes = a->size;
        push->progress.chunk_count = a->chunk_count;
        for (size_t i = 0; i < a->chunk_count; i++) {
            if (s_held(have, have_len, i)) {
                push->progress.chunks_held++;
                push->progress.done_bytes += fdy_artifact_chunk_len(a->size, chunk_size, i);
            }
        }
        s_report(push, FOUNDRY_MODEL_UPLOADING);
        /* Each chunk leaves as soon as it is hashed: the bytes sent are
         * the bytes hashed, and no pass over the file comes first. */
        s_source_t src = {.fd = fd,
                          .have = have,
                          .have_len = have_len,
                          .stream_id = stream_id,
                          .first = first};
        err = s_send_chunks(push, &src);
        first = NULL;
    }
    s_chunk_unref(first);
    free(have);
    close(fd);
    if (err == FOUNDRY_OK && *streamed) {
        fdy_artifact_id(a->size, chunk_size, push->hashes, a->chunk_count, a->id);
        a->chunk_hashes = push->hashes;
    } else {
        free(push->hashes);
        push->hashes = NULL;
        push->progress = (foundry_model_progress_t){0};
    }
    return err;
}

static foundry_err
s_publish(s_push_t *push, const fdy_model_manifest_t *base, fdy_sign_key_t *const *keys,
          foundry_model_pushed_t *pushed)
{
    fdy_model_client_t *self = push->self;
    const foundry_model_push_opts_t *opts = push->opts;
    fdy_model_manifest_t m;
    fdy_model_manifest_fill(opts, &push->artifact, base, fdy_clock_wall_ns() / 1000000u, &m);
    fdy_model_signed_buf_t signed_buf;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_model_manifest_sign(&m, (const fdy_sign_key_t *const *) keys,
                                              opts->sign_key_count, &signed_buf, &reason);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(self->client, err, "manifest: %s",
                               reason.text[0] ? reason.text : foundry_strerror(err));
    s_report(push, FOUNDRY_MODEL_PUBLISHING);
    fdy_model_request_t req = {.op = FDY_MODEL_PUBLISH,
                               .signed_manifest = fdy_model_signed_view(&signed_buf)};
    fdy_model_reply_t reply;
    err = s_call(self, &req, &reply);
    fdy_model_signed_buf_free(&signed_buf);
    if (err == FOUNDRY_OK && !reply.entry)
        err = fdy_client_fail(self->client, FOUNDRY_EPROTO,
                              "the broker accepted the manifest without a release entry");
    fdy_model_entry_t entry;
    if (err == FOUNDRY_OK) {
        fdy_reason_clear(&reason);
        err = fdy_codec_model_entry_decode(reply.entry->entry, reply.entry->entry_len, self->arena,
                                           &entry, &reason);
        if (err != FOUNDRY_OK)
            err =
                fdy_client_fail(self->client, FOUNDRY_EPROTO, "bad release entry: %s", reason.text);
    }
    if (err == FOUNDRY_OK) {
        pushed->version = reply.version ? reply.version : entry.version;
        pushed->log_index = entry.index;
    }
    s_reply_done(self);
    return err;
}

static fdy_model_client_t *
s_of(foundry_client_t *client)
{
    return client ? fdy_client_models(client) : NULL;
}

/* About FOUNDRY_MODEL_INFLIGHT_DEFAULT bytes in flight: with 8 chunks of
 * 1 MiB the push waited on the broker's fsync turns (215 against 253
 * MiB/s with 32), and a window in chunks alone would put 512 MiB in
 * flight with the largest chunks. */
static uint32_t
s_default_window(uint32_t chunk_size)
{
    uint32_t size = chunk_size ? chunk_size : FOUNDRY_MODEL_CHUNK_DEFAULT;
    uint32_t window = FOUNDRY_MODEL_INFLIGHT_DEFAULT / size;
    if (window < 2)
        return 2;
    return window > FOUNDRY_MODEL_WINDOW_MAX ? FOUNDRY_MODEL_WINDOW_MAX : window;
}

foundry_err
foundry_model_push(foundry_client_t *client, const foundry_model_push_opts_t *opts,
                   foundry_model_progress_fn *progress, void *user,
                   foundry_model_pushed_t *pushed_out)
{
    fdy_model_client_t *self = s_of(client);
    if (!self)
        return FOUNDRY_EINVAL;
    if (fdy_client_dispatching(client))
        return fdy_client_fail(client, FOUNDRY_EINVAL, "model push inside a handler");
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_model_opts_check(opts, &reason);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(client, err, "%s", reason.text);
    /* Keys first: a bad key file should not cost a pass over a big file. */
    fdy_sign_key_t **keys = NULL;
    err = fdy_model_keys_load(opts, &keys, &reason);
    if (err != FOUNDRY_OK)
        return fdy_client_fail(client, err, "%s", reason.text);

    s_push_t push = {.self = self, .opts = opts, .progress_fn = progress, .user = user};
    push.window = opts->window ? opts->window : s_default_window(opts->chunk_size);
    foundry_model_pushed_t pushed;
    memset(&pushed, 0, sizeof pushed);
    fdy_arena_t *base_arena = NULL;
    fdy_model_manifest_t base;
    bool rollback = opts->rollback != 0;
    if (rollback) {
        base_arena = fdy_arena_new(FDY_DECODE_BUDGET(opts->base_manifest_len));
        err = base_arena ? fdy_model_base_decode(opts, base_arena, &base, &push.artifact, &reason)
                         : fdy_reason_set(&reason, FOUNDRY_ENOMEM, "out of memory");
        if (err != FOUNDRY_OK)
            err = fdy_client_fail(client, err, "%s", reason.text);
        push.progress.total_bytes = push.artifact.size;
        push.progress.chunk_count = push.artifact.chunk_count;
    } else {
        uint32_t chunk_size = opts->chunk_size ? opts->chunk_size : FOUNDRY_MODEL_CHUNK_DEFAULT;
        bool streamed = false;
        err = s_stream(&push, chunk_size, &streamed);
        if (err == FOUNDRY_OK && !streamed)
            err = s_hash(&push, chunk_size);
        if (err == FOUNDRY_OK)
            err = s_upload(&push, streamed);
    }
    if (err == FOUNDRY_OK)
        err = s_publish(&push, rollback ? &base : NULL, keys, &pushed);
    if (err == FOUNDRY_OK && pushed_out) {
        memcpy(pushed.artifact, push.artifact.id, sizeof pushed.artifact);
        pushed.size = push.artifact.size;
        pushed.chunk_count = push.artifact.chunk_count;
        pushed.chunks_held = push.progress.chunks_held;
        pushed.chunks_sent = push.progress.chunks_sent;
        pushed.bytes_sent = push.progress.sent_bytes;
        *pushed_out = pushed;
    }
    fdy_arena_destroy(&base_arena);
    free(push.hashes);
    fdy_model_keys_free(&keys, opts->sign_key_count);
    return err;
}

foundry_err
foundry_model_keygen(const char *dir, const char *name, char pub_hex_out[65])
{
    if (!dir || !name)
        return FOUNDRY_EINVAL;
    uint8_t pub[FDY_MODEL_KEY_LEN];
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    foundry_err err = fdy_sign_keygen(dir, name, pub, &reason);
    if (err == FOUNDRY_OK && pub_hex_out)
        sodium_bin2hex(pub_hex_out, 65, pub, sizeof pub);
    return err;
}
