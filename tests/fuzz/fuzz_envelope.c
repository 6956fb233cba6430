/*  fuzz_envelope.c: fdy_codec_decode_envelope() on untrusted frame-0 bytes.
 *  Every decoded pointer is walked (so ASan sees a bad one), and whatever
 *  decodes must survive an encode/decode round trip unchanged.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte a decoded envelope points to; returns a checksum so
 * the reads are not optimised away. */
static size_t
s_walk(const fdy_envelope_t *env)
{
    size_t sum = 0;
    switch (env->kind) {
    case FDY_KIND_PUBLISH_ACK:
        for (size_t i = 0; i < env->ack.count; i++)
            sum += (size_t) env->ack.seqs[i] + env->ack.stream_refs[i];
        for (size_t i = 0; i < env->ack.stream_count; i++)
            sum += strlen(env->ack.streams[i]);
        for (size_t i = 0; i < env->ack.duplicate_count; i++)
            sum += env->ack.duplicates[i];
        for (size_t i = 0; i < env->ack.error_count; i++)
            sum += env->ack.errors[i].index + strlen(env->ack.errors[i].reason);
        break;
    case FDY_KIND_ERROR: sum += strlen(env->error_reason) + (size_t) env->error_code; break;
    case FDY_KIND_ADMIN:
        sum += strlen(env->command);
        for (size_t i = 0; i < env->arg_count; i++)
            sum += strlen(env->args[i]);
        break;
    case FDY_KIND_ADMIN_REPLY:
        for (size_t i = 0; i < env->table.column_count; i++)
            sum += strlen(env->table.columns[i]) + (size_t) env->table.types[i];
        for (size_t i = 0; i < env->table.row_count * env->table.column_count; i++)
            for (size_t j = 0; j < env->table.cells[i].len; j++)
                sum += env->table.cells[i].data[j];
        break;
    default: break;
    }
    return sum;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fdy_arena_t *arena = fdy_arena_new(FDY_DECODE_BUDGET(size));
    if (!arena)
        return 0;
    fdy_reason_t reason;
    fdy_envelope_t env;
    foundry_err err = fdy_codec_decode_envelope(data, size, arena, &env, &reason);
    if (err != FOUNDRY_OK) {
        if (reason.text[0] == '\0')
            abort(); /* every refusal names its reason */
        fdy_arena_destroy(&arena);
        return 0;
    }
    size_t sum = s_walk(&env);

    uint8_t *buf = NULL;
    size_t len = 0;
    if (fdy_codec_encode_envelope(&env, &buf, &len) != FOUNDRY_OK)
        abort(); /* what decodes must encode */
    fdy_arena_t *arena2 = fdy_arena_new(FDY_DECODE_BUDGET(size));
    fdy_envelope_t again;
    if (!arena2 || fdy_codec_decode_envelope(buf, len, arena2, &again, &reason) != FOUNDRY_OK)
        abort();
    if (again.kind != env.kind || again.request_id != env.request_id || again.count != env.count ||
        s_walk(&again) != sum)
        abort();
    free(buf);
    fdy_arena_destroy(&arena2);
    fdy_arena_destroy(&arena);
    return 0;
}
