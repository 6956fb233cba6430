/*  job_echo_worker.c: a worker-mode job handler for the tests and the
 *  bench (docs/jobs.md, "worker mode"): answers each job with
 *  "<jobs served by this process>:<payload>", so a test sees that the
 *  process (its state) is kept between jobs. A payload "crash" makes it
 *  exit mid-job; "progress" sends a progress record first; "sleep" never
 *  answers. Speaks only the framing; no Foundry library.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Input as it comes (any number of frames per read), and the answers of
 * what one read brought, written together: a job costs no syscall of its
 * own when many arrive at once. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} s_buf_t;

static void
s_reserve(s_buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more)
        cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data)
        exit(2);
    b->cap = cap;
}

static void
s_flush(s_buf_t *out)
{
    size_t put = 0;
    while (put < out->len) {
        ssize_t n = write(1, out->data + put, out->len - put);
        if (n <= 0)
            exit(2);
        put += (size_t) n;
    }
    out->len = 0;
}

static void
s_reply(s_buf_t *out, char status, const uint8_t ids[16], const char *prefix, const void *data,
        size_t len)
{
    size_t prefix_len = strlen(prefix);
    uint32_t body = (uint32_t) (1 + 16 + prefix_len + len);
    s_reserve(out, 4 + body);
    uint8_t *at = out->data + out->len;
    at[0] = (uint8_t) (body >> 24);
    at[1] = (uint8_t) (body >> 16);
    at[2] = (uint8_t) (body >> 8);
    at[3] = (uint8_t) body;
    at[4] = (uint8_t) status;
    memcpy(at + 5, ids, 16);
    memcpy(at + 21, prefix, prefix_len);
    if (len)
        memcpy(at + 21 + prefix_len, data, len);
    out->len += 4 + body;
}

/* Serves one frame (body of len bytes): -1 to go on, or the status the
 * process exits with. */
static int
s_serve(s_buf_t *out, const uint8_t *body, uint32_t len, unsigned long *served)
{
    if (body[0] != 'J' || len < 21)
        return -1; /* 'C': nothing of ours to stop */
    const uint8_t *payload = body + 21;
    size_t payload_len = len - 21;
    (*served)++;
    if (payload_len == 5 && memcmp(payload, "crash", 5) == 0) {
        s_flush(out);
        fprintf(stderr, "echo worker: crashing on purpose\n");
        return 4;
    }
    if (payload_len == 5 && memcmp(payload, "sleep", 5) == 0)
        return -1;
    if (payload_len == 8 && memcmp(payload, "progress", 8) == 0)
        s_reply(out, 'P', body + 1, "", "half way", 8);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "%lu:", *served);
    s_reply(out, 'S', body + 1, prefix, payload, payload_len);
    return -1;
}

/* Serves what stdin brings until it ends (0) or a frame says stop. */
static int
s_run(s_buf_t *in, s_buf_t *out)
{
    unsigned long served = 0;
    size_t off = 0;
    for (;;) {
        s_reserve(in, 65536);
        ssize_t n = read(0, in->data + in->len, in->cap - in->len);
        if (n <= 0)
            return 0; /* stdin closed: the node is stopping */
        in->len += (size_t) n;
        for (;;) {
            if (in->len - off < 4)
                break;
            const uint8_t *at = in->data + off;
            uint32_t len =
                (uint32_t) at[0] << 24 | (uint32_t) at[1] << 16 | (uint32_t) at[2] << 8 | at[3];
            if (len < 17 || len > 64u * 1024u * 1024u)
                return 3;
            if (in->len - off < 4u + len) {
                s_reserve(in, 4u + len); /* a frame larger than what is free */
                break;
            }
            int status = s_serve(out, in->data + off + 4, len, &served);
            if (status >= 0)
                return status;
            off += 4u + len;
        }
        s_flush(out);
        /* Keep the unfinished frame at the front. */
        memmove(in->data, in->data + off, in->len - off);
        in->len -= off;
        off = 0;
    }
}

int
main(void)
{
    s_buf_t in = {0}, out = {0};
    int status = s_run(&in, &out);
    free(in.data);
    free(out.data);
    return status;
}
