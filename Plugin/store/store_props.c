/*
 * The global-property store: state in Orthanc's own database, for a
 * single server.
 *
 * Orthanc's global properties are numbered strings.  Property `first`
 * holds a catalog,
 *
 *     {"Next": 5002, "Namespaces": {"profiles": {"ct-research": 5001}}}
 *
 * and every value lives in its own property, so that a report written
 * does not rewrite the others.  The catalog is read once (lazily: the
 * database is not open during the plugin's Initialize) and cached; this
 * process is the only writer (Orthanc keeps plugin properties per
 * server), so the mutex below is all the concurrency control needed.
 *
 * Order of writes, so that a crash leaves nothing inconsistent: a new
 * value is written before the catalog names it; a removal clears the
 * catalog entry before the value.  At worst a property is orphaned.
 */
#define _POSIX_C_SOURCE 200809L

#include "store_int.h"

#include <pthread.h>
#include <string.h>

#include <cjson/cJSON.h>

typedef struct props_store {
    oa_store base;
    oa_store_prop_get get;
    oa_store_prop_set set;
    int32_t first;
    pthread_mutex_t lock;
    cJSON *catalog;   /* NULL until loaded */
} props_store;

/* Under the lock: the catalog, loaded on first use. */
static oa_status load_catalog(props_store *p, oa_error *err)
{
    char *text = NULL;
    cJSON *cat;
    oa_status rc;

    if (p->catalog != NULL)
        return OA_OK;
    rc = p->get(p->first, &text, err);
    if (rc != OA_OK)
        return rc;
    if (text == NULL) {
        cat = cJSON_CreateObject();
        if (cat == NULL ||
            cJSON_AddNumberToObject(cat, "Next", (double)p->first + 1) ==
                NULL ||
            cJSON_AddObjectToObject(cat, "Namespaces") == NULL) {
            cJSON_Delete(cat);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
    } else {
        cJSON *next, *ns;

        cat = cJSON_Parse(text);
        oa_free(text);
        next = cJSON_GetObjectItemCaseSensitive(cat, "Next");
        ns = cJSON_GetObjectItemCaseSensitive(cat, "Namespaces");
        if (!cJSON_IsNumber(next) || !cJSON_IsObject(ns) ||
            next->valuedouble <= p->first || next->valuedouble > INT32_MAX) {
            cJSON_Delete(cat);
            return oa_error_set(err, OA_EPARSE,
                                "the anonymizer's catalog in global "
                                "property %d is damaged",
                                (int)p->first);
        }
    }
    p->catalog = cat;
    return OA_OK;
}

static oa_status save_catalog(props_store *p, oa_error *err)
{
    char *text = cJSON_PrintUnformatted(p->catalog);
    oa_status rc;

    if (text == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    rc = p->set(p->first, text, err);
    cJSON_free(text);
    return rc;
}

/* Under the lock: the property number of (ns, key), or 0. */
static int32_t lookup(props_store *p, const char *ns, const char *key)
{
    cJSON *space = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p->catalog, "Namespaces"), ns);
    cJSON *num = cJSON_GetObjectItemCaseSensitive(space, key);

    if (!cJSON_IsNumber(num) || num->valuedouble <= p->first ||
        num->valuedouble > INT32_MAX)
        return 0;
    return (int32_t)num->valuedouble;
}

static oa_status props_get_locked(props_store *p, const char *ns,
                                  const char *key, char **value,
                                  oa_error *err)
{
    oa_status rc = load_catalog(p, err);
    int32_t n;

    if (rc != OA_OK)
        return rc;
    n = lookup(p, ns, key);
    if (n == 0)
        return oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    rc = p->get(n, value, err);
    if (rc == OA_OK && *value == NULL)
        return oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    return rc;
}

static oa_status props_get(oa_store *s, const char *ns, const char *key,
                           char **value, oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;

    pthread_mutex_lock(&p->lock);
    rc = props_get_locked(p, ns, key, value, err);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_put_locked(props_store *p, const char *ns,
                                  const char *key, const char *value,
                                  oa_error *err)
{
    cJSON *spaces, *space, *next;
    oa_status rc = load_catalog(p, err);
    int32_t n;

    if (rc != OA_OK)
        return rc;
    n = lookup(p, ns, key);
    if (n != 0)
        return p->set(n, value, err);

    spaces = cJSON_GetObjectItemCaseSensitive(p->catalog, "Namespaces");
    next = cJSON_GetObjectItemCaseSensitive(p->catalog, "Next");
    if (next->valuedouble >= INT32_MAX)
        return oa_error_set(err, OA_ELIMIT, "no global property left");
    n = (int32_t)next->valuedouble;
    rc = p->set(n, value, err);
    if (rc != OA_OK)
        return rc;
    space = cJSON_GetObjectItemCaseSensitive(spaces, ns);
    if (space == NULL)
        space = cJSON_AddObjectToObject(spaces, ns);
    if (space == NULL || cJSON_AddNumberToObject(space, key, n) == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    cJSON_SetNumberValue(next, (double)n + 1);
    rc = save_catalog(p, err);
    if (rc != OA_OK) {
        /* Keep the cache equal to the database: forget it. */
        cJSON_Delete(p->catalog);
        p->catalog = NULL;
    }
    return rc;
}

static oa_status props_put(oa_store *s, const char *ns, const char *key,
                           const char *value, oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;

    pthread_mutex_lock(&p->lock);
    rc = props_put_locked(p, ns, key, value, err);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_put_if_absent(oa_store *s, const char *ns,
                                     const char *key, const char *value,
                                     char **stored, oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;

    pthread_mutex_lock(&p->lock);
    rc = props_get_locked(p, ns, key, stored, err);
    if (rc == OA_ENOTFOUND) {
        oa_error_clear(err);
        rc = props_put_locked(p, ns, key, value, err);
        if (rc == OA_OK && (*stored = oa_strdup(value)) == NULL)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_remove(oa_store *s, const char *ns, const char *key,
                              oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;
    int32_t n;

    pthread_mutex_lock(&p->lock);
    rc = load_catalog(p, err);
    if (rc != OA_OK)
        goto out;
    n = lookup(p, ns, key);
    if (n == 0) {
        rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
        goto out;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(p->catalog, "Namespaces"), ns),
        key);
    rc = save_catalog(p, err);
    if (rc != OA_OK) {
        cJSON_Delete(p->catalog);
        p->catalog = NULL;
        goto out;
    }
    rc = p->set(n, "", err);   /* the value itself: not needed any more */
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_list(oa_store *s, const char *ns, char ***keys,
                            size_t *count, oa_error *err)
{
    props_store *p = (props_store *)s;
    cJSON *space, *item;
    size_t n = 0, i = 0;
    oa_status rc;
    char **out = NULL;

    pthread_mutex_lock(&p->lock);
    rc = load_catalog(p, err);
    if (rc != OA_OK)
        goto out;
    space = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(p->catalog, "Namespaces"), ns);
    cJSON_ArrayForEach(item, space) n++;
    out = oa_calloc(n ? n : 1, sizeof(*out));
    if (out == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    cJSON_ArrayForEach(item, space) {
        if ((out[i] = oa_strdup(item->string)) == NULL) {
            oa_store_free_keys(out, i);
            out = NULL;
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto out;
        }
        i++;
    }
out:
    pthread_mutex_unlock(&p->lock);
    if (rc == OA_OK) {
        oa_store_sort_keys(out, n);
        *keys = out;
        *count = n;
    }
    return rc;
}

static void props_free(oa_store *s)
{
    props_store *p = (props_store *)s;

    cJSON_Delete(p->catalog);
    pthread_mutex_destroy(&p->lock);
    oa_free(p);
}

static const oa_store_ops props_ops = {
    "props", props_get, props_put, props_put_if_absent, props_remove,
    props_list, props_free,
};

oa_status oa_store_props_new(oa_store **out, oa_store_prop_get get,
                             oa_store_prop_set set, int32_t first,
                             oa_error *err)
{
    props_store *p;

    *out = NULL;
    if (get == NULL || set == NULL || first <= 0 || first == INT32_MAX)
        return oa_error_set(err, OA_EINVAL, "bad property store arguments");
    p = oa_calloc(1, sizeof(*p));
    if (p == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    p->base.ops = &props_ops;
    p->get = get;
    p->set = set;
    p->first = first;
    pthread_mutex_init(&p->lock, NULL);
    *out = &p->base;
    return OA_OK;
}
