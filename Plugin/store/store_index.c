/*
 * The in-memory index shared by the memory and property stores: a hash
 * table of (namespace, key) with chaining, doubled when it fills, so
 * that finding or adding an entry costs O(1) whatever the number of
 * reports or job records (issue 12, defect 11).
 */
#define _POSIX_C_SOURCE 200809L

#include "store_int.h"

#include <string.h>

#define MIN_BUCKETS 64

static size_t hash(const char *ns, const char *key)
{
    /* FNV-1a over "ns\0key" */
    uint64_t h = 1469598103934665603ull;
    const unsigned char *p;

    for (p = (const unsigned char *)ns; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;
    for (p = (const unsigned char *)key; *p != '\0'; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)h;
}

void oa_store_index_init(oa_store_index *x)
{
    memset(x, 0, sizeof(*x));
}

static void entry_free(oa_store_entry *e)
{
    oa_free(e->ns);
    oa_free(e->key);
    oa_free(e->value);
    oa_free(e);
}

void oa_store_index_dispose(oa_store_index *x)
{
    size_t i;

    for (i = 0; i < x->nbuckets; i++) {
        oa_store_entry *e = x->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    oa_free(x->buckets);
    memset(x, 0, sizeof(*x));
}

oa_store_entry *oa_store_index_find(const oa_store_index *x, const char *ns,
                                    const char *key)
{
    oa_store_entry *e;

    if (x->nbuckets == 0)
        return NULL;
    for (e = x->buckets[hash(ns, key) & (x->nbuckets - 1)]; e != NULL;
         e = e->next)
        if (strcmp(e->key, key) == 0 && strcmp(e->ns, ns) == 0)
            return e;
    return NULL;
}

static bool grow(oa_store_index *x)
{
    size_t n = x->nbuckets ? x->nbuckets * 2 : MIN_BUCKETS, i;
    oa_store_entry **b;

    if (n > SIZE_MAX / sizeof(*b))
        return false;
    b = oa_calloc(n, sizeof(*b));
    if (b == NULL)
        return false;
    for (i = 0; i < x->nbuckets; i++) {
        oa_store_entry *e = x->buckets[i], *next;

        for (; e != NULL; e = next) {
            size_t h = hash(e->ns, e->key) & (n - 1);

            next = e->next;
            e->next = b[h];
            b[h] = e;
        }
    }
    oa_free(x->buckets);
    x->buckets = b;
    x->nbuckets = n;
    return true;
}

oa_store_entry *oa_store_index_add(oa_store_index *x, const char *ns,
                                   const char *key)
{
    oa_store_entry *e;
    size_t h;

    if ((x->count + 1 > x->nbuckets || x->nbuckets == 0) && !grow(x) &&
        x->nbuckets == 0)
        return NULL;
    e = oa_calloc(1, sizeof(*e));
    if (e == NULL || (e->ns = oa_strdup(ns)) == NULL ||
        (e->key = oa_strdup(key)) == NULL) {
        if (e != NULL)
            oa_free(e->ns);
        oa_free(e);
        return NULL;
    }
    h = hash(ns, key) & (x->nbuckets - 1);
    e->next = x->buckets[h];
    x->buckets[h] = e;
    x->count++;
    return e;
}

bool oa_store_index_remove(oa_store_index *x, const char *ns,
                           const char *key)
{
    oa_store_entry **pp, *e;

    if (x->nbuckets == 0)
        return false;
    for (pp = &x->buckets[hash(ns, key) & (x->nbuckets - 1)];
         (e = *pp) != NULL; pp = &e->next) {
        if (strcmp(e->key, key) == 0 && strcmp(e->ns, ns) == 0) {
            *pp = e->next;
            entry_free(e);
            x->count--;
            return true;
        }
    }
    return false;
}

oa_status oa_store_index_list(const oa_store_index *x, const char *ns,
                              char ***keys, int64_t **times, size_t *count,
                              oa_error *err)
{
    size_t n = 0, i, k = 0;
    oa_store_entry *e;
    char **out;
    int64_t *t = NULL;

    for (i = 0; i < x->nbuckets; i++)
        for (e = x->buckets[i]; e != NULL; e = e->next)
            n += strcmp(e->ns, ns) == 0;
    out = oa_calloc(n ? n : 1, sizeof(*out));
    if (out == NULL ||
        (times != NULL && (t = oa_calloc(n ? n : 1, sizeof(*t))) == NULL)) {
        oa_free(out);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    for (i = 0; i < x->nbuckets; i++) {
        for (e = x->buckets[i]; e != NULL; e = e->next) {
            if (strcmp(e->ns, ns) != 0)
                continue;
            if ((out[k] = oa_strdup(e->key)) == NULL) {
                oa_store_free_keys(out, k);
                oa_free(t);
                return oa_error_set(err, OA_ENOMEM, "out of memory");
            }
            if (t != NULL)
                t[k] = e->written;
            k++;
        }
    }
    oa_store_sort_keyed(out, t, n);
    *keys = out;
    if (times != NULL)
        *times = t;
    *count = n;
    return OA_OK;
}
