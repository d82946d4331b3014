/*
 * Labels on studies after an anonymization (jobs_int.h), through
 * Orthanc's REST API: PUT /studies/{id}/labels/{label} (Orthanc 1.12.0).
 *
 * Two conditions: the running Orthanc knows labels (oa_host_has), and its
 * database stores them (/system "HasLabels": an index plugin may not);
 * the second is asked once, at the first labelled study.
 */
#include "jobs_int.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* 0: not asked yet, 1: labels work, -1: not here. */
static atomic_int labels_state;

static bool labels_here(void)
{
    cJSON *sys = NULL;
    int state = atomic_load(&labels_state);
    bool yes = false;

    if (state != 0)
        return state > 0;
    if (oa_host_has(OA_HOST_LABELS) &&
        oa_host_rest_get_json("/system", &sys, NULL) == OA_OK)
        yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(sys, "HasLabels"));
    cJSON_Delete(sys);
    atomic_store(&labels_state, yes ? 1 : -1);
    if (!yes)
        oa_log(OA_LOG_WARNING,
               "anonymizer: Orthanc %s has no labels (1.12.0 and a database "
               "that stores them): \"StudyLabel\" and \"SourceLabel\" are "
               "not used",
               oa_host_orthanc_version());
    return yes;
}

static void put_label(const char *study, const char *label)
{
    char uri[200];
    uint16_t status = 0;
    oa_error err;

    if (study == NULL || study[0] == '\0' || label[0] == '\0' ||
        !oa_jobs_id_valid(study))
        return;
    snprintf(uri, sizeof(uri), "/studies/%s/labels/%s", study, label);
    oa_error_clear(&err);
    if (oa_host_rest(OA_HTTP_PUT, uri, "", 0, NULL, &status, &err) != OA_OK ||
        status != 200)
        oa_log(OA_LOG_WARNING,
               "anonymizer: label %s not set on study %s (HTTP %u%s%s)",
               label, study, (unsigned)status, err.msg[0] ? ": " : "",
               err.msg);
}

void oa_jobs_label_studies(oa_service *s, const char *original,
                           const char *anonymized)
{
    const oa_config *cfg = oa_service_config(s);

    if (cfg->study_label[0] == '\0' && cfg->source_label[0] == '\0')
        return;
    if (!labels_here())
        return;
    put_label(anonymized, cfg->study_label);
    put_label(original, cfg->source_label);
}
