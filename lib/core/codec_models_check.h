/*  codec_models_check.h: the shape rules of each model message, shared by
 *  the model codec's encoders and decoders (lib/core only; callers use the
 *  codec). Each returns FOUNDRY_OK, or FOUNDRY_EINVAL / FOUNDRY_EPROTO /
 *  FOUNDRY_ETOOBIG with a reason naming the field.
 */
#ifndef FDY_CODEC_MODELS_CHECK_H_INCLUDED
#define FDY_CODEC_MODELS_CHECK_H_INCLUDED

#include "codec_models.h"

foundry_err fdy_codec_models_check_manifest(const fdy_model_manifest_t *m, fdy_reason_t *reason);
foundry_err fdy_codec_models_check_signed(const fdy_model_signed_t *s, fdy_reason_t *reason);
foundry_err fdy_codec_models_check_entry(const fdy_model_entry_t *e, fdy_reason_t *reason);
foundry_err fdy_codec_models_check_signed_entry(const fdy_model_signed_entry_t *e,
                                                fdy_reason_t *reason);
foundry_err fdy_codec_models_check_request(const fdy_model_request_t *r, fdy_reason_t *reason);
foundry_err fdy_codec_models_check_notice(const fdy_model_notice_t *n, fdy_reason_t *reason);
foundry_err fdy_codec_models_check_reply(const fdy_model_reply_t *r, fdy_reason_t *reason);

#endif
