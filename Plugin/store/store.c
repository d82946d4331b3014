/*
 * The store's public functions: argument checks shared by every
 * implementation, then a call through the implementation's table.
 */
#include "store.h"

#include <string.h>
#include <sys/time.h>

int64_t oa_store_now_us(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

bool oa_store_key_is_valid(const char *key)
{
    size_t n = 0;

    if (key == NULL || key[0] == '\0' || key[0] == '.')
        return false;
    for (; key[n] != '\0'; n++) {
        char c = key[n];

        if (n >= OA_STORE_MAX_KEY)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

static oa_status check(oa_store *s, const char *ns, const char *key,
                       oa_error *err)
{
    if (s == NULL || s->ops == NULL)
        return oa_error_set(err, OA_EINVAL, "no store");
    if (!oa_store_key_is_valid(ns))
        return oa_error_set(err, OA_EINVAL, "invalid store namespace");
    if (key != NULL && !oa_store_key_is_valid(key))
        return oa_error_set(err, OA_EINVAL,
                            "invalid name: use 1 to %d letters, digits, "
                            "'-', '_' or '.', not starting with '.'",
                            OA_STORE_MAX_KEY);
    return OA_OK;
}

static oa_status check_value(const char *value, oa_error *err)
{
    if (value == NULL)
        return oa_error_set(err, OA_EINVAL, "no value to store");
    if (strlen(value) > OA_STORE_MAX_VALUE)
        return oa_error_set(err, OA_ELIMIT,
                            "value larger than the store's %zu MiB",
                            OA_STORE_MAX_VALUE >> 20);
    return OA_OK;
}

oa_status oa_store_get(oa_store *s, const char *ns, const char *key,
                       char **value, oa_error *err)
{
    oa_status rc;

    *value = NULL;
    rc = check(s, ns, key, err);
    if (rc != OA_OK)
        return rc;
    return s->ops->get(s, ns, key, value, err);
}

oa_status oa_store_put(oa_store *s, const char *ns, const char *key,
                       const char *value, oa_error *err)
{
    oa_status rc = check(s, ns, key, err);

    if (rc == OA_OK)
        rc = check_value(value, err);
    if (rc != OA_OK)
        return rc;
    return s->ops->put(s, ns, key, value, err);
}

oa_status oa_store_put_if_absent(oa_store *s, const char *ns,
                                 const char *key, const char *value,
                                 char **stored, oa_error *err)
{
    oa_status rc;

    *stored = NULL;
    rc = check(s, ns, key, err);
    if (rc == OA_OK)
        rc = check_value(value, err);
    if (rc != OA_OK)
        return rc;
    return s->ops->put_if_absent(s, ns, key, value, stored, err);
}

oa_status oa_store_remove(oa_store *s, const char *ns, const char *key,
                          oa_error *err)
{
    oa_status rc = check(s, ns, key, err);

    if (rc != OA_OK)
        return rc;
    return s->ops->remove(s, ns, key, err);
}

oa_status oa_store_list(oa_store *s, const char *ns, char ***keys,
                        size_t *count, oa_error *err)
{
    oa_status rc;

    *keys = NULL;
    *count = 0;
    rc = check(s, ns, NULL, err);
    if (rc != OA_OK)
        return rc;
    return s->ops->list(s, ns, keys, NULL, count, err);
}

oa_status oa_store_list_times(oa_store *s, const char *ns, char ***keys,
                              int64_t **times, size_t *count, oa_error *err)
{
    oa_status rc;

    *keys = NULL;
    *times = NULL;
    *count = 0;
    rc = check(s, ns, NULL, err);
    if (rc != OA_OK)
        return rc;
    return s->ops->list(s, ns, keys, times, count, err);
}

void oa_store_free_keys(char **keys, size_t count)
{
    size_t i;

    if (keys == NULL)
        return;
    for (i = 0; i < count; i++)
        oa_free(keys[i]);
    oa_free(keys);
}

void oa_store_free(oa_store *s)
{
    if (s != NULL && s->ops != NULL && s->ops->free != NULL)
        s->ops->free(s);
}

const char *oa_store_kind(const oa_store *s)
{
    return s != NULL && s->ops != NULL ? s->ops->name : "none";
}
