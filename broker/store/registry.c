/*  registry.c: the principals of the key store, in memory, by name and by
 *  public key. Reloads whole when the store's key generation moves (another
 *  process, or our own add/revoke), which keeps it simple and is cheap for
 *  the hundreds of keys a broker has. Not the ACL (broker/acl.c) and not
 *  the ZAP protocol: only who a key is.
 */
#include "registry.h"

#include "clock.h"
#include "codec_models.h"
#include "log.h"
#include "names.h"
#include "subject.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct fdy_registry {
    fdy_store_t *store;          /* borrowed */
    uint64_t generation;         /* key generation of the loaded set */
    uint64_t confirmed;          /* the generation last written by fdy_registry_confirm */
    bool confirmed_any;          /* whether it wrote one yet */
    fdy_principal_t *principals; /* by name */
    size_t count;
    size_t *by_key;              /* indexes into principals, by public key */
};

/* ---- loading ------------------------------------------------------------ */

typedef struct {
    fdy_principal_t *principals;
    size_t count;
    size_t capacity;
    fdy_reason_t *reason; /* names the record that failed */
} s_load_t;

static void
s_principals_free(fdy_principal_t *principals, size_t count)
{
    for (size_t i = 0; i < count; i++)
        fdy_principal_clear(&principals[i]);
    free(principals);
}

static foundry_err
s_load_one(const char *name, const uint8_t *rec, size_t len, void *user)
{
    s_load_t *load = user;
    if (load->count == load->capacity) {
        size_t cap = load->capacity ? load->capacity * 2 : 16;
        fdy_principal_t *grown = realloc(load->principals, cap * sizeof *grown);
        if (!grown)
            return fdy_reason_set(load->reason, FOUNDRY_ENOMEM, "out of memory");
        load->principals = grown;
        load->capacity = cap;
    }
    fdy_principal_t *p = &load->principals[load->count];
    foundry_err err = fdy_codec_decode_principal(rec, len, p);
    /* Reported by the caller, which knows whether this is start-up (the
     * broker refuses to start) or a reload (logged, retried). */
    if (err != FOUNDRY_OK)
        return fdy_reason_set(load->reason, err == FOUNDRY_ENOMEM ? err : FOUNDRY_ECORRUPT,
                              "key record \"%s\": %s", name, foundry_strerror(err));
    if (strcmp(p->name, name) != 0) {
        fdy_reason_set(load->reason, FOUNDRY_ECORRUPT, "key record \"%s\" names \"%s\"", name,
                       p->name);
        fdy_principal_clear(p);
        return FOUNDRY_ECORRUPT;
    }
    load->count++;
    return FOUNDRY_OK;
}

static int
s_name_cmp(const void *a, const void *b)
{
    return strcmp(((const fdy_principal_t *) a)->name, ((const fdy_principal_t *) b)->name);
}

/* qsort has no context argument: sort (key, index) pairs instead. */
typedef struct {
    const char *key;
    size_t index;
} s_key_ref_t;

static int
s_key_ref_cmp(const void *a, const void *b)
{
    return strcmp(((const s_key_ref_t *) a)->key, ((const s_key_ref_t *) b)->key);
}

/* Replaces the loaded set with the store's. On failure the old set stays. */
static foundry_err
s_reload(fdy_registry_t *self, fdy_reason_t *reason)
{
    /* Read the generation first: a change racing the listing then only
     * causes one more reload, never a missed one. */
    uint64_t generation = fdy_store_key_generation(self->store);
    fdy_reason_t why;
    fdy_reason_clear(&why);
    s_load_t load = { NULL, 0, 0, &why };
    size_t *by_key = NULL;
    s_key_ref_t *refs = NULL;
    foundry_err err = fdy_store_key_list(self->store, s_load_one, &load, &why);
    if (err != FOUNDRY_OK) {
        if (!why.text[0])
            fdy_reason_set(&why, err, "reading the key records: %s", foundry_strerror(err));
        goto out;
    }
    /* LMDB lists by key bytes, which is strcmp order already; sorting keeps
     * the bsearch below correct whatever the store returns. */
    if (load.count)
        qsort(load.principals, load.count, sizeof *load.principals, s_name_cmp);
    by_key = calloc(load.count ? load.count : 1, sizeof *by_key);
    refs = calloc(load.count ? load.count : 1, sizeof *refs);
    if (!by_key || !refs) {
        err = fdy_reason_set(&why, FOUNDRY_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < load.count; i++) {
        refs[i].key = load.principals[i].public_key;
        refs[i].index = i;
    }
    if (load.count)
        qsort(refs, load.count, sizeof *refs, s_key_ref_cmp);
    for (size_t i = 0; i < load.count; i++)
        by_key[i] = refs[i].index;

    s_principals_free(self->principals, self->count);
    free(self->by_key);
    self->principals = load.principals;
    self->count = load.count;
    self->by_key = by_key;
    self->generation = generation;
    load.principals = NULL;
    load.count = 0;
    by_key = NULL;
out:
    s_principals_free(load.principals, load.count);
    free(by_key);
    free(refs);
    if (err != FOUNDRY_OK)
        fdy_reason_set(reason, err, "key store: %s", why.text);
    return err;
}

foundry_err
fdy_registry_new(fdy_store_t *store, fdy_registry_t **out, fdy_reason_t *reason)
{
    *out = NULL;
    fdy_registry_t *self = calloc(1, sizeof *self);
    if (!self)
        return fdy_reason_set(reason, FOUNDRY_ENOMEM, "out of memory");
    self->store = store;
    foundry_err err = s_reload(self, reason);
    if (err != FOUNDRY_OK) {
        fdy_registry_destroy(&self);
        return err;
    }
    *out = self;
    return FOUNDRY_OK;
}

void
fdy_registry_destroy(fdy_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fdy_registry_t *self = *self_p;
    s_principals_free(self->principals, self->count);
    free(self->by_key);
    free(self);
    *self_p = NULL;
}

foundry_err
fdy_registry_refresh(fdy_registry_t *self)
{
    if (fdy_store_key_generation(self->store) == self->generation)
        return FOUNDRY_OK;
    fdy_reason_t why;
    foundry_err err = s_reload(self, &why);
    if (err != FOUNDRY_OK) {
        /* Retried every loop turn while it fails: rate limited. */
        if (FDY_LOG_ERR <= fdy_log_threshold)
            fdy_log_limited(FDY_LOG_ERR, "REGISTRY-LOAD-FAILED", "reloading the key store: %s",
                            why.text);
        return err == FOUNDRY_ENOMEM ? err : FOUNDRY_ESTORE;
    }
    return FOUNDRY_OK;
}

uint64_t
fdy_registry_generation(const fdy_registry_t *self)
{
    return self->generation;
}

foundry_err
fdy_registry_confirm(fdy_registry_t *self, fdy_reason_t *reason)
{
    /* Once per change: a turn that changed nothing costs a comparison. */
    if (self->confirmed_any && self->confirmed == self->generation)
        return FOUNDRY_OK;
    foundry_err err = fdy_store_key_applied_set(self->store, self->generation, reason);
    if (err != FOUNDRY_OK)
        return err;
    self->confirmed = self->generation;
    self->confirmed_any = true;
    return FOUNDRY_OK;
}

/* ---- lookups ------------------------------------------------------------ */

const fdy_principal_t *
fdy_registry_by_name(const fdy_registry_t *self, const char *name)
{
    if (!name)
        return NULL;
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(name, self->principals[mid].name);
        if (cmp == 0)
            return &self->principals[mid];
        if (cmp > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const fdy_principal_t *
fdy_registry_by_key(const fdy_registry_t *self, const char *public_z85)
{
    if (!public_z85)
        return NULL;
    size_t lo = 0, hi = self->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const fdy_principal_t *p = &self->principals[self->by_key[mid]];
        int cmp = strcmp(public_z85, p->public_key);
        if (cmp == 0)
            return p;
        if (cmp > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t
fdy_registry_count(const fdy_registry_t *self)
{
    return self->count;
}

const fdy_principal_t *
fdy_registry_at(const fdy_registry_t *self, size_t index)
{
    return index < self->count ? &self->principals[index] : NULL;
}

/* ---- changes ------------------------------------------------------------ */

/* A name made of [A-Za-z0-9_-] plus extra, 1..FDY_NAME_MAX-1 bytes, NUL-ended
 * inside its field (or empty when allowed). */
static bool
s_word_valid(const char *text, bool dot_ok, bool empty_ok)
{
    size_t len = strnlen(text, FDY_NAME_MAX);
    if (len == 0)
        return empty_ok;
    return fdy_name_ok(text, len, FDY_NAME_MAX - 1, dot_ok);
}

static foundry_err
s_validate(const fdy_principal_t *p, fdy_reason_t *reason)
{
    if (!s_word_valid(p->name, true, false))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "name must be 1..%d characters of [A-Za-z0-9_.-]", FDY_NAME_MAX - 1);
    uint8_t raw[32];
    if (strnlen(p->public_key, sizeof p->public_key) != FDY_Z85_KEY_LEN ||
        !zmq_z85_decode(raw, p->public_key))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "public key must be %d characters of Z85",
                              FDY_Z85_KEY_LEN);
    if (p->role < FDY_ROLE_NODE || p->role > FDY_ROLE_LINK)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "unknown role %d", (int) p->role);
    /* The site becomes a subject token (telemetry.<site>.>), so it has the
     * token syntax; a node without one could publish nothing of its own. */
    if (!s_word_valid(p->site, false, p->role != FDY_ROLE_NODE))
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              p->role == FDY_ROLE_NODE && !p->site[0]
                                  ? "role node needs a site"
                                  : "site must be characters of [A-Za-z0-9_-]");
    if (!s_word_valid(p->tenant, false, true))
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "tenant must be characters of [A-Za-z0-9_-]");
    if (p->allow_count > FDY_ALLOW_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "at most %d allow filters", FDY_ALLOW_MAX);
    for (size_t i = 0; i < p->allow_count; i++) {
        fdy_reason_t why;
        why.text[0] = '\0';
        if (!p->allow_publish[i] || fdy_filter_validate(p->allow_publish[i], &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "allow filter \"%.80s\": %s",
                                  p->allow_publish[i] ? p->allow_publish[i] : "",
                                  why.text[0] ? why.text : "invalid");
    }
    if (p->allow_subscribe_count > FDY_ALLOW_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "at most %d allow-subscribe filters",
                              FDY_ALLOW_MAX);
    for (size_t i = 0; i < p->allow_subscribe_count; i++) {
        fdy_reason_t why;
        why.text[0] = '\0';
        const char *filter = p->allow_subscribe[i];
        if (!filter || fdy_filter_validate(filter, &why) != FOUNDRY_OK)
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "allow-subscribe filter \"%.80s\": %s",
                                  filter ? filter : "", why.text[0] ? why.text : "invalid");
    }
    if (p->allow_jobs_count > FDY_ALLOW_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "at most %d job sites", FDY_ALLOW_MAX);
    for (size_t i = 0; i < p->allow_jobs_count; i++) {
        fdy_reason_t why;
        why.text[0] = '\0';
        const char *site = p->allow_jobs[i];
        if (!site || (strcmp(site, "*") != 0 && fdy_site_validate(site, &why) != FOUNDRY_OK))
            return fdy_reason_set(reason, FOUNDRY_EINVAL, "allow-jobs site \"%.80s\": %s",
                                  site ? site : "", why.text[0] ? why.text : "invalid");
    }
    if (p->allow_models_count > FDY_ALLOW_MAX)
        return fdy_reason_set(reason, FOUNDRY_EINVAL, "at most %d model names", FDY_ALLOW_MAX);
    for (size_t i = 0; i < p->allow_models_count; i++) {
        const char *name = p->allow_models[i];
        if (!name || (strcmp(name, "*") != 0 && !fdy_model_name_ok(name)))
            return fdy_reason_set(reason, FOUNDRY_EINVAL,
                                  "allow-models name \"%.80s\": not a model name "
                                  "([a-z0-9][a-z0-9._-]*, at most 64) or *",
                                  name ? name : "");
    }
    return FOUNDRY_OK;
}

/* Encodes p, writes it (bumping the key generation) and reloads. */
static foundry_err
s_store(fdy_registry_t *self, const fdy_principal_t *p, fdy_reason_t *reason)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    foundry_err err = fdy_codec_encode_principal(p, &buf, &len);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "encode key record \"%s\": %s", p->name,
                              foundry_strerror(err));
    err = fdy_store_key_put(self->store, p->name, buf, len, reason);
    free(buf);
    if (err != FOUNDRY_OK)
        return err;
    fdy_reason_t why;
    err = s_reload(self, &why);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err == FOUNDRY_ENOMEM ? err : FOUNDRY_ESTORE,
                              "key \"%s\" stored, but reloading the key store failed: %s",
                              p->name, why.text);
    return FOUNDRY_OK;
}

foundry_err
fdy_registry_add(fdy_registry_t *self, const fdy_principal_t *p, fdy_reason_t *reason)
{
    foundry_err err = s_validate(p, reason);
    if (err != FOUNDRY_OK)
        return err;
    /* Check uniqueness against what other processes may have added. */
    err = fdy_registry_refresh(self);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "reading the key store failed");
    if (fdy_registry_by_name(self, p->name))
        return fdy_reason_set(reason, FOUNDRY_EEXIST, "a key named \"%s\" is already registered",
                              p->name);
    const fdy_principal_t *other = fdy_registry_by_key(self, p->public_key);
    if (other)
        return fdy_reason_set(reason, FOUNDRY_EEXIST,
                              "public key already registered as \"%s\"", other->name);
    /* Shallow copy: the filters are only read by the encoder. */
    fdy_principal_t copy = *p;
    if (copy.created_ns == 0)
        copy.created_ns = fdy_clock_wall_ns();
    return s_store(self, &copy, reason);
}

foundry_err
fdy_registry_revoke(fdy_registry_t *self, const char *name, fdy_reason_t *reason)
{
    foundry_err err = fdy_registry_refresh(self);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "reading the key store failed");
    const fdy_principal_t *p = fdy_registry_by_name(self, name);
    if (!p)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named \"%.80s\"",
                              name ? name : "");
    if (p->revoked)
        return FOUNDRY_OK; /* keep the first revocation time, for audit */
    fdy_principal_t copy = *p; /* its filters stay owned by the registry */
    copy.revoked = true;
    copy.revoked_ns = fdy_clock_wall_ns();
    return s_store(self, &copy, reason);
}

foundry_err
fdy_registry_replace(fdy_registry_t *self, const fdy_principal_t *p, fdy_reason_t *reason)
{
    foundry_err err = s_validate(p, reason);
    if (err != FOUNDRY_OK)
        return err;
    err = fdy_registry_refresh(self);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "reading the key store failed");
    const fdy_principal_t *old = fdy_registry_by_name(self, p->name);
    if (!old)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named \"%.80s\"", p->name);
    if (old->revoked)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "key \"%s\" is revoked: add a new key instead", p->name);
    const fdy_principal_t *other = fdy_registry_by_key(self, p->public_key);
    if (other && strcmp(other->name, p->name) != 0)
        return fdy_reason_set(reason, FOUNDRY_EEXIST,
                              "public key already registered as \"%s\"", other->name);
    fdy_principal_t copy = *p;
    copy.created_ns = old->created_ns;
    return s_store(self, &copy, reason);
}

foundry_err
fdy_registry_remove(fdy_registry_t *self, const char *name, fdy_reason_t *reason)
{
    foundry_err err = fdy_registry_refresh(self);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err, "reading the key store failed");
    const fdy_principal_t *p = fdy_registry_by_name(self, name);
    if (!p)
        return fdy_reason_set(reason, FOUNDRY_ENOTFOUND, "no key named \"%.80s\"",
                              name ? name : "");
    if (!p->revoked)
        return fdy_reason_set(reason, FOUNDRY_EINVAL,
                              "key \"%.80s\" is not revoked: revoke it first (key revoke %.80s)",
                              name, name);
    err = fdy_store_key_del(self->store, name, reason);
    if (err != FOUNDRY_OK)
        return err;
    fdy_reason_t why;
    err = s_reload(self, &why);
    if (err != FOUNDRY_OK)
        return fdy_reason_set(reason, err == FOUNDRY_ENOMEM ? err : FOUNDRY_ESTORE,
                              "key \"%.80s\" removed, but reloading the key store failed: %s",
                              name, why.text);
    return FOUNDRY_OK;
}
