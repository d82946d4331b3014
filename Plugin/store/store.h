/*
 * store: one small interface for the state that must outlive the process
 * (doc/architecture.md): custom profiles, reports, destinations, the site
 * secret.  A store holds string values under (namespace, key); values are
 * JSON texts in practice, but the store does not look inside.
 *
 * Implementations (one file each, a table of functions like curl's
 * backends):
 *  - props (store_props.c): Orthanc's database, as plugin global
 *    properties, for a single server.  It is given the two property
 *    functions rather than calling the SDK itself, so that it is tested
 *    without Orthanc.
 *  - memory (store_memory.c): for unit tests and tools.
 *  - postgresql (store_pg.c): tables of our own in the PostgreSQL
 *    database of a cluster of Orthanc servers sharing one index.
 *
 * Thread safety: every function may be called from any thread; each
 * implementation serializes what it must.  Keys and namespaces are short
 * ASCII names (oa_store_key_is_valid); values may hold PHI (reports): an
 * implementation never logs a value.
 */
#ifndef OA_STORE_H
#define OA_STORE_H

#include "../core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The namespaces in use. */
#define OA_STORE_PROFILES "profiles"
#define OA_STORE_REPORTS "reports"
#define OA_STORE_DESTINATIONS "destinations"
#define OA_STORE_SETTINGS "settings"
#define OA_STORE_EXPORTS "exports"
#define OA_STORE_JOBS "jobs"
#define OA_STORE_MAPPINGS "mappings"   /* a report's mapping files */
#define OA_STORE_AUDIT "audit"   /* append-only (services/audit.c) */

/* Longest key or namespace, and largest value (64 MiB). */
#define OA_STORE_MAX_KEY 128
#define OA_STORE_MAX_VALUE ((size_t)64 << 20)

typedef struct oa_store oa_store;

/* The functions of one implementation. */
typedef struct oa_store_ops {
    const char *name;   /* "props", "memory", "postgresql" */
    oa_status (*get)(oa_store *s, const char *ns, const char *key,
                     char **value, oa_error *err);
    oa_status (*put)(oa_store *s, const char *ns, const char *key,
                     const char *value, oa_error *err);
    oa_status (*put_if_absent)(oa_store *s, const char *ns, const char *key,
                               const char *value, char **stored,
                               oa_error *err);
    oa_status (*remove)(oa_store *s, const char *ns, const char *key,
                        oa_error *err);
    /* `times` may be NULL; else it receives when each key was first
     * written (microseconds since 1970), in the keys' order. */
    oa_status (*list)(oa_store *s, const char *ns, char ***keys,
                      int64_t **times, size_t *count, oa_error *err);
    void (*free)(oa_store *s);
} oa_store_ops;

/* Every implementation's struct begins with this. */
struct oa_store {
    const oa_store_ops *ops;
};

/* True for a key or namespace: 1 to OA_STORE_MAX_KEY characters among
 * letters, digits, '-', '_', '.', not starting with '.'. */
bool oa_store_key_is_valid(const char *key);

/*
 * The value under (ns, key): *value is a NUL-terminated copy to free with
 * oa_free().  OA_ENOTFOUND if there is none.
 */
oa_status oa_store_get(oa_store *s, const char *ns, const char *key,
                       char **value, oa_error *err);

/* Create or replace.  OA_EINVAL for a bad key, OA_ELIMIT for a value
 * larger than OA_STORE_MAX_VALUE.  A new key costs O(1) in every
 * implementation: nothing is rewritten whose size grows with the number
 * of keys (issue 12, defect 11). */
oa_status oa_store_put(oa_store *s, const char *ns, const char *key,
                       const char *value, oa_error *err);

/*
 * Store `value` only if the key has no value yet, atomically (two servers
 * starting together must agree on one site secret).  *stored receives the
 * value that is stored afterwards -- ours or the one that was there --
 * as a copy to free with oa_free().
 */
oa_status oa_store_put_if_absent(oa_store *s, const char *ns,
                                 const char *key, const char *value,
                                 char **stored, oa_error *err);

/* Remove.  OA_ENOTFOUND if there was nothing. */
oa_status oa_store_remove(oa_store *s, const char *ns, const char *key,
                          oa_error *err);

/*
 * The keys of a namespace, sorted (strcmp).  Free with
 * oa_store_free_keys().
 */
oa_status oa_store_list(oa_store *s, const char *ns, char ***keys,
                        size_t *count, oa_error *err);
void oa_store_free_keys(char **keys, size_t count);

/*
 * The same, with *times[i] the time (microseconds since 1970: two
 * records of the same second keep their order) when keys[i] was
 * first written: what retention (ReportRetention, JobRetention) goes
 * by, without reading any value.  Free *times with oa_free().
 */
oa_status oa_store_list_times(oa_store *s, const char *ns, char ***keys,
                              int64_t **times, size_t *count,
                              oa_error *err);

/* NULL-safe. */
void oa_store_free(oa_store *s);

/* Now, in microseconds since 1970 (the unit of oa_store_list_times). */
int64_t oa_store_now_us(void);

/* "props", "memory", ... */
const char *oa_store_kind(const oa_store *s);

/* ------------------------------------------------------------------ */
/* Implementations                                                      */

/* Everything in memory; for tests and tools.  Lost at exit. */
oa_status oa_store_memory_new(oa_store **out, oa_error *err);

/*
 * Orthanc global properties.  `get` returns a copy (oa_free) or NULL for
 * a property never set; `set` writes one.  Numbers from `first` upwards
 * are used: `first` holds the catalog (JSON: namespace -> key ->
 * property number, and the next free number), the values get their own
 * numbers after it.  Only one process writes these properties (Orthanc
 * keeps them per server), so an in-process mutex is enough.
 */
typedef oa_status (*oa_store_prop_get)(int32_t property, char **out,
                                       oa_error *err);
typedef oa_status (*oa_store_prop_set)(int32_t property, const char *value,
                                       oa_error *err);

oa_status oa_store_props_new(oa_store **out, oa_store_prop_get get,
                             oa_store_prop_set set, int32_t first,
                             oa_error *err);

/*
 * PostgreSQL (libpq), shared by every server of a cluster.  `conninfo`
 * is a libpq connection string ("host=... port=... dbname=... user=...
 * password=..."); the connection is opened, and the schema created or
 * migrated, on first use.  OA_ENET when the server cannot be reached,
 * OA_EIO for a failed statement (PostgreSQL's message, never a value).
 */
oa_status oa_store_pg_new(oa_store **out, const char *conninfo,
                          oa_error *err);

/*
 * Orthanc's key-value stores (1.12.8; store_kv.c), wrapping `legacy` (the
 * global-property store, owned from here on, freed on failure too): the
 * values there are copied once into the key-value stores at first use,
 * and used instead when `available()` says the database has none.  The
 * host's functions: `get` gives NULL for an absent key, `remove` of an
 * absent key succeeds, `keys` lists one store (each key and the array
 * freed with oa_free).
 */
typedef struct oa_store_kv_host {
    bool (*available)(void);
    oa_status (*put)(const char *store, const char *key, const char *value,
                     oa_error *err);
    oa_status (*get)(const char *store, const char *key, char **value,
                     oa_error *err);
    oa_status (*remove)(const char *store, const char *key, oa_error *err);
    oa_status (*keys)(const char *store, char ***keys, size_t *count,
                      oa_error *err);
} oa_store_kv_host;

oa_status oa_store_kv_new(oa_store **out, const oa_store_kv_host *host,
                          oa_store *legacy, oa_error *err);

/* True once a key-value store `s` keeps its state in Orthanc's key-value
 * stores (after its first use); *migrated: values this process copied. */
bool oa_store_kv_uses_orthanc(oa_store *s, size_t *migrated);

#ifdef __cplusplus
}
#endif
#endif /* OA_STORE_H */
