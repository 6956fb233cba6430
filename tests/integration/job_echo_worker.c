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

static int
s_read_all(uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(0, buf + got, len - got);
        if (n <= 0)
            return -1;
        got += (size_t) n;
    }
    return 0;
}

static void
s_write_all(const uint8_t *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t n = write(1, buf + put, len - put);
        if (n <= 0)
            exit(2);
        put += (size_t) n;
    }
}

static void
s_reply(char status, const uint8_t ids[16], const void *data, size_t len)
{
    uint8_t head[4 + 1 + 16];
    uint32_t body = (uint32_t) (1 + 16 + len);
    head[0] = (uint8_t) (body >> 24);
    head[1] = (uint8_t) (body >> 16);
    head[2] = (uint8_t) (body >> 8);
    head[3] = (uint8_t) body;
    head[4] = (uint8_t) status;
    memcpy(head + 5, ids, 16);
    s_write_all(head, sizeof head);
    s_write_all(data, len);
}

int
main(void)
{
    unsigned long served = 0;
    for (;;) {
        uint8_t len_bytes[4];
        if (s_read_all(len_bytes, 4) != 0)
            return 0; /* stdin closed: the node is stopping */
        uint32_t len = (uint32_t) len_bytes[0] << 24 | (uint32_t) len_bytes[1] << 16 |
                       (uint32_t) len_bytes[2] << 8 | len_bytes[3];
        if (len < 17 || len > 64u * 1024u * 1024u)
            return 3;
        uint8_t *body = malloc(len);
        if (!body || s_read_all(body, len) != 0) {
            free(body);
            return 3;
        }
        if (body[0] == 'J' && len >= 21) {
            const uint8_t *payload = body + 21;
            size_t payload_len = len - 21;
            served++;
            if (payload_len == 5 && memcmp(payload, "crash", 5) == 0) {
                fprintf(stderr, "echo worker: crashing on purpose\n");
                free(body);
                return 4;
            }
            if (payload_len == 5 && memcmp(payload, "sleep", 5) == 0) {
                free(body);
                continue;
            }
            if (payload_len == 8 && memcmp(payload, "progress", 8) == 0)
                s_reply('P', body + 1, "half way", 8);
            char prefix[32];
            int n = snprintf(prefix, sizeof prefix, "%lu:", served);
            uint8_t *out = malloc((size_t) n + payload_len);
            memcpy(out, prefix, (size_t) n);
            memcpy(out + n, payload, payload_len);
            s_reply('S', body + 1, out, (size_t) n + payload_len);
            free(out);
        }
        free(body); /* 'C': nothing of ours to stop */
    }
}
