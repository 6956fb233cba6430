/*  peers.c: connection count and the active-principal table for status.
 *  The table is open addressing without deletion: a stale slot is reused in
 *  place, so probe chains never break; when every slot is fresh, a new name
 *  is simply not recorded.
 */
#include "peers.h"

#include "registry.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[FDY_NAME_MAX];
    int64_t last_ms;
} active_t;

struct fdy_peers {
    uint64_t accepted;
    uint64_t disconnected;
    active_t active[FDY_PEERS_ACTIVE_SLOTS];
    char active_text[FDY_PEERS_ACTIVE_SLOTS * FDY_NAME_MAX];
};

fdy_peers_t *
fdy_peers_new(void)
{
    return fdy_xalloc(sizeof(fdy_peers_t));
}

void
fdy_peers_destroy(fdy_peers_t **self_p)
{
    free(*self_p);
    *self_p = NULL;
}

void
fdy_peers_accepted(fdy_peers_t *self)
{
    self->accepted++;
}

void
fdy_peers_disconnected(fdy_peers_t *self)
{
    self->disconnected++;
}

uint64_t
fdy_peers_connections(const fdy_peers_t *self)
{
    return self->accepted > self->disconnected ? self->accepted - self->disconnected : 0;
}

static size_t
s_name_hash(const char *name)
{
    uint32_t hash = 2166136261u;   /* FNV-1a */
    for (; *name; name++)
        hash = (hash ^ (uint8_t) *name) * 16777619u;
    return hash % FDY_PEERS_ACTIVE_SLOTS;
}

void
fdy_peers_note_active(fdy_peers_t *self, const char *name, int64_t now_ms)
{
    size_t slot = s_name_hash(name);
    active_t *reuse = NULL;
    for (size_t i = 0; i < FDY_PEERS_ACTIVE_SLOTS; i++) {
        active_t *entry = &self->active[(slot + i) % FDY_PEERS_ACTIVE_SLOTS];
        if (entry->name[0] == '\0') {
            if (!reuse)
                reuse = entry;
            break;
        }
        if (strcmp(entry->name, name) == 0) {
            entry->last_ms = now_ms;
            return;
        }
        if (!reuse && now_ms - entry->last_ms > FDY_PEERS_ACTIVE_WINDOW_MS)
            reuse = entry;
    }
    if (reuse) {
        snprintf(reuse->name, sizeof reuse->name, "%s", name);
        reuse->last_ms = now_ms;
    }
}

static int
s_compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

const char *
fdy_peers_active_names(fdy_peers_t *self, int64_t now_ms)
{
    const char *names[FDY_PEERS_ACTIVE_SLOTS];
    size_t count = 0;
    for (size_t i = 0; i < FDY_PEERS_ACTIVE_SLOTS; i++) {
        const active_t *entry = &self->active[i];
        if (entry->name[0] && now_ms - entry->last_ms <= FDY_PEERS_ACTIVE_WINDOW_MS)
            names[count++] = entry->name;
    }
    qsort(names, count, sizeof names[0], s_compare_names);
    size_t used = 0;
    self->active_text[0] = '\0';
    for (size_t i = 0; i < count; i++)
        used += (size_t) sprintf(self->active_text + used, "%s%s", i ? " " : "", names[i]);
    return self->active_text;
}

void
fdy_peers_stats(const fdy_peers_t *self, fdy_stats_t *out)
{
    fdy_stats_add(out, "connections", fdy_peers_connections(self));
}
