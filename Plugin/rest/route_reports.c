/*
 * Reports: GET /anonymizer/reports, /reports/{id}, /reports/{id}/csv.
 */
#include "rest_int.h"

#include "../services/services.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    rc = oa_host_answer(out, 200, "text/csv; charset=utf-8",
                        oa_buf_data(&csv), csv.len, err);
    oa_buf_dispose(&csv);
    return rc;
}

oa_status oa_rest_get_jobs(oa_host_output *out, const oa_rest_request *req,
                           oa_error *err)
{
    return oa_rest_answer_list(out, req, oa_service_list_jobs, err);
}
