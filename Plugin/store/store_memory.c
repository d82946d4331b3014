/*
 * The memory store: a hash table of (namespace, key) -> value
 * (store_index.c) behind one mutex.  For unit tests and the command-line
 * tool.  Lost at exit.
 */
#define _POSIX_C_SOURCE 200809L

#include "store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct mem_store {
    oa_store base;
    pthread_mutex_t lock;
    oa_store_index index;
} mem_store;

typedef struct keyed {
    char *key;
    int64_t time;
} keyed;

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int compare_keyed(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->key, ((const keyed *)b)->key);
}

void oa_store_sort_keys(char **keys, size_t count)
{
    if (count > 1)
        qsort(keys, count, sizeof(*keys), compare_keys);
}

void oa_store_sort_keyed(char **keys, int64_t *times, size_t count)
{
    keyed *pairs;
    size_t i;

    if (times == NULL || count < 2) {
        oa_store_sort_keys(keys, count);
        return;
    }
    pairs = oa_calloc(count, sizeof(*pairs));
    if (pairs == NULL) { /* keep them paired rather than sorted */
        return;
    }
    for (i = 0; i < count; i++) {
        pairs[i].key = keys[i];
        pairs[i].time = times[i];
    }
    qsort(pairs, count, sizeof(*pairs), compare_keyed);
    for (i = 0; i < count; i++) {
        keys[i] = pairs[i].key;
        times[i] = pairs[i].time;
    }
    oa_free(pairs);
}

static oa_status mem_get(oa_store *s, const char *ns, const char *key,
                         char **value, oa_error *err)
{
    mem_store *m = (mem_store *)s;
    oa_status rc = OA_OK;
    oa_store_entry *e;

    pthread_mutex_lock(&m->lock);
    e = oa_store_index_find(&m->index, ns, key);
    if (e == NULL)
        rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    else if ((*value = oa_strdup(e->value)) == NULL)
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Under the lock. */
static oa_status mem_set(mem_store *m, const char *ns, const char *key,
                         const char *value, oa_error *err)
{
    oa_store_entry *e = oa_store_index_find(&m->index, ns, key);
    char *copy = oa_strdup(value);

    if (copy == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    if (e == NULL) {
        e = oa_store_index_add(&m->index, ns, key);
        if (e == NULL) {
            oa_free(copy);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
        e->written = oa_store_now_us();
    }
    oa_free(e->value);
    e->value = copy;
    return OA_OK;
}

static oa_status mem_put(oa_store *s, const char *ns, const char *key,
                         const char *value, oa_error *err)
{
    mem_store *m = (mem_store *)s;
    oa_status rc;

    pthread_mutex_lock(&m->lock);
    rc = mem_set(m, ns, key, value, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static oa_status mem_put_if_absent(oa_store *s, const char *ns,
                                   const char *key, const char *value,
                                   char **stored, oa_error *err)
{
    mem_store *m = (mem_store *)s;
    oa_status rc = OA_OK;
    oa_store_entry *e;

    pthread_mutex_lock(&m->lock);
    e = oa_store_index_find(&m->index, ns, key);
    if (e == NULL)
        rc = mem_set(m, ns, key, value, err);
    if (rc == OA_OK) {
        e = oa_store_index_find(&m->index, ns, key);
        if ((*stored = oa_strdup(e->value)) == NULL)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static oa_status mem_remove(oa_store *s, const char *ns, const char *key,
                            oa_error *err)
{
    mem_store *m = (mem_store *)s;
    oa_status rc = OA_OK;

    pthread_mutex_lock(&m->lock);
    if (!oa_store_index_remove(&m->index, ns, key))
        rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static oa_status mem_list(oa_store *s, const char *ns, char ***keys,
                          int64_t **times, size_t *count, oa_error *err)
{
    mem_store *m = (mem_store *)s;
    oa_status rc;

    pthread_mutex_lock(&m->lock);
    rc = oa_store_index_list(&m->index, ns, keys, times, count, err);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static void mem_free(oa_store *s)
{
    mem_store *m = (mem_store *)s;

    oa_store_index_dispose(&m->index);
    pthread_mutex_destroy(&m->lock);
    oa_free(m);
}

static const oa_store_ops mem_ops = {
    "memory",   mem_get,  mem_put,  mem_put_if_absent,
    mem_remove, mem_list, mem_free,
};

oa_status oa_store_memory_new(oa_store **out, oa_error *err)
{
    mem_store *m = oa_calloc(1, sizeof(*m));

    *out = NULL;
    if (m == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    m->base.ops = &mem_ops;
    pthread_mutex_init(&m->lock, NULL);
    oa_store_index_init(&m->index);
    *out = &m->base;
    return OA_OK;
}
