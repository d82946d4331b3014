/*
 * Reports: GET /anonymizer/reports, /reports/{id}, /reports/{id}/csv.
 */
#include "rest_int.h"

#include "../services/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A streamed CSV goes in chunks of this size. */
#define CSV_CHUNK ((size_t)256 << 10)

/* The stored report `id` as JSON. */
static oa_status load_report(oa_service *s, const char *id, cJSON **out,
                             oa_error *err)
{
    char *text = NULL;
    oa_status rc;

    *out = NULL;
    if (!oa_store_key_is_valid(id))
        return oa_error_set(err, OA_ENOTFOUND, "no report with that ID");
    rc = oa_store_get(oa_service_store(s), OA_STORE_REPORTS, id, &text, err);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND,
                            "no report %s (GET /anonymizer/reports lists "
                            "them)",
                            id);
    if (rc != OA_OK)
        return rc;
    *out = cJSON_Parse(text);
    oa_free(text);
    if (*out == NULL)
        return oa_error_set(err, OA_EPARSE, "report %s is damaged", id);
    return OA_OK;
}

/* The audit trail: report `id` was read, with the Orthanc IDs of its
 * studies (never their values). */
static void audit_report(const oa_rest_request *req, const char *id,
                         const cJSON *report, const char *format)
{
    cJSON *d = cJSON_CreateObject(), *studies;
    const cJSON *row;

    if (d == NULL)
        return;
    cJSON_AddStringToObject(d, "Report", id);
    cJSON_AddStringToObject(d, "Format", format);
    studies = cJSON_AddArrayToObject(d, "Studies");
    cJSON_ArrayForEach(row,
                       cJSON_GetObjectItemCaseSensitive(report, "Studies")) {
        static const char *const keys[] = {"OriginalStudy",
                                           "AnonymizedStudy"};
        size_t i;

        for (i = 0; studies != NULL && i < 2; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, keys[i]);

            if (cJSON_IsString(v) && v->valuestring[0] != '\0')
                cJSON_AddItemToArray(studies,
                                     cJSON_CreateString(v->valuestring));
        }
    }
    oa_rest_audit(req, OA_AUDIT_REPORT_DOWNLOAD, d);
}

/* Newest first. */
static int by_date_desc(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    const cJSON *dx = cJSON_GetObjectItemCaseSensitive(x, "Date");
    const cJSON *dy = cJSON_GetObjectItemCaseSensitive(y, "Date");
    int c = strcmp(cJSON_IsString(dy) ? dy->valuestring : "",
                   cJSON_IsString(dx) ? dx->valuestring : "");

    if (c != 0)
        return c;
    dx = cJSON_GetObjectItemCaseSensitive(x, "ID");
    dy = cJSON_GetObjectItemCaseSensitive(y, "ID");
    return strcmp(cJSON_IsString(dx) ? dx->valuestring : "",
                  cJSON_IsString(dy) ? dy->valuestring : "");
}

oa_status oa_rest_get_reports(oa_host_output *out,
                              const oa_rest_request *req, oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    char **keys = NULL;
    size_t count = 0, i, n = 0;
    cJSON **rows = NULL, *list = NULL;
    oa_status rc;

    (void)req;
    if (s == NULL)
        return err->code;
    rc = oa_store_list(oa_service_store(s), OA_STORE_REPORTS, &keys, &count,
                       err);
    if (rc != OA_OK)
        return rc;
    rows = oa_calloc(count ? count : 1, sizeof(*rows));
    list = cJSON_CreateArray();
    if (rows == NULL || list == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < count; i++) {
        cJSON *report = NULL;
        oa_error ignored;

        oa_error_clear(&ignored);
        if (load_report(s, keys[i], &report, &ignored) != OA_OK)
            continue;   /* removed meanwhile, or damaged: not listed */
        rows[n] = oa_report_summary(report);
        cJSON_Delete(report);
        if (rows[n] != NULL)
            n++;
    }
    qsort(rows, n, sizeof(*rows), by_date_desc);
    for (i = 0; i < n; i++) {
        cJSON_AddItemToArray(list, rows[i]);
        rows[i] = NULL;
    }
    rc = oa_rest_answer_json(out, 200, list, err);
out:
    for (i = 0; rows != NULL && i < n; i++)
        cJSON_Delete(rows[i]);
    oa_free(rows);
    cJSON_Delete(list);
    oa_store_free_keys(keys, count);
    return rc;
}

oa_status oa_rest_get_report(oa_host_output *out, const oa_rest_request *req,
                             oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *report = NULL;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = load_report(s, req->params[0], &report, err);
    if (rc == OA_OK)
        audit_report(req, req->params[0], report, "json");
    if (rc == OA_OK)
        rc = oa_rest_answer_json(out, 200, report, err);
    cJSON_Delete(report);
    return rc;
}

oa_status oa_rest_get_report_csv(oa_host_output *out,
                                 const oa_rest_request *req, oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    cJSON *report = NULL;
    char disposition[128];
    oa_buf csv;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = load_report(s, req->params[0], &report, err);
    if (rc != OA_OK)
        return rc;
    audit_report(req, req->params[0], report, "csv");
    rc = oa_report_csv(report, &csv, err);
    cJSON_Delete(report);
    if (rc != OA_OK)
        return rc;
    snprintf(disposition, sizeof(disposition),
             "attachment; filename=\"anonymization-%s.csv\"",
             req->params[0]);
    oa_host_set_header(out, "Content-Disposition", disposition);
    if (oa_host_has(OA_HOST_STREAM)) {
        /* Streamed (Orthanc 1.12.6): Orthanc keeps no copy of its own. */
        const uint8_t *p = oa_buf_data(&csv);
        size_t off = 0;

        rc = oa_host_stream_start(out, "text/csv; charset=utf-8", err);
        while (rc == OA_OK && off < csv.len) {
            size_t n = csv.len - off < CSV_CHUNK ? csv.len - off : CSV_CHUNK;

            if (oa_host_stream_chunk(out, p + off, n, err) != OA_OK) {
                oa_log(OA_LOG_WARNING,
                       "anonymizer: CSV download of report %s stopped: %s",
                       req->params[0], err->msg);
                oa_error_clear(err);
                break;   /* started: the stream is the answer */
            }
            off += n;
        }
    } else {
        rc = oa_host_answer(out, 200, "text/csv; charset=utf-8",
                            oa_buf_data(&csv), csv.len, err);
    }
    oa_buf_dispose(&csv);
    return rc;
}

/*
 * The mapping files of a report (its re-identification key, as the
 * report itself): "id_old,id_new" for every UID or Patient ID the job
 * mapped.  A report without a stored mapping (written by an earlier
 * version) is a 404 that says so; an incomplete one is answered with
 * what it holds and the header X-Anonymizer-Mapping: incomplete.
 */
oa_status oa_rest_get_report_mapping(oa_host_output *out,
                                     const oa_rest_request *req,
                                     oa_error *err)
{
    oa_service *s = oa_rest_service(err);
    bool uids = strcmp(req->params[1], "uids") == 0;
    cJSON *report = NULL, *stored = NULL;
    oa_mapping *m = NULL;
    char *text = NULL, disposition[200];
    oa_buf csv;
    oa_status rc;

    if (s == NULL)
        return err->code;
    rc = load_report(s, req->params[0], &report, err);
    cJSON_Delete(report);
    if (rc != OA_OK)
        return rc;
    rc = oa_store_get(oa_service_store(s), OA_STORE_MAPPINGS,
                      req->params[0], &text, err);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND,
                            "report %s has no mapping files (written by an "
                            "earlier version: anonymize again to get them)",
                            req->params[0]);
    if (rc != OA_OK)
        return rc;
    stored = cJSON_Parse(text);
    oa_free(text);
    m = oa_mapping_new();
    if (m == NULL) {
        cJSON_Delete(stored);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    rc = stored != NULL
             ? oa_mapping_merge_json(m, stored, NULL, NULL, err)
             : oa_error_set(err, OA_EPARSE,
                            "the mapping of report %s is damaged",
                            req->params[0]);
    cJSON_Delete(stored);
    if (rc == OA_OK)
        rc = oa_mapping_csv(m, uids ? OA_MAPPING_UIDS : OA_MAPPING_PATIENTS,
                            &csv, err);
    if (rc == OA_OK) {
        snprintf(disposition, sizeof(disposition),
                 "attachment; filename=\"anonymization-%s-%s.csv\"",
                 req->params[0], uids ? "uids" : "patients");
        oa_host_set_header(out, "Content-Disposition", disposition);
        if (!oa_mapping_complete(m))
            oa_host_set_header(out, "X-Anonymizer-Mapping", "incomplete");
        rc = oa_host_answer(out, 200, "text/csv; charset=utf-8",
                            oa_buf_data(&csv), csv.len, err);
        oa_buf_dispose(&csv);
    }
    oa_mapping_free(m);
    return rc;
}

oa_status oa_rest_get_jobs(oa_host_output *out, const oa_rest_request *req,
                           oa_error *err)
{
    return oa_rest_answer_list(out, req, oa_service_list_jobs, err);
}
