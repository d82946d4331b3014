/*
 * Reports: the CSV of a report and its summary.  Pure (cJSON and core).
 *
 * A report (as stored, and as GET /anonymizer/reports/{id} answers):
 *   {"ID", "Job", "Date": "20261126T101500", "Profile",
 *    "Studies": [{"OriginalPatientName", "NewPatientName", ...}]}
 * and, for an anonymization on the way out, "Stored": false and its
 * "Target" (never a secret).
 */
#include "services.h"

#include <stdio.h>
#include <string.h>

/* The first three come from the report, the others from each study row. */
const char *const oa_report_csv_columns[] = {
    "Report",
    "Date",
    "Profile",
    "OriginalPatientName",
    "NewPatientName",
    "OriginalPatientID",
    "NewPatientID",
    "OriginalStudyInstanceUID",
    "NewStudyInstanceUID",
    "OriginalStudyDate",
    "NewStudyDate",
    "OriginalStudyDescription",
    "NewStudyDescription",
    "OriginalStudy",
    "AnonymizedStudy",
    "Instances",
    "Dropped",
    "Failed",
};
const size_t oa_report_csv_column_count =
    sizeof(oa_report_csv_columns) / sizeof(oa_report_csv_columns[0]);

/* Ceiling of one CSV (a report of thousands of studies is < 10 MB). */
#define CSV_MAX ((size_t)256 << 20)

oa_status oa_csv_cell(oa_buf *out, const char *value)
{
    bool quote = false, guard;
    const char *p;
    oa_status rc;

    if (value == NULL)
        value = "";
    /* Formula injection (OWASP "CSV Injection"): =, +, -, @, tab and CR
     * start a formula in spreadsheets, and so do ; and | where ; is the
     * list separator (many European locales) or DDE is on; a leading '
     * makes the cell text. */
    guard = value[0] != '\0' && strchr("=+-@\t\r;|", value[0]) != NULL;
    /* A cell holding a separator (, here; ; or tab for spreadsheets that
     * guess another one), a quote, CR or LF is quoted, so that no part of
     * it becomes a cell of its own (which could start a formula). */
    for (p = value; *p != '\0'; p++)
        if (strchr(",;\t\"\r\n", *p) != NULL)
            quote = true;
    if (quote && (rc = oa_buf_append_byte(out, '"')) != OA_OK)
        return rc;
    if (guard && (rc = oa_buf_append_byte(out, '\'')) != OA_OK)
        return rc;
    for (p = value; *p != '\0'; p++) {
        if (*p == '"' && (rc = oa_buf_append_byte(out, '"')) != OA_OK)
            return rc;
        if ((rc = oa_buf_append_byte(out, (uint8_t)*p)) != OA_OK)
            return rc;
    }
    if (quote && (rc = oa_buf_append_byte(out, '"')) != OA_OK)
        return rc;
    return OA_OK;
}

/* A JSON value as CSV text: strings as they are, numbers as integers. */
static oa_status csv_json_field(oa_buf *out, const cJSON *v)
{
    char num[32];

    if (cJSON_IsString(v))
        return oa_csv_cell(out, v->valuestring);
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof(num), "%.0f", v->valuedouble);
        return oa_csv_cell(out, num);
    }
    return oa_csv_cell(out, "");
}

oa_status oa_report_csv(const cJSON *report, oa_buf *out, oa_error *err)
{
    const cJSON *studies, *row;
    oa_status rc = OA_OK;
    size_t i;

    oa_buf_init(out, CSV_MAX);
    if (!cJSON_IsObject(report))
        return oa_error_set(err, OA_EINVAL, "not a report");
    studies = cJSON_GetObjectItemCaseSensitive(report, "Studies");
    for (i = 0; i < oa_report_csv_column_count && rc == OA_OK; i++) {
        if (i > 0)
            rc = oa_buf_append_byte(out, ',');
        if (rc == OA_OK)
            rc = oa_csv_cell(out, oa_report_csv_columns[i]);
    }
    if (rc == OA_OK)
        rc = oa_buf_append(out, "\r\n", 2);
    cJSON_ArrayForEach(row, studies) {
        for (i = 0; i < oa_report_csv_column_count && rc == OA_OK; i++) {
            const char *col = oa_report_csv_columns[i];
            const cJSON *v;

            if (i > 0)
                rc = oa_buf_append_byte(out, ',');
            if (rc != OA_OK)
                break;
            if (i == 0)
                v = cJSON_GetObjectItemCaseSensitive(report, "ID");
            else if (i < 3)
                v = cJSON_GetObjectItemCaseSensitive(report, col);
            else
                v = cJSON_GetObjectItemCaseSensitive(row, col);
            rc = csv_json_field(out, v);
        }
        if (rc == OA_OK)
            rc = oa_buf_append(out, "\r\n", 2);
        if (rc != OA_OK)
            break;
    }
    if (rc != OA_OK) {
        oa_buf_dispose(out);
        return oa_error_set(err, rc, "cannot write the CSV: %s",
                            oa_status_str(rc));
    }
    return OA_OK;
}

cJSON *oa_report_summary(const cJSON *report)
{
    static const char *const keys[] = {"ID", "Job", "Date", "Profile"};
    cJSON *s = cJSON_CreateObject();
    size_t i;

    if (s == NULL)
        return NULL;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(report, keys[i]);

        if (cJSON_AddStringToObject(s, keys[i],
                                    cJSON_IsString(v) ? v->valuestring
                                                      : "") == NULL)
            goto nomem;
    }
    if (cJSON_AddNumberToObject(
            s, "Studies",
            cJSON_GetArraySize(
                cJSON_GetObjectItemCaseSensitive(report, "Studies"))) ==
        NULL)
        goto nomem;
    /* on the way out: sent to that Target, nothing stored in Orthanc */
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(report, "Stored"))) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(report, "Target");

        if (cJSON_AddBoolToObject(s, "Stored", false) == NULL ||
            (cJSON_IsObject(t) &&
             !cJSON_AddItemToObject(s, "Target", cJSON_Duplicate(t, 1))))
            goto nomem;
    }
    return s;
nomem:
    cJSON_Delete(s);
    return NULL;
}
