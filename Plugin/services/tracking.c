/*
 * The work of every server: each job of ours records its state in the
 * store, which every server of a cluster shares, so that any of them lists
 * the work of all.
 */
#define _POSIX_C_SOURCE 200809L

#include "services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The string member `key` of `obj`, or NULL. */
static const char *str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void oa_service_track_job(oa_service *s, const char *key, const char *type,
                          const char *state, float progress,
                          const cJSON *extra, bool force, time_t *last)
{
    time_t now = time(NULL);
    cJSON *rec, *old = NULL;
    const cJSON *item;
    char *text = NULL, created[20];
    oa_error err;

    /* Running jobs refresh their record at least this often, well within
     * StaleJobSeconds (>= 5). */
    if (!force && last != NULL && now - *last < 2)
        return;
    if (last != NULL)
        *last = now;
    /* keep the creation time of an earlier record */
    created[0] = '\0';
    if (oa_store_get(oa_service_store(s), OA_STORE_JOBS, key, &text, NULL) ==
        OA_OK) {
        old = cJSON_Parse(text);
        oa_free(text);
        text = NULL;
        if (str(old, "Created") != NULL)
            snprintf(created, sizeof(created), "%s",
                     str(old, "Created"));
    }
    if (created[0] == '\0') {
        struct tm tm;

        localtime_r(&now, &tm);
        strftime(created, sizeof(created), "%Y%m%dT%H%M%S", &tm);
    }
    rec = cJSON_CreateObject();
    if (rec == NULL)
        goto out;
    cJSON_AddStringToObject(rec, "ID", key);
    cJSON_AddStringToObject(rec, "Type", type);
    cJSON_AddStringToObject(rec, "Server", oa_service_config(s)->server);
    cJSON_AddStringToObject(rec, "State", state);
    cJSON_AddNumberToObject(rec, "Progress", (int)(progress * 100.0f + 0.5f));
    cJSON_AddStringToObject(rec, "Created", created);
    cJSON_AddNumberToObject(rec, "Updated", (double)now);
    /* the Orthanc job ID, once known, survives later updates */
    if (str(old, "Job") != NULL)
        cJSON_AddStringToObject(rec, "Job", str(old, "Job"));
    cJSON_ArrayForEach(item, extra) {
        cJSON_DeleteItemFromObjectCaseSensitive(rec, item->string);
        cJSON_AddItemToObject(rec, item->string, cJSON_Duplicate(item, 1));
    }
    text = cJSON_PrintUnformatted(rec);
    oa_error_clear(&err);
    if (text == NULL || oa_store_put(oa_service_store(s), OA_STORE_JOBS, key,
                                     text, &err) != OA_OK)
        oa_log(OA_LOG_WARNING, "job %s: state not recorded: %s", key,
               text == NULL ? "out of memory" : err.msg);
out:
    cJSON_free(text);
    cJSON_Delete(rec);
    cJSON_Delete(old);
}

static int by_created_desc(const void *a, const void *b)
{
    const char *x = str(*(const cJSON *const *)a, "Created");
    const char *y = str(*(const cJSON *const *)b, "Created");

    return strcmp(y != NULL ? y : "", x != NULL ? x : "");
}

oa_status oa_service_list_jobs(oa_service *s, cJSON **out, oa_error *err)
{
    char **keys = NULL;
    size_t n = 0, i, m = 0;
    cJSON **recs, *list;
    time_t now = time(NULL);
    oa_status rc;

    *out = NULL;
    rc = oa_store_list(oa_service_store(s), OA_STORE_JOBS, &keys, &n, err);
    if (rc != OA_OK)
        return rc;
    recs = oa_calloc(n ? n : 1, sizeof(*recs));
    list = cJSON_CreateArray();
    if (recs == NULL || list == NULL) {
        oa_free(recs);
        cJSON_Delete(list);
        oa_store_free_keys(keys, n);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        char *text = NULL;
        cJSON *rec;
        const char *state;
        const cJSON *updated;

        if (oa_store_get(oa_service_store(s), OA_STORE_JOBS, keys[i], &text,
                         NULL) != OA_OK)
            continue;
        rec = cJSON_Parse(text);
        oa_free(text);
        if (rec == NULL)
            continue;
        state = str(rec, "State");
        updated = cJSON_GetObjectItemCaseSensitive(rec, "Updated");
        if (state != NULL &&
            (strcmp(state, "Running") == 0 || strcmp(state, "Pending") == 0) &&
            cJSON_IsNumber(updated) &&
            now - (time_t)updated->valuedouble >
                oa_service_config(s)->stale_seconds) {
            cJSON_DeleteItemFromObjectCaseSensitive(rec, "State");
            cJSON_AddStringToObject(rec, "State", "Interrupted");
        }
        recs[m++] = rec;
    }
    qsort(recs, m, sizeof(*recs), by_created_desc);
    for (i = 0; i < m; i++)
        cJSON_AddItemToArray(list, recs[i]);
    oa_free(recs);
    oa_store_free_keys(keys, n);
    *out = list;
    return OA_OK;
}
