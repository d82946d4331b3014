/*
 * The memory store: a list of (namespace, key, value) behind one mutex.
 * For unit tests and the command-line tool; a few hundred entries at
 * most, so a linear scan is fine.
 */
#define _POSIX_C_SOURCE 200809L

#include "store_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *ns, *key, *value;
    struct entry *next;
} entry;

typedef struct mem_store {
    oa_store base;
    pthread_mutex_t lock;
    entry *head;
} mem_store;

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void oa_store_sort_keys(char **keys, size_t count)
{
    if (count > 1)
        qsort(keys, count, sizeof(*keys), compare_keys);
}

static entry *find(mem_store *m, const char *ns, const char *key)
{
    entry *e;

    for (e = m->head; e != NULL; e = e->next)
        if (strcmp(e->ns, ns) == 0 && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static oa_status mem_get(oa_store *s, const char *ns, const char *key,
                         char **value, oa_error *err)
{
    mem_store *m = (mem_store *)s;
    oa_status rc = OA_OK;
    entry *e;

    pthread_mutex_lock(&m->lock);
    e = find(m, ns, key);
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
    entry *e = find(m, ns, key);
    char *copy = oa_strdup(value);

    if (copy == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    if (e != NULL) {
        oa_free(e->value);
        e->value = copy;
        return OA_OK;
    }
    e = oa_calloc(1, sizeof(*e));
    if (e == NULL || (e->ns = oa_strdup(ns)) == NULL ||
        (e->key = oa_strdup(key)) == NULL) {
        if (e != NULL)
            oa_free(e->ns);
        oa_free(e);
        oa_free(copy);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    e->value = copy;
    e->next = m->head;
    m->head = e;
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
    entry *e;

    pthread_mutex_lock(&m->lock);
    e = find(m, ns, key);
    if (e == NULL)
        rc = mem_set(m, ns, key, value, err);
    if (rc == OA_OK) {
        e = find(m, ns, key);
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
    entry **pp, *e;
    oa_status rc;

    pthread_mutex_lock(&m->lock);
    rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    for (pp = &m->head; (e = *pp) != NULL; pp = &e->next) {
        if (strcmp(e->ns, ns) == 0 && strcmp(e->key, key) == 0) {
            *pp = e->next;
            oa_free(e->ns);
            oa_free(e->key);
            oa_free(e->value);
            oa_free(e);
            oa_error_clear(err);
            rc = OA_OK;
            break;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static oa_status mem_list(oa_store *s, const char *ns, char ***keys,
                          size_t *count, oa_error *err)
{
    mem_store *m = (mem_store *)s;
    size_t n = 0, i = 0;
    entry *e;
    char **out;

    pthread_mutex_lock(&m->lock);
    for (e = m->head; e != NULL; e = e->next)
        n += strcmp(e->ns, ns) == 0;
    out = oa_calloc(n ? n : 1, sizeof(*out));
    if (out == NULL) {
        pthread_mutex_unlock(&m->lock);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    for (e = m->head; e != NULL; e = e->next) {
        if (strcmp(e->ns, ns) != 0)
            continue;
        if ((out[i] = oa_strdup(e->key)) == NULL) {
            pthread_mutex_unlock(&m->lock);
            oa_store_free_keys(out, i);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
        i++;
    }
    pthread_mutex_unlock(&m->lock);
    oa_store_sort_keys(out, n);
    *keys = out;
    *count = n;
    return OA_OK;
}

static void mem_free(oa_store *s)
{
    mem_store *m = (mem_store *)s;
    entry *e, *next;

    for (e = m->head; e != NULL; e = next) {
        next = e->next;
        oa_free(e->ns);
        oa_free(e->key);
        oa_free(e->value);
        oa_free(e);
    }
    pthread_mutex_destroy(&m->lock);
    oa_free(m);
}

static const oa_store_ops mem_ops = {
    "memory", mem_get, mem_put, mem_put_if_absent, mem_remove, mem_list,
    mem_free,
};

oa_status oa_store_memory_new(oa_store **out, oa_error *err)
{
    mem_store *m = oa_calloc(1, sizeof(*m));

    *out = NULL;
    if (m == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    m->base.ops = &mem_ops;
    pthread_mutex_init(&m->lock, NULL);
    *out = &m->base;
    return OA_OK;
}
