/*  cmd_models.h: what the two files of `foundryctl model` share: the
 *  group's options (filled by cmd_models.c's opts_set) and the commands
 *  that go through libfoundry's model push (cmd_model_push.c: push and
 *  rollback). The group itself is cmd_models.c's fdy_cmd_models_group.
 */
#ifndef FDY_CMD_MODELS_H_INCLUDED
#define FDY_CMD_MODELS_H_INCLUDED

#include "ctl.h"

#define MODELS_LIST_MAX 16
#define MODELS_META_MAX 32

typedef struct {
    const char *dir;                      /* keygen --dir */
    const char *signers[MODELS_LIST_MAX]; /* trust --signer, repeatable */
    size_t signer_count;
    const char *threshold;             /* trust --threshold */
    const char *name;                  /* push --name */
    const char *version;               /* push --model-version */
    const char *sign[MODELS_LIST_MAX]; /* push, rollback --sign, repeatable */
    size_t sign_count;
    const char *sites[MODELS_LIST_MAX]; /* push --site, repeatable */
    size_t site_count;
    const char *labels[MODELS_LIST_MAX]; /* push --label, repeatable */
    size_t label_count;
    const char *meta[MODELS_META_MAX]; /* push --meta, repeatable */
    size_t meta_count;
    const char *expires;     /* push, rollback --expires DURATION */
    const char *chunk_size;  /* push --chunk-size SIZE */
    const char *window;      /* push --window N */
    const char *release_key; /* log --release-key */
    const char *to;          /* rollback --to VERSION */
    const char *export_file; /* trust ls --export FILE */
} models_opts_t;

/* `model push FILE` and `model rollback NAME`: FDY_CTL_EXIT_* statuses. */
int fdy_cmd_model_push(const fdy_ctl_args_t *args);
int fdy_cmd_model_rollback(const fdy_ctl_args_t *args);

#endif
