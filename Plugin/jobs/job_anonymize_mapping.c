/*
 * The mapping files of an anonymization job (uids.csv, patients.csv of
 * its report): the workers add each stored instance's UID pairs and
 * Patient IDs under the job's lock; the report stores them apart
 * (OA_STORE_MAPPINGS, key = report ID; Plugin/services/mapping.c).
 * A job resumed after a restart lost the pairs of the instances done
 * before it: its mapping says "Complete": false.
 */
#include "job_anonymize_int.h"

#include <string.h>

void oa_job_anonymize__add_mapping(anon_job *j, uint32_t study_index,
                                   const oa_anon_uid_pair *pairs, size_t n,
                                   bool truncated, const char *old_pid,
                                   const char *new_pid)
{
    size_t i;

    if (j->mapping == NULL)
        return;
    for (i = 0; pairs != NULL && i < n; i++)
        oa_mapping_add(j->mapping, OA_MAPPING_UIDS, study_index,
                       pairs[i].old_uid, pairs[i].new_uid);
    if (new_pid != NULL && new_pid[0] != '\0')
        oa_mapping_add(j->mapping, OA_MAPPING_PATIENTS, study_index,
                       old_pid != NULL ? old_pid : "", new_pid);
    if (truncated && oa_mapping_complete(j->mapping)) {
        oa_mapping_set_incomplete(j->mapping);
        oa_log(OA_LOG_WARNING,
               "anonymization %s: an instance mapped more than %d UIDs (or "
               "one longer than %d characters): uids.csv of the report "
               "misses some",
               j->report_id, OA_ANON_MAX_UID_PAIRS, OA_ANON_VALUE_MAX - 1);
    }
}

/* Under the lock: "Mapping": {"Uids", "Patients", "Complete"} of the
 * report. */
static void summary(anon_job *j, cJSON *report)
{
    cJSON *m = cJSON_AddObjectToObject(report, "Mapping");

    if (m == NULL)
        return;
    cJSON_AddNumberToObject(m, "Uids", (double)oa_mapping_count(
                                           j->mapping, OA_MAPPING_UIDS));
    cJSON_AddNumberToObject(m, "Patients", (double)oa_mapping_count(
                                               j->mapping,
                                               OA_MAPPING_PATIENTS));
    cJSON_AddBoolToObject(m, "Complete", oa_mapping_complete(j->mapping));
}

void oa_job_anonymize__write_mapping(anon_job *j, cJSON *report)
{
    const char **names;
    cJSON *json = NULL;
    char *text = NULL;
    oa_error err;
    size_t i;

    if (j->mapping == NULL)
        return;
    pthread_mutex_lock(&j->lock);
    if (report != NULL)
        summary(j, report);
    names = oa_calloc(j->nstudies ? j->nstudies : 1, sizeof(*names));
    for (i = 0; names != NULL && i < j->nstudies; i++)
        names[i] = j->studies[i].anonymized;
    if (names != NULL)
        json = oa_mapping_to_json(j->mapping, names, j->nstudies);
    pthread_mutex_unlock(&j->lock);
    oa_free(names);
    if (json != NULL)
        cJSON_AddStringToObject(json, "Report", j->report_id);
    text = json != NULL ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    oa_error_clear(&err);
    if (text == NULL ||
        oa_store_put(oa_service_store(j->svc), OA_STORE_MAPPINGS,
                     j->report_id, text, &err) != OA_OK)
        oa_log(OA_LOG_ERROR, "anonymization %s: the mapping files (uids.csv, "
               "patients.csv) not saved: %s", j->report_id,
               text == NULL ? "out of memory" : err.msg);
    cJSON_free(text);
}
