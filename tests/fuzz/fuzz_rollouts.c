/*  fuzz_rollouts.c: what the rollouts service reads from outside: a stored
 *  rollout record (broker/store/store_rollouts.c) and rollout.start's text
 *  (wave SPECs, gates, options; broker/rollouts/rollout_plan.c,
 *  rollout_options.c). The first byte picks the reader. A record that
 *  decodes survives a re-encode byte for byte; parsed text obeys its limits.
 */
#include "rollout_options.h"
#include "rollout_plan.h"
#include "store_rollouts.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
s_record(const uint8_t *data, size_t size)
{
    fdy_rollout_record_t rec;
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    if (fdy_store_rollouts_decode(data, size, &rec, &reason) == FOUNDRY_OK) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (fdy_store_rollouts_encode(&rec, &buf, &len, &reason) != FOUNDRY_OK || len != size ||
            memcmp(buf, data, size) != 0)
            abort();
        free(buf);
        fdy_rollout_options_t options;
        (void) fdy_rollout_options_parse((const char *const *) rec.args, rec.arg_count, &options,
                                         &reason);
    }
    fdy_store_rollouts_record_clear(&rec);
}

static void
s_text(uint8_t mode, const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    fdy_reason_t reason;
    fdy_reason_clear(&reason);
    if (mode == 1) {
        fdy_rollout_waves_t waves;
        if (fdy_rollout_plan_parse_waves(text, &waves, &reason) == FOUNDRY_OK) {
            if (waves.count == 0 || waves.count > FDY_ROLLOUT_WAVES_MAX)
                abort();
            fdy_rollout_target_t nodes[3] = {{"a", "siheung"}, {"b", "hanam"}, {"c", "pangyo"}};
            uint32_t wave[3];
            fdy_rollout_plan_assign(&waves, nodes, 3, wave);
            for (size_t i = 0; i < 3; i++)
                if (wave[i] != FDY_ROLLOUT_NO_WAVE && wave[i] >= waves.count)
                    abort();
        }
    } else if (mode == 2) {
        fdy_rollout_gate_t gate;
        if (fdy_rollout_plan_parse_gate(text, &gate, &reason) == FOUNDRY_OK) {
            char back[FDY_ROLLOUT_METRIC_MAX + 64];
            fdy_rollout_gate_text(&gate, back, sizeof back);
            fdy_rollout_gate_t again;
            if (fdy_rollout_plan_parse_gate(back, &again, &reason) != FOUNDRY_OK ||
                strcmp(again.metric, gate.metric) != 0 || again.op != gate.op ||
                again.bound != gate.bound)
                abort();
        }
    } else {
        const char *args[FDY_ROLLOUT_ARGS_MAX];
        size_t count = 0;
        for (char *at = text; at && count < FDY_ROLLOUT_ARGS_MAX;) {
            args[count++] = at;
            at = strchr(at, '\n');
            if (at)
                *at++ = '\0';
        }
        fdy_rollout_options_t options;
        (void) fdy_rollout_options_parse(args, count, &options, &reason);
    }
    free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0] % 4;
    if (mode == 0)
        s_record(data + 1, size - 1);
    else
        s_text(mode, data + 1, size - 1);
    return 0;
}
