/*
 * An anonymization request (POST /anonymizer/anonymize and the shortcut
 * routes) checked against Orthanc, and its job submitted; what a study is
 * a copy of (POST /anonymizer/copies, and the refusal to anonymize our own
 * output again without "Force").
 */
#define _POSIX_C_SOURCE 200809L

#include "job_anonymize_int.h"

#include "../orthanc/host.h"

#include <string.h>

#define MAX_RESOURCES 10000
#define NEW_VALUE_MAX 64           /* LO and PN component groups */
#define MAX_PATIENT_STUDIES 10000  /* studies of one patient checked */

/* ------------------------------------------------------------------ */
/* Copies                                                               */

/* The value of metadata `name` of study `sid` in `out` (at most `size`
 * - 1 characters): true if the study has it. */
static bool study_metadata(const char *sid, const char *name, char *out,
                           size_t size)
{
    char uri[160];
    oa_buf value;
    uint16_t status = 0;
    bool found = false;

    snprintf(uri, sizeof(uri), "/studies/%s/metadata/%s", sid, name);
    oa_buf_init(&value, 256);
    if (oa_host_rest(OA_HTTP_GET, uri, NULL, 0, &value, &status, NULL) ==
            OA_OK &&
        status == 200) {
        const char *v = oa_buf_cstr(&value);

        found = true;
        snprintf(out, size, "%s", v != NULL ? v : "");
    }
    oa_buf_dispose(&value);
    return found;
}

/* What report `rid` says: {"Profile", "Date", "Copies": {anonymized:
 * original}}, from `cache` (an object keyed by report ID, may be NULL)
 * or the store; NULL if the report is not stored (any more). */
static const cJSON *report_summary(oa_service *s, const char *rid,
                                   cJSON *cache, cJSON **own)
{
    cJSON *summary, *copies, *report = NULL;
    const cJSON *row, *rows;
    char *text = NULL;
    oa_error ignored;

    *own = NULL;
    if (cache != NULL) {
        const cJSON *hit = cJSON_GetObjectItemCaseSensitive(cache, rid);

        if (hit != NULL)
            return cJSON_IsObject(hit) ? hit : NULL;
    }
    oa_error_clear(&ignored);
    if (oa_store_key_is_valid(rid) &&
        oa_store_get(oa_service_store(s), OA_STORE_REPORTS, rid, &text,
                     &ignored) == OA_OK) {
        report = cJSON_Parse(text);
        oa_free(text);
    }
    summary = report != NULL ? cJSON_CreateObject() : cJSON_CreateNull();
    if (summary != NULL && report != NULL) {
        const char *v;

        v = oa_jobs_str(report, "Profile");
        cJSON_AddStringToObject(summary, "Profile", v != NULL ? v : "");
        v = oa_jobs_str(report, "Date");
        cJSON_AddStringToObject(summary, "Date", v != NULL ? v : "");
        copies = cJSON_AddObjectToObject(summary, "Copies");
        rows = cJSON_GetObjectItemCaseSensitive(report, "Studies");
        cJSON_ArrayForEach(row, rows) {
            const char *a = oa_jobs_str(row, "AnonymizedStudy");
            const char *o = oa_jobs_str(row, "OriginalStudy");

            if (copies != NULL && a != NULL && o != NULL &&
                cJSON_GetObjectItemCaseSensitive(copies, a) == NULL)
                cJSON_AddStringToObject(copies, a, o);
        }
    }
    cJSON_Delete(report);
    if (summary == NULL)
        return NULL;
    if (cache != NULL && cJSON_AddItemToObject(cache, rid, summary))
        return cJSON_IsObject(summary) ? summary : NULL;
    if (cache != NULL) {
        cJSON_Delete(summary);
        return NULL;
    }
    *own = summary;
    return cJSON_IsObject(summary) ? summary : NULL;
}

oa_status oa_job_study_origin(oa_service *s, const char *sid, cJSON *cache,
                              cJSON **out, oa_error *err)
{
    char rid[80], from[80], number[16];
    cJSON *o;

    *out = NULL;
    if (!oa_jobs_id_valid(sid))
        return oa_error_set(err, OA_EINVAL,
                            "a study ID is hex digits and dashes");
    snprintf(number, sizeof(number), "%d", OA_REPORT_METADATA);
    if (study_metadata(sid, number, rid, sizeof(rid))) {
        cJSON *own = NULL;
        const cJSON *sum = report_summary(s, rid, cache, &own);
        const char *orig = NULL;

        o = cJSON_CreateObject();
        if (o == NULL) {
            cJSON_Delete(own);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
        cJSON_AddStringToObject(o, "By", "Anonymizer");
        cJSON_AddStringToObject(o, "Report", rid);
        if (sum != NULL) {
            orig = oa_jobs_str(cJSON_GetObjectItemCaseSensitive(sum,
                                                                "Copies"),
                               sid);
            cJSON_AddStringToObject(o, "Profile",
                                    oa_jobs_str(sum, "Profile"));
            cJSON_AddStringToObject(o, "Date", oa_jobs_str(sum, "Date"));
        }
        if (orig != NULL)
            cJSON_AddStringToObject(o, "Original", orig);
        else
            cJSON_AddNullToObject(o, "Original");
        cJSON_Delete(own);
        *out = o;
        return OA_OK;
    }
    if (study_metadata(sid, "AnonymizedFrom", from, sizeof(from))) {
        o = cJSON_CreateObject();
        if (o == NULL || cJSON_AddStringToObject(o, "By", "Orthanc") == NULL ||
            cJSON_AddStringToObject(o, "Original", from) == NULL) {
            cJSON_Delete(o);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
        *out = o;
    }
    return OA_OK;
}

/* OA_ECONFLICT if study `sid` is our own output (`whose` names it in the
 * message: "study" or "the patient's study"). */
static oa_status refuse_copy(oa_service *s, const char *sid,
                             const char *whose, const char *where,
                             oa_error *err)
{
    cJSON *origin = NULL;
    const char *by, *orig;
    oa_status rc;

    rc = oa_job_study_origin(s, sid, NULL, &origin, err);
    if (rc != OA_OK)
        return rc;
    by = oa_jobs_str(origin, "By");
    if (by == NULL || strcmp(by, "Anonymizer") != 0) {
        cJSON_Delete(origin);   /* Orthanc's own copies may be done again */
        return OA_OK;
    }
    orig = oa_jobs_str(origin, "Original");
    rc = oa_error_set(err, OA_ECONFLICT,
                      "%s%s %s is an anonymized copy of study %s (report "
                      "%s): add \"Force\": true to anonymize it again",
                      where, whose, sid, orig != NULL ? orig : "(unknown)",
                      oa_jobs_str(origin, "Report"));
    cJSON_Delete(origin);
    return rc;
}

/* The resource (`found`, Orthanc's answer) refused if it is, or holds, our
 * own output. */
static oa_status check_not_copy(oa_service *s, bool patient, const char *id,
                                const cJSON *found, const char *where,
                                oa_error *err)
{
    const cJSON *studies, *st;
    int n = 0;
    oa_status rc;

    if (!patient)
        return refuse_copy(s, id, "study", where, err);
    studies = cJSON_GetObjectItemCaseSensitive(found, "Studies");
    cJSON_ArrayForEach(st, studies) {
        if (++n > MAX_PATIENT_STUDIES)
            break;
        if (!cJSON_IsString(st) || !oa_jobs_id_valid(st->valuestring))
            continue;
        rc = refuse_copy(s, st->valuestring, "the patient's study", where,
                         err);
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

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
static oa_status add_resource(oa_service *s, cJSON *list, const char *level,
                              const char *id, const cJSON *from,
                              const char *where, bool force, oa_error *err)
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
    if (rc == OA_OK && !force)
        rc = check_not_copy(s, patient, id, found, where, err);
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

static oa_status parse_resources(oa_service *s, cJSON *list,
                                 const cJSON *body, const char *level,
                                 const char *id, oa_error *err)
{
    const cJSON *res, *r, *f;
    oa_status rc;
    int n = 0;
    bool force = false;

    f = cJSON_GetObjectItemCaseSensitive(body, "Force");
    if (f != NULL && !cJSON_IsNull(f)) {
        if (!cJSON_IsBool(f))
            return oa_error_set(err, OA_EINVAL,
                                "\"Force\" must be true or false");
        force = cJSON_IsTrue(f);
    }
    if (level != NULL)
        return add_resource(s, list, level, id, body, "", force, err);
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
        rc = add_resource(s, list, oa_jobs_str(r, "Level"),
                          oa_jobs_str(r, "ID"), r, where, force, err);
        if (rc != OA_OK)
            return rc;
    }
    return OA_OK;
}

/* "Store" (`where` names it) absent or a boolean. */
static oa_status store_flag(const cJSON *v, const char *where, bool *given,
                            bool *value, oa_error *err)
{
    *given = false;
    if (v == NULL || cJSON_IsNull(v))
        return OA_OK;
    if (!cJSON_IsBool(v))
        return oa_error_set(err, OA_EINVAL,
                            "%s\"Store\" must be true (store the anonymized "
                            "instances in Orthanc, the default) or false "
                            "(send them to the \"Export\" Target only)",
                            where);
    *given = true;
    *value = cJSON_IsTrue(v);
    return OA_OK;
}

oa_status oa_job_anonymize_parse_export(const cJSON *body,
                                        const cJSON **target, bool *store,
                                        oa_error *err)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(body, "Export");
    bool in_export = false, at_top = false, a = true, b = true;
    oa_status rc;

    *target = NULL;
    *store = true;
    rc = store_flag(cJSON_GetObjectItemCaseSensitive(body, "Store"), "",
                    &at_top, &a, err);
    if (rc != OA_OK)
        return rc;
    if (x != NULL && !cJSON_IsNull(x)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(x, "Target");

        if (!cJSON_IsObject(x) || t == NULL || cJSON_IsNull(t))
            return oa_error_set(err, OA_EINVAL,
                                "\"Export\" must be {\"Target\": {...}, "
                                "\"Store\": true|false} with a Target as "
                                "in POST /anonymizer/export");
        rc = store_flag(cJSON_GetObjectItemCaseSensitive(x, "Store"),
                        "\"Export\": ", &in_export, &b, err);
        if (rc != OA_OK)
            return rc;
        *target = t;
    }
    if (in_export && at_top && a != b)
        return oa_error_set(err, OA_EINVAL,
                            "\"Store\" is given twice, with two values");
    *store = in_export ? b : at_top ? a : true;
    if (!*store && *target == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "\"Store\": false sends the anonymized instances "
                            "to a Target instead of storing them: it needs "
                            "\"Export\": {\"Target\": {...}}");
    return OA_OK;
}

oa_status oa_job_anonymize_submit(oa_service *s, const cJSON *body,
                                  const char *level, const char *id,
                                  char *job_id, size_t job_id_size,
                                  bool *asynchronous, oa_error *err)
{
    const cJSON *spec, *target = NULL;
    anon_job *j;
    oa_status rc;
    int priority = 0;
    bool store = true;

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
    rc = parse_resources(s, j->resources, body, level, id, err);
    if (rc != OA_OK)
        goto fail;
    j->priority = priority;
    rc = oa_job_anonymize_parse_export(body, &target, &store, err);
    if (rc != OA_OK)
        goto fail;
    if (target != NULL) {
        rc = oa_job_export_check_target(s, target, err);
        if (rc != OA_OK)
            goto fail;
        j->export_target = cJSON_Duplicate(target, 1);
        if (j->export_target == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto fail;
        }
        j->wayout = !store;   /* on the way out: nothing stored */
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


/* ------------------------------------------------------------------ */
/* On the way out: POST /anonymizer/export with "Anonymize"             */

static const char *const anonymize_keys[] = {
    "Profile", "NewPatientName", "NewPatientID", "NewStudyDescription",
    "Force"};

/* An export's resource (an Orthanc ID: study, else patient) as
 * {"Level", "ID"}. */
static oa_status level_of(const char *id, const char *where, cJSON **out,
                          oa_error *err)
{
    char uri[96];
    cJSON *found = NULL;
    const char *level = "Study";
    oa_status rc;

    *out = NULL;
    if (!oa_jobs_id_valid(id))
        return oa_error_set(err, OA_ENOTFOUND,
                            "%sno study or patient with that ID in Orthanc",
                            where);
    snprintf(uri, sizeof(uri), "/studies/%s", id);
    rc = oa_host_rest_get_json(uri, &found, err);
    if (rc == OA_ENOTFOUND) {
        oa_error_clear(err);
        level = "Patient";
        snprintf(uri, sizeof(uri), "/patients/%s", id);
        rc = oa_host_rest_get_json(uri, &found, err);
        if (rc == OA_ENOTFOUND)
            rc = oa_error_set(err, OA_ENOTFOUND,
                              "%sOrthanc has no study or patient %s", where,
                              id);
    }
    cJSON_Delete(found);
    if (rc != OA_OK)
        return rc;
    *out = cJSON_CreateObject();
    if (*out == NULL || cJSON_AddStringToObject(*out, "Level", level) == NULL ||
        cJSON_AddStringToObject(*out, "ID", id) == NULL) {
        cJSON_Delete(*out);
        *out = NULL;
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    return OA_OK;
}

oa_status oa_job_wayout_request(const cJSON *body, cJSON **out, oa_error *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "Anonymize");
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(body, "Target");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(body, "Resources");
    const cJSON *key, *r;
    cJSON *req = NULL, *list, *x;
    size_t k;
    int n = 0;
    oa_status rc;

    *out = NULL;
    if (!cJSON_IsObject(a))
        return oa_error_set(err, OA_EINVAL,
                            "\"Anonymize\" must be an object: {\"Profile\", "
                            "\"NewPatientName\", \"NewPatientID\", "
                            "\"NewStudyDescription\", \"Force\"} as in POST "
                            "/anonymizer/anonymize");
    cJSON_ArrayForEach(key, a) {
        bool known = false;

        for (k = 0; k < sizeof(anonymize_keys) / sizeof(anonymize_keys[0]);
             k++)
            known |= strcmp(key->string, anonymize_keys[k]) == 0;
        if (!known)
            return oa_error_set(err, OA_EINVAL,
                                "\"Anonymize\": unknown option \"%.64s\" "
                                "(Profile, NewPatientName, NewPatientID, "
                                "NewStudyDescription, Force)",
                                key->string);
    }
    for (k = 0; k < sizeof(new_keys) / sizeof(new_keys[0]); k++) {
        rc = check_new_value(a, new_keys[k], "\"Anonymize\": ", err);
        if (rc != OA_OK)
            return rc;
    }
    if (!cJSON_IsObject(target))
        return oa_error_set(err, OA_EINVAL,
                            "\"Target\" must be an object with a \"Type\": "
                            "zip, folder, dicom, peer or destination");
    if (!cJSON_IsArray(res) || cJSON_GetArraySize(res) == 0)
        return oa_error_set(err, OA_EINVAL,
                            "\"Resources\" must be a non-empty list of "
                            "Orthanc study or patient IDs, or of "
                            "{\"Level\": \"Patient\"|\"Study\", \"ID\": ...}");
    if (cJSON_GetArraySize(res) > MAX_RESOURCES)
        return oa_error_set(err, OA_ELIMIT,
                            "more than %d resources in one request",
                            MAX_RESOURCES);

    req = cJSON_CreateObject();
    list = req != NULL ? cJSON_AddArrayToObject(req, "Resources") : NULL;
    if (list == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    cJSON_ArrayForEach(r, res) {
        char where[48];
        cJSON *one = NULL;

        snprintf(where, sizeof(where), "Resources[%d]: ", n++);
        if (cJSON_IsString(r)) {
            rc = level_of(r->valuestring, where, &one, err);
            if (rc != OA_OK)
                goto fail;
        } else if (cJSON_IsObject(r)) {
            one = cJSON_Duplicate(r, 1);
        } else {
            rc = oa_error_set(err, OA_EINVAL,
                              "%smust be an Orthanc ID or {\"Level\", "
                              "\"ID\"}", where);
            goto fail;
        }
        if (one == NULL || !cJSON_AddItemToArray(list, one)) {
            cJSON_Delete(one);
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto fail;
        }
        /* "Anonymize"'s values for what the resource does not give */
        for (k = 0; k < sizeof(new_keys) / sizeof(new_keys[0]); k++) {
            const char *v = oa_jobs_str(a, new_keys[k]);

            if (v != NULL && v[0] != '\0' &&
                cJSON_GetObjectItemCaseSensitive(one, new_keys[k]) == NULL &&
                cJSON_AddStringToObject(one, new_keys[k], v) == NULL) {
                rc = oa_error_set(err, OA_ENOMEM, "out of memory");
                goto fail;
            }
        }
    }
    for (k = 0; k < 4; k++) {   /* copied as they are */
        static const char *const copied[] = {"Profile", "Force",
                                             "Asynchronous", "Priority"};
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(k < 2 ? a : body, copied[k]);

        if (v != NULL &&
            !cJSON_AddItemToObject(req, copied[k], cJSON_Duplicate(v, 1))) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto fail;
        }
    }
    x = cJSON_AddObjectToObject(req, "Export");
    if (x == NULL ||
        !cJSON_AddItemToObject(x, "Target", cJSON_Duplicate(target, 1)) ||
        cJSON_AddBoolToObject(x, "Store", false) == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    *out = req;
    return OA_OK;
fail:
    cJSON_Delete(req);
    return rc;
}

oa_status oa_job_wayout_submit(oa_service *s, const cJSON *body,
                               char *job_id, size_t job_id_size,
                               bool *asynchronous, oa_error *err)
{
    cJSON *req = NULL;
    oa_status rc;

    if (!cJSON_IsObject(body))
        return oa_error_set(err, OA_EINVAL,
                            "the request must be a JSON object");
    rc = oa_job_wayout_request(body, &req, err);
    if (rc == OA_OK)
        rc = oa_job_anonymize_submit(s, req, NULL, NULL, job_id, job_id_size,
                                     asynchronous, err);
    cJSON_Delete(req);
    return rc;
}
