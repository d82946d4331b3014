/*
 * The key-value store: state in Orthanc's own key-value stores (Orthanc
 * 1.12.8 and later), one store of Orthanc's per namespace
 * ("anonymizer.reports", ...), the key as it is.  It is given the host's
 * functions (oa_store_kv_host) rather than calling the SDK, so that it is
 * tested without Orthanc (UnitTests/test_store.c).
 *
 * It wraps the global-property store (`legacy`), for two reasons:
 *  - migration, once: at first use, if the marker
 *    ("anonymizer.meta", "migrated") is absent, every value of every
 *    namespace in the global properties is copied into the key-value
 *    stores, then the marker is written (with the count).  A crash in
 *    between copies again at the next start (a copy overwrites with the
 *    same value; nothing is written to the key-value stores before the
 *    marker exists, since every call waits for this).  The global
 *    properties are left as they were: a backup, and the state an older
 *    Orthanc would see again (doc/orthanc-versions.md).
 *  - fallback: when the database has no key-value stores after all
 *    (host->available() false: an index plugin without them), every call
 *    goes to the global properties, as before.
 * Both are decided lazily: Orthanc's database is not open during the
 * plugin's Initialize.
 *
 * One process writes (the key-value store is used only when the index is
 * not shared: see services/setup.c), so put_if_absent is atomic under the
 * mutex below.
 */
#define _POSIX_C_SOURCE 200809L

#include "store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Every namespace of store.h: the ones migrated.  A new namespace of
 * store.h must be added here, or its old values are not migrated. */
static const char *const namespaces[] = {
    OA_STORE_PROFILES, OA_STORE_REPORTS, OA_STORE_DESTINATIONS,
    OA_STORE_SETTINGS, OA_STORE_EXPORTS, OA_STORE_JOBS,
    OA_STORE_MAPPINGS, OA_STORE_AUDIT,
};
#define NAMESPACE_COUNT (sizeof(namespaces) / sizeof(namespaces[0]))

#define STORE_PREFIX "anonymizer."
#define META_STORE STORE_PREFIX "meta"
#define MIGRATED_KEY "migrated"

enum { KV_UNDECIDED = 0, KV_ORTHANC, KV_LEGACY };

typedef struct kv_store {
    oa_store base;
    oa_store_kv_host host;
    oa_store *legacy;
    pthread_mutex_t lock;
    int mode;
    size_t migrated;   /* values copied by this process's migration */
} kv_store;

static void store_id(char *out, size_t size, const char *ns)
{
    snprintf(out, size, STORE_PREFIX "%s", ns);
}

/* Under the lock: copy every value of the global properties. */
static oa_status migrate(kv_store *k, oa_error *err)
{
    char id[OA_STORE_MAX_KEY + 16], marker[160];
    size_t n, i, total = 0;
    oa_status rc = OA_OK;

    for (n = 0; n < NAMESPACE_COUNT && rc == OA_OK; n++) {
        char **keys = NULL;
        size_t count = 0;

        rc = oa_store_list(k->legacy, namespaces[n], &keys, &count, err);
        store_id(id, sizeof(id), namespaces[n]);
        for (i = 0; i < count && rc == OA_OK; i++) {
            char *value = NULL;

            rc = oa_store_get(k->legacy, namespaces[n], keys[i], &value,
                              err);
            if (rc == OA_ENOTFOUND) {   /* listed, then gone: skip */
                oa_error_clear(err);
                rc = OA_OK;
                continue;
            }
            if (rc == OA_OK)
                rc = k->host.put(id, keys[i], value, err);
            oa_free(value);
            if (rc == OA_OK)
                total++;
        }
        oa_store_free_keys(keys, count);
    }
    if (rc != OA_OK)
        return rc;
    snprintf(marker, sizeof(marker),
             "{\"From\": \"global properties\", \"Values\": %zu}", total);
    rc = k->host.put(META_STORE, MIGRATED_KEY, marker, err);
    if (rc == OA_OK) {
        k->migrated = total;
        oa_log(OA_LOG_WARNING,
               "anonymizer: state moved to Orthanc's key-value store: %zu "
               "values copied from the global properties (left there as "
               "they were)",
               total);
    }
    return rc;
}

/* Under the lock: decide where the state lives, migrating once. */
static oa_status ready(kv_store *k, oa_error *err)
{
    char *marker = NULL;
    oa_status rc;

    if (k->mode != KV_UNDECIDED)
        return OA_OK;
    if (k->host.available == NULL || !k->host.available()) {
        k->mode = KV_LEGACY;
        oa_log(OA_LOG_WARNING,
               "anonymizer: Orthanc's database has no key-value store (an "
               "index plugin without them?): the state stays in the global "
               "properties");
        return OA_OK;
    }
    rc = k->host.get(META_STORE, MIGRATED_KEY, &marker, err);
    if (rc != OA_OK)
        return rc;
    if (marker == NULL)
        rc = migrate(k, err);
    oa_free(marker);
    if (rc == OA_OK)
        k->mode = KV_ORTHANC;
    return rc;
}

/* Lock and decide; on OA_OK the lock is held and *legacy says which. */
static oa_status enter(kv_store *k, bool *legacy, oa_error *err)
{
    oa_status rc;

    pthread_mutex_lock(&k->lock);
    rc = ready(k, err);
    if (rc != OA_OK) {
        pthread_mutex_unlock(&k->lock);
        return rc;
    }
    *legacy = k->mode == KV_LEGACY;
    return OA_OK;
}

static oa_status kv_get(oa_store *s, const char *ns, const char *key,
                        char **value, oa_error *err)
{
    kv_store *k = (kv_store *)s;
    char id[OA_STORE_MAX_KEY + 16];
    bool legacy;
    oa_status rc = enter(k, &legacy, err);

    if (rc != OA_OK)
        return rc;
    if (legacy) {
        rc = oa_store_get(k->legacy, ns, key, value, err);
    } else {
        store_id(id, sizeof(id), ns);
        rc = k->host.get(id, key, value, err);
        if (rc == OA_OK && *value == NULL)
            rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

static oa_status kv_put(oa_store *s, const char *ns, const char *key,
                        const char *value, oa_error *err)
{
    kv_store *k = (kv_store *)s;
    char id[OA_STORE_MAX_KEY + 16];
    bool legacy;
    oa_status rc = enter(k, &legacy, err);

    if (rc != OA_OK)
        return rc;
    if (legacy) {
        rc = oa_store_put(k->legacy, ns, key, value, err);
    } else {
        store_id(id, sizeof(id), ns);
        rc = k->host.put(id, key, value, err);
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

static oa_status kv_put_if_absent(oa_store *s, const char *ns,
                                  const char *key, const char *value,
                                  char **stored, oa_error *err)
{
    kv_store *k = (kv_store *)s;
    char id[OA_STORE_MAX_KEY + 16];
    bool legacy;
    oa_status rc = enter(k, &legacy, err);

    if (rc != OA_OK)
        return rc;
    if (legacy) {
        rc = oa_store_put_if_absent(k->legacy, ns, key, value, stored, err);
    } else {
        store_id(id, sizeof(id), ns);
        rc = k->host.get(id, key, stored, err);
        if (rc == OA_OK && *stored == NULL) {
            rc = k->host.put(id, key, value, err);
            if (rc == OA_OK) {
                *stored = oa_strdup(value);
                if (*stored == NULL)
                    rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            }
        }
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

static oa_status kv_remove(oa_store *s, const char *ns, const char *key,
                           oa_error *err)
{
    kv_store *k = (kv_store *)s;
    char id[OA_STORE_MAX_KEY + 16];
    char *old = NULL;
    bool legacy;
    oa_status rc = enter(k, &legacy, err);

    if (rc != OA_OK)
        return rc;
    if (legacy) {
        rc = oa_store_remove(k->legacy, ns, key, err);
    } else {
        store_id(id, sizeof(id), ns);
        rc = k->host.get(id, key, &old, err);
        if (rc == OA_OK && old == NULL)
            rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
        else if (rc == OA_OK)
            rc = k->host.remove(id, key, err);
        oa_free(old);
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

static oa_status kv_list(oa_store *s, const char *ns, char ***keys,
                         int64_t **times, size_t *count, oa_error *err)
{
    kv_store *k = (kv_store *)s;
    char id[OA_STORE_MAX_KEY + 16];
    bool legacy;
    oa_status rc = enter(k, &legacy, err);

    if (rc != OA_OK)
        return rc;
    if (legacy) {
        rc = times != NULL
                 ? oa_store_list_times(k->legacy, ns, keys, times, count, err)
                 : oa_store_list(k->legacy, ns, keys, count, err);
    } else if (times != NULL) {
        /* Orthanc's key-value stores keep no write times: a retention
         * sweep is not possible here (and must not guess: it deletes) */
        rc = oa_error_set(err, OA_EUNSUPPORTED,
                          "the key-value store keeps no write times: "
                          "ReportRetention and JobRetention are not applied "
                          "(set \"Store\": \"properties\" to use them)");
    } else {
        store_id(id, sizeof(id), ns);
        rc = k->host.keys(id, keys, count, err);
        if (rc == OA_OK)   /* Orthanc's order may not be strcmp's */
            oa_store_sort_keys(*keys, *count);
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

static void kv_free(oa_store *s)
{
    kv_store *k = (kv_store *)s;

    if (k == NULL)
        return;
    oa_store_free(k->legacy);
    pthread_mutex_destroy(&k->lock);
    oa_free(k);
}

static const oa_store_ops kv_ops = {
    "key-value", kv_get, kv_put, kv_put_if_absent, kv_remove, kv_list,
    kv_free,
};

oa_status oa_store_kv_new(oa_store **out, const oa_store_kv_host *host,
                          oa_store *legacy, oa_error *err)
{
    kv_store *k;

    *out = NULL;
    if (host == NULL || host->put == NULL || host->get == NULL ||
        host->remove == NULL || host->keys == NULL || legacy == NULL) {
        oa_store_free(legacy);
        return oa_error_set(err, OA_EINVAL, "key-value store: no host");
    }
    k = oa_calloc(1, sizeof(*k));
    if (k == NULL) {
        oa_store_free(legacy);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    k->base.ops = &kv_ops;
    k->host = *host;
    k->legacy = legacy;
    pthread_mutex_init(&k->lock, NULL);
    *out = &k->base;
    return OA_OK;
}

bool oa_store_kv_uses_orthanc(oa_store *s, size_t *migrated)
{
    kv_store *k = (kv_store *)s;
    bool yes;

    if (s == NULL || s->ops != &kv_ops)
        return false;
    pthread_mutex_lock(&k->lock);
    yes = k->mode == KV_ORTHANC;
    if (migrated != NULL)
        *migrated = k->migrated;
    pthread_mutex_unlock(&k->lock);
    return yes;
}
