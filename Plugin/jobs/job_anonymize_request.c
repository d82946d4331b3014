/*
 * An anonymization request (POST /anonymizer/anonymize and the shortcut
 * routes) checked against Orthanc, and its job submitted.
 */
#define _POSIX_C_SOURCE 200809L

#include "job_anonymize_int.h"

#include "../orthanc/host.h"

#include <string.h>

#define MAX_RESOURCES 10000
#define NEW_VALUE_MAX 64           /* LO and PN component groups */

/* ------------------------------------------------------------------ */
/* Request                                                              */

/* A new name, ID or description from the request: NULL if absent. */
static oa_status check_new_value(const cJSON *obj, const char *key,
                                 const char *where, oa_error *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    const char *p;

    if (v == NULL || cJSON_IsNull(v))
        return OA_OK;
    if (!cJSON_IsString(v))
        return oa_error_set(err, OA_EINVAL, "%s\"%s\" must be a string",
                            where, key);
    if (strlen(v->valuestring) > NEW_VALUE_MAX)
        return oa_error_set(err, OA_EINVAL,
                            "%s\"%s\" is longer than %d characters", where,
                            key, NEW_VALUE_MAX);
    for (p = v->valuestring; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\')
            return oa_error_set(err, OA_EINVAL,
                                "%s\"%s\" may not hold control characters "
                                "or a backslash (DICOM value separator)",
                                where, key);
    return OA_OK;
}

static const char *const new_keys[] = {"NewPatientName", "NewPatientID",
                                       "NewStudyDescription"};

/* Check one resource against Orthanc and append it, normalized. */
static oa_status add_resource(cJSON *list, const char *level, const char *id,
                              const cJSON *from, const char *where,
                              oa_error *err)
{
    char uri[96];
    cJSON *r, *found = NULL;
    oa_status rc;
    size_t k;
    bool patient;

    if (level == NULL || id == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "%sexpected \"Level\" and \"ID\" strings", where);
    if (strcmp(level, "Patient") == 0 || strcmp(level, "patient") == 0)
        patient = true;
    else if (strcmp(level, "Study") == 0 || strcmp(level, "study") == 0)
        patient = false;
    else
        return oa_error_set(err, OA_EINVAL,
                            "%s\"Level\" must be \"Patient\" or \"Study\"",
                            where);
    for (k = 0; k < sizeof(new_keys) / sizeof(new_keys[0]); k++) {
        rc = check_new_value(from, new_keys[k], where, err);
        if (rc != OA_OK)
            return rc;
    }
    if (!oa_jobs_id_valid(id))
        return oa_error_set(err, OA_ENOTFOUND,
                            "%sno %s with that ID in Orthanc (IDs are hex "
                            "digits and dashes, from /patients or /studies)",
                            where, patient ? "patient" : "study");
    snprintf(uri, sizeof(uri), "/%s/%s", patient ? "patients" : "studies",
             id);
    rc = oa_host_rest_get_json(uri, &found, err);
    cJSON_Delete(found);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND, "%sOrthanc has no %s %s",
                            where, patient ? "patient" : "study", id);
    if (rc != OA_OK)
        return rc;

    r = cJSON_CreateObject();
    if (r == NULL || !cJSON_AddItemToArray(list, r) ||
        cJSON_AddStringToObject(r, "Level", patient ? "Patient" : "Study") ==
            NULL ||
        cJSON_AddStringToObject(r, "ID", id) == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    for (k = 0; k < sizeof(new_keys) / sizeof(new_keys[0]); k++) {
        const char *v = oa_jobs_str(from, new_keys[k]);

        if (v != NULL && v[0] != '\0' &&
            cJSON_AddStringToObject(r, new_keys[k], v) == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    return OA_OK;
}

static oa_status parse_resources(cJSON *list, const cJSON *body,
                                 const char *level, const char *id,
                                 oa_error *err)
{
    const cJSON *res, *r;
    oa_status rc;
    int n = 0;

    if (level != NULL)
        return add_resource(list, level, id, body, "", err);
    res = cJSON_GetObjectItemCaseSensitive(body, "Resources");
    if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) == 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Resources\" must be a non-empty list of "
                            "{\"Level\": \"Patient\"|\"Study\", \"ID\": ...}");
    if (cJSON_GetArraySize(res) > MAX_RESOURCES)
        return oa_error_set(err, OA_ELIMIT,
                            "more than %d resources in one request",
                            MAX_RESOURCES);
    cJSON_ArrayForEach(r, res) {
        char where[48];

        snprintf(where, sizeof(where), "Resources[%d]: ", n++);
        if (!cJSON_IsObject(r))
            return oa_error_set(err, OA_EINVAL, "%smust be an object",
                                where);
        rc = add_resource(list, oa_jobs_str(r, "Level"), oa_jobs_str(r, "ID"), r,
                          where, err);
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

oa_status oa_job_anonymize_submit(oa_service *s, const cJSON *body,
                                  const char *level, const char *id,
                                  char *job_id, size_t job_id_size,
                                  bool *asynchronous, oa_error *err)
{
    const cJSON *v, *spec;
    anon_job *j;
    oa_status rc;
    int priority = 0;

    if (body != NULL && !cJSON_IsObject(body))
        return oa_error_set(err, OA_EINVAL,
                            "the request must be a JSON object");
    rc = oa_service_run_options(body, asynchronous, &priority, err);
    if (rc != OA_OK)
        return rc;

    j = oa_job_anonymize__alloc(s);
    if (j == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    spec = cJSON_GetObjectItemCaseSensitive(body, "Profile");
    rc = oa_service_request_profile(s, spec, &j->profile, err);
    if (rc != OA_OK)
        goto fail;
    if (cJSON_IsString(spec))
        snprintf(j->profile_label, sizeof(j->profile_label), "%s",
                 spec->valuestring);
    else if (spec == NULL || cJSON_IsNull(spec))
        strcpy(j->profile_label, "Default");
    else
        strcpy(j->profile_label, "(inline)");
    rc = oa_profile_to_json(&j->profile_json, j->profile,
                            OA_PROFILE_JSON_OVERRIDES, err);
    if (rc != OA_OK)
        goto fail;

    j->resources = cJSON_CreateArray();
    if (j->resources == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    rc = parse_resources(j->resources, body, level, id, err);
    if (rc != OA_OK)
        goto fail;
    j->priority = priority;
    v = cJSON_GetObjectItemCaseSensitive(body, "Export");
    if (v != NULL && !cJSON_IsNull(v)) {
        const cJSON *target = cJSON_GetObjectItemCaseSensitive(v, "Target");

        if (!cJSON_IsObject(v) || target == NULL) {
            rc = oa_error_set(err, OA_EINVAL,
                              "\"Export\" must be {\"Target\": {...}} as "
                              "in POST /anonymizer/export");
            goto fail;
        }
        rc = oa_job_export_check_target(s, target, err);
        if (rc != OA_OK)
            goto fail;
        j->export_target = cJSON_Duplicate(target, 1);
        if (j->export_target == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto fail;
        }
    }

    rc = oa_host_generate_uuid(j->report_id, err);
    if (rc != OA_OK)
        goto fail;
    oa_jobs_now(j->created);
    /* The secret now, so that a misconfiguration fails the request. */
    {
        const uint8_t *secret;
        size_t len;

        rc = oa_service_secret(s, &secret, &len, err);
        if (rc != OA_OK)
            goto fail;
    }
    return oa_jobs_submit(oa_job_anonymize_ops(), j, &j->ref,
                          oa_job_anonymize__free, priority, job_id,
                          job_id_size, err);
fail:
    oa_job_anonymize__free(j);
    return rc;
}

