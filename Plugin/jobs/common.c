/*
 * Helpers shared by the jobs.
 */
#define _POSIX_C_SOURCE 200809L

#include "jobs_int.h"

#include "../orthanc/host.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

bool oa_jobs_id_valid(const char *id)
{
    size_t n;

    if (id == NULL || id[0] == '\0')
        return false;
    for (n = 0; id[n] != '\0'; n++) {
        char c = id[n];

        if (n >= OA_JOB_ID_MAX - 1)
            return false;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-'))
            return false;
    }
    return true;
}

void oa_jobs_now(char out[20])
{
    time_t t = time(NULL);
    struct tm tm;

    localtime_r(&t, &tm);
    strftime(out, 20, "%Y%m%dT%H%M%S", &tm);
}

const char *oa_jobs_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void oa_jobs_find_own_id(const char *type, const char *key,
                         const char *value, char *out, size_t size)
{
    cJSON *list = NULL;
    const cJSON *job;

    out[0] = '\0';
    if (oa_host_rest_get_json("/jobs?expand", &list, NULL) != OA_OK)
        return;
    cJSON_ArrayForEach(job, list) {
        const cJSON *content =
            cJSON_GetObjectItemCaseSensitive(job, "Content");
        const char *t = oa_jobs_str(job, "Type");
        const char *v = oa_jobs_str(content, key);

        if (t != NULL && strcmp(t, type) == 0 && v != NULL &&
            strcmp(v, value) == 0) {
            snprintf(out, size, "%s", oa_jobs_str(job, "ID") != NULL
                                          ? oa_jobs_str(job, "ID")
                                          : "");
            break;
        }
    }
    cJSON_Delete(list);
}

static void *unserializer(const char *type, const char *serialized,
                          const oa_host_job_ops **ops)
{
    void *job = NULL;

    if (strcmp(type, OA_JOB_TYPE_ANONYMIZE) == 0) {
        job = oa_anonymize_unserialize(serialized);
        *ops = oa_anonymize_job_ops();
    } else if (strcmp(type, OA_JOB_TYPE_EXPORT) == 0) {
        job = oa_export_unserialize(serialized);
        *ops = oa_export_job_ops();
    }
    return job;
}

void oa_jobs_register(void)
{
    oa_host_register_job_unserializer(unserializer);
}
