/*  peers.c: connection count, the active-principal table for status, and
 *  the binding of each routing id to its connection (fd) and principal.
 *  The active table is open addressing without deletion: a stale slot is
 *  reused in place, so probe chains never break; when every slot is fresh,
 *  a new name is simply not recorded. Bindings are a hash by routing id
 *  plus an index by fd, so a closed connection finds its routing id at once.
 */
#include "peers.h"

#include "registry.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BIND_BUCKETS 4096u
#define ROUTING_MAX 255u
/* Keys refused at the handshake at once; a new one replaces the entry
 * that ends first. */
#define BACKOFF_SLOTS 64u

typedef struct {
    char name[FDY_NAME_MAX];
    int64_t last_ms;
} active_t;

/* One routing id: the connection and principal its state was made under. */
typedef struct binding {
    uint8_t id[ROUTING_MAX];
    size_t len;
    int fd;
    struct sockaddr_storage addr; /* the fd's peer when bound: a reused fd has another */
    socklen_t addr_len;
    char principal[FDY_NAME_MAX];
    uint32_t site;        /* the principal's site in self->sites */
    struct binding *next; /* hash chain */
} binding_t;

struct fdy_peers {
    uint64_t accepted;
    uint64_t disconnected;
    active_t active[FDY_PEERS_ACTIVE_SLOTS];
    char active_text[FDY_PEERS_ACTIVE_SLOTS * FDY_NAME_MAX];
    binding_t *buckets[BIND_BUCKETS];
    binding_t **by_fd; /* by_fd[fd]: the binding last seen on fd */
    size_t fd_cap;
    size_t bound;
    fdy_peers_gone_fn *gone;
    void *gone_user;
    fdy_labeled_values_t sites; /* every site a connection's principal had */
    struct {
        char name[FDY_NAME_MAX];
        int64_t until_ms;
    } backoff[BACKOFF_SLOTS];
};

fdy_peers_t *
fdy_peers_new(void)
{
    return fdy_xalloc(sizeof(fdy_peers_t));
}

void
fdy_peers_destroy(fdy_peers_t **self_p)
{
    fdy_peers_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < BIND_BUCKETS; i++) {
        while (self->buckets[i]) {
            binding_t *next = self->buckets[i]->next;
            free(self->buckets[i]);
            self->buckets[i] = next;
        }
    }
    free(self->by_fd);
    free(self);
    *self_p = NULL;
}

void
fdy_peers_on_gone(fdy_peers_t *self, fdy_peers_gone_fn *fn, void *user)
{
    self->gone = fn;
    self->gone_user = user;
}

size_t
fdy_peers_bound(const fdy_peers_t *self)
{
    return self->bound;
}

static uint32_t
s_id_hash(const uint8_t *id, size_t len)
{
    uint32_t hash = 2166136261u;   /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        hash = (hash ^ id[i]) * 16777619u;
    return hash % BIND_BUCKETS;
}

static binding_t **
s_find(fdy_peers_t *self, const uint8_t *id, size_t len)
{
    binding_t **at = &self->buckets[s_id_hash(id, len)];
    while (*at && !((*at)->len == len && memcmp((*at)->id, id, len) == 0))
        at = &(*at)->next;
    return at;
}

static void
s_notify(fdy_peers_t *self, const binding_t *b)
{
    fdy_peer_t peer = {.id = b->id, .len = b->len};
    if (self->gone)
        self->gone(&peer, self->gone_user);
}

/* Forgets the binding on fd (if any) after telling the services. */
static void
s_drop_fd(fdy_peers_t *self, int fd)
{
    if (fd < 0 || (size_t) fd >= self->fd_cap || !self->by_fd[fd])
        return;
    binding_t *b = self->by_fd[fd];
    self->by_fd[fd] = NULL;
    binding_t **at = s_find(self, b->id, b->len);
    if (*at == b)
        *at = b->next;
    self->bound--;
    s_notify(self, b);
    free(b);
}

void
fdy_peers_accepted(fdy_peers_t *self, int fd)
{
    self->accepted++;
    s_drop_fd(self, fd);   /* a new connection has the number: the old one is closed */
}

void
fdy_peers_disconnected(fdy_peers_t *self, int fd)
{
    self->disconnected++;
    s_drop_fd(self, fd);
}

uint32_t
fdy_peers_bind(fdy_peers_t *self, const fdy_peer_t *peer, int fd, const char *who,
               const char *site)
{
    if (peer->len > ROUTING_MAX)
        return fdy_labeled_values_index(&self->sites, site);   /* libzmq never makes one */
    binding_t **at = s_find(self, peer->id, peer->len);
    binding_t *b = *at;
    if (b && b->fd == fd && strcmp(b->principal, who) == 0)
        return b->site;   /* the common case: nothing changed */
    if (b) {
        /* Same routing id, another connection or principal: what was made
         * under the old one ends before this request is served. */
        s_notify(self, b);
        if (b->fd >= 0 && (size_t) b->fd < self->fd_cap && self->by_fd[b->fd] == b)
            self->by_fd[b->fd] = NULL;
    } else {
        b = fdy_xalloc(sizeof *b);
        memcpy(b->id, peer->id, peer->len);
        b->len = peer->len;
        b->next = NULL;
        *at = b;
        self->bound++;
    }
    b->fd = fd;
    b->addr_len = sizeof b->addr;
    if (fd < 0 || getpeername(fd, (struct sockaddr *) &b->addr, &b->addr_len) != 0)
        b->addr_len = 0;
    snprintf(b->principal, sizeof b->principal, "%s", who);
    b->site = fdy_labeled_values_index(&self->sites, site);
    uint32_t site_index = b->site;
    if (fd < 0)
        return site_index;
    if ((size_t) fd >= self->fd_cap)
        self->by_fd = fdy_xgrow(self->by_fd, &self->fd_cap, (size_t) fd + 1, sizeof *self->by_fd);
    if (self->by_fd[fd] && self->by_fd[fd] != b)
        s_drop_fd(self, fd);   /* another routing id on a number we missed closing */
    self->by_fd[fd] = b;
    return site_index;
}

const fdy_labeled_values_t *
fdy_peers_sites(const fdy_peers_t *self)
{
    return &self->sites;
}

size_t
fdy_peers_principal_connections(const fdy_peers_t *self, const char *name)
{
    size_t count = 0;
    for (size_t fd = 0; fd < self->fd_cap; fd++)
        if (self->by_fd[fd] && strcmp(self->by_fd[fd]->principal, name) == 0)
            count++;
    return count;
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

/* True when fd still is the connection b was bound on: libzmq may have
 * closed it and given the number to a new connection we have not heard of
 * yet, whose peer address differs. */
static bool
s_same_connection(const binding_t *b)
{
    struct sockaddr_storage now;
    socklen_t len = sizeof now;
    return b->addr_len > 0 && getpeername(b->fd, (struct sockaddr *) &now, &len) == 0 &&
           len == b->addr_len && memcmp(&now, &b->addr, len) == 0;
}

size_t
fdy_peers_close_principal(fdy_peers_t *self, const char *name, int64_t until_ms)
{
    size_t slot = 0;
    for (size_t i = 0; i < BACKOFF_SLOTS; i++) {
        if (strcmp(self->backoff[i].name, name) == 0) {
            slot = i;
            break;
        }
        if (self->backoff[i].until_ms < self->backoff[slot].until_ms)
            slot = i;
    }
    snprintf(self->backoff[slot].name, sizeof self->backoff[slot].name, "%s", name);
    self->backoff[slot].until_ms = until_ms;
    size_t closed = 0;
    for (size_t fd = 0; fd < self->fd_cap; fd++) {
        const binding_t *b = self->by_fd[fd];
        /* Both ways: shut for reading only, a peer that keeps sending
         * keeps libzmq reading queued data and never seeing the end. */
        if (b && strcmp(b->principal, name) == 0 && s_same_connection(b) &&
            shutdown(b->fd, SHUT_RDWR) == 0)
            closed++;
    }
    return closed;
}

int64_t
fdy_peers_backoff_left_ms(const fdy_peers_t *self, const char *name, int64_t now_ms)
{
    for (size_t i = 0; i < BACKOFF_SLOTS; i++)
        if (self->backoff[i].until_ms > now_ms && strcmp(self->backoff[i].name, name) == 0)
            return self->backoff[i].until_ms - now_ms;
    return 0;
}
