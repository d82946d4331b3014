/*
 * The saved state of an anonymization job: what Orthanc keeps of it
 * (after every step, and at shutdown) and the job restored from it after
 * a restart, which resumes with the instances not done yet.
 */
#define _POSIX_C_SOURCE 200809L

#include "job_anonymize_int.h"

#include <string.h>

static void read_values(const cJSON *row, const char *prefix,
                        oa_anon_values *v)
{
    char key[48];

    memset(v, 0, sizeof(*v));
#define READ(field, name)                                                    \
    snprintf(key, sizeof(key), "%s%s", prefix, name);                        \
    oa_job_anonymize__copy(v->field, sizeof(v->field), oa_jobs_str(row, key))
    READ(patient_name, "PatientName");
    READ(patient_id, "PatientID");
    READ(study_uid, "StudyInstanceUID");
    READ(study_date, "StudyDate");
    READ(study_description, "StudyDescription");
#undef READ
}

/* ------------------------------------------------------------------ */
/* Serialization                                                        */

/*
 * The job as Orthanc saves it (after every step, and at shutdown).  The
 * instance list does not change after planning: its JSON is built once
 * (items_json); what changes is one state digit per instance ("States")
 * and the per-study counters, so a step costs little even for a study of
 * thousands of instances.  Which instances this run stored anew is not
 * saved: after a restart, a cancel removes only what was stored since.
 * A way-out job is saved as version 3 (an older plugin refuses it rather
 * than store what was meant to leave) and starts over once restored.
 */
static char *items_json(const anon_job *j)
{
    oa_buf b;
    size_t i;
    oa_status rc;

    oa_buf_init(&b, (size_t)MAX_INSTANCES * 96);
    rc = oa_buf_append_byte(&b, '[');
    for (i = 0; i < j->nitems && rc == OA_OK; i++)
        rc = oa_buf_printf(&b, "%s[\"%s\",%u]", i ? "," : "",
                           j->items[i].instance, (unsigned)j->items[i].study);
    if (rc == OA_OK)
        rc = oa_buf_append_byte(&b, ']');
    if (rc != OA_OK) {
        oa_buf_dispose(&b);
        return NULL;
    }
    {
        char *text = oa_strdup(oa_buf_cstr(&b));

        oa_buf_dispose(&b);
        return text;
    }
}

const char *oa_job_anonymize__serialized(void *p)
{
    anon_job *j = p;
    cJSON *s = cJSON_CreateObject(), *studies;
    char *head = NULL, *states = NULL;
    oa_buf out;
    size_t i;

    if (s == NULL)
        return NULL;
    if (j->planned && j->items_text == NULL)
        j->items_text = items_json(j);
    if (j->planned && j->items_text == NULL) {
        cJSON_Delete(s);
        return NULL;
    }
    pthread_mutex_lock(&j->lock);
    cJSON_AddNumberToObject(s, "Version", j->wayout ? SERIAL_VERSION_WAYOUT
                                                    : SERIAL_VERSION);
    if (j->wayout)
        cJSON_AddBoolToObject(s, "Stored", false);
    if (j->wayout && j->sent) {   /* finished: where the files went */
        cJSON_AddItemToObject(s, "Sent", j->sent_info != NULL
                                             ? cJSON_Duplicate(j->sent_info, 1)
                                             : cJSON_CreateObject());
        cJSON_AddNumberToObject(s, "BytesSent", (double)j->bytes_sent);
    }
    cJSON_AddItemToObject(s, "Resources", cJSON_Duplicate(j->resources, 1));
    cJSON_AddStringToObject(s, "ProfileName", j->profile_label);
    cJSON_AddItemToObject(s, "Profile", cJSON_Duplicate(j->profile_json, 1));
    cJSON_AddStringToObject(s, "Report", j->report_id);
    cJSON_AddStringToObject(s, "Created", j->created);
    cJSON_AddBoolToObject(s, "Planned", j->planned);
    cJSON_AddBoolToObject(s, "Reported", j->reported);
    if (j->export_target != NULL)
        cJSON_AddItemToObject(s, "Export",
                              cJSON_Duplicate(j->export_target, 1));
    cJSON_AddNumberToObject(s, "Priority", j->priority);
    cJSON_AddStringToObject(s, "ExportJob", j->export_job);
    studies = cJSON_AddArrayToObject(s, "Studies");
    for (i = 0; i < j->nstudies; i++) {
        const study *st = &j->studies[i];
        cJSON *o = cJSON_CreateObject();

        if (o == NULL || !cJSON_AddItemToArray(studies, o))
            break;
        cJSON_AddStringToObject(o, "Original", st->original);
        cJSON_AddStringToObject(o, "Anonymized", st->anonymized);
        if (st->new_name != NULL)
            cJSON_AddStringToObject(o, "NewPatientName", st->new_name);
        if (st->new_id != NULL)
            cJSON_AddStringToObject(o, "NewPatientID", st->new_id);
        if (st->new_desc != NULL)
            cJSON_AddStringToObject(o, "NewStudyDescription", st->new_desc);
        cJSON_AddNumberToObject(o, "Instances", st->instances);
        cJSON_AddNumberToObject(o, "Dropped", st->dropped);
        cJSON_AddNumberToObject(o, "Failed", st->failed);
        cJSON_AddNumberToObject(o, "PixelsCleaned", st->cleaned);
        oa_job_anonymize__add_values(o, "Original", &st->orig);
        cJSON_AddBoolToObject(o, "HaveNew", st->have_new);
        /* Not "New...": "NewPatientID" above is what the request asked
         * for; the values the job produced went under the same keys,
         * and Orthanc (JsonCpp) keeps the last of two equal keys: a job
         * saved before its first instance came back with "NewPatientID"
         * "" and used the pseudonym (issue 12, test_faults.py kill). */
        oa_job_anonymize__add_values(o, "Result", &st->anon);
    }
    cJSON_AddItemToObject(s, "Failures", cJSON_Duplicate(j->failures, 1));
    cJSON_AddNumberToObject(s, "FailedCount", (double)j->nfailed);
    if (j->warnings != NULL)   /* a lost side effect, shown after a restart */
        cJSON_AddItemToObject(s, "Warnings", cJSON_Duplicate(j->warnings, 1));
    cJSON_AddItemToObject(s, "CleanedImages", cJSON_Duplicate(j->cleaned, 1));
    cJSON_AddNumberToObject(s, "PixelsCleaned", (double)j->ncleaned);
    cJSON_AddNumberToObject(s, "PixelsRefused", (double)j->npixel_refused);
    /* one digit per instance; running ones are to do again */
    states = oa_malloc(j->nitems + 1);
    if (states != NULL) {
        for (i = 0; i < j->nitems; i++)
            states[i] = (char)('0' + (j->items[i].state == ITEM_RUNNING
                                          ? ITEM_TODO
                                          : j->items[i].state));
        states[j->nitems] = '\0';
        cJSON_AddStringToObject(s, "States", states);
        oa_free(states);
    }
    pthread_mutex_unlock(&j->lock);

    head = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (head == NULL)
        return NULL;
    /* head is "{...}": splice the cached items in before its last brace */
    oa_buf_init(&out, (size_t)MAX_INSTANCES * 128);
    if (oa_buf_append(&out, head, strlen(head) - 1) != OA_OK ||
        oa_buf_printf(&out, ",\"Items\":%s}",
                      j->items_text != NULL ? j->items_text : "[]") !=
            OA_OK) {
        cJSON_free(head);
        oa_buf_dispose(&out);
        return NULL;
    }
    cJSON_free(head);
    oa_free(j->serialized);
    j->serialized = oa_strdup(oa_buf_cstr(&out));
    oa_buf_dispose(&out);
    return j->serialized;
}

void *oa_job_anonymize_unserialize(const char *text)
{
    oa_service *svc = oa_service_current();
    cJSON *s, *v;
    const cJSON *o;
    const char *states;
    anon_job *j;
    oa_error err;
    size_t n;

    if (svc == NULL)
        return NULL;
    s = cJSON_Parse(text);
    if (s == NULL)
        return NULL;
    v = cJSON_GetObjectItemCaseSensitive(s, "Version");
    j = oa_job_anonymize__alloc(svc);
    if (j == NULL || !cJSON_IsNumber(v) ||
        (v->valueint != SERIAL_VERSION && v->valueint != SERIAL_VERSION_WAYOUT))
        goto fail;
    j->wayout = v->valueint == SERIAL_VERSION_WAYOUT;
    if (j->wayout &&
        !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "Stored")))
        goto fail;
    oa_error_clear(&err);
    if (oa_profile_from_json(&j->profile, NULL,
                             cJSON_GetObjectItemCaseSensitive(s, "Profile"),
                             &err) != OA_OK)
        goto fail;
    j->profile_json = cJSON_DetachItemFromObjectCaseSensitive(s, "Profile");
    j->resources = cJSON_DetachItemFromObjectCaseSensitive(s, "Resources");
    if (!cJSON_IsArray(j->resources))
        goto fail;
    oa_job_anonymize__copy(j->profile_label, sizeof(j->profile_label),
               oa_jobs_str(s, "ProfileName"));
    oa_job_anonymize__copy(j->report_id, sizeof(j->report_id), oa_jobs_str(s, "Report"));
    /* A restored job keeps its ID, which names its report. */
    oa_job_ref_set(&j->ref, j->report_id);
    oa_job_anonymize__copy(j->created, sizeof(j->created), oa_jobs_str(s, "Created"));
    j->planned = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "Planned"));
    j->reported =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "Reported"));
    j->export_target = cJSON_DetachItemFromObjectCaseSensitive(s, "Export");
    if (j->wayout && !cJSON_IsObject(j->export_target))
        goto fail;
    v = cJSON_GetObjectItemCaseSensitive(s, "Priority");
    j->priority = cJSON_IsNumber(v) ? v->valueint : 0;
    oa_job_anonymize__copy(j->export_job, sizeof(j->export_job),
               oa_jobs_str(s, "ExportJob"));

    v = cJSON_GetObjectItemCaseSensitive(s, "Studies");
    n = (size_t)cJSON_GetArraySize(v);
    j->studies = oa_calloc(n ? n : 1, sizeof(study));
    if (j->studies == NULL)
        goto fail;
    cJSON_ArrayForEach(o, v) {
        study *st = &j->studies[j->nstudies++];
        const cJSON *x;

        oa_job_anonymize__copy(st->original, ID_MAX, oa_jobs_str(o, "Original"));
        oa_job_anonymize__copy(st->anonymized, ID_MAX, oa_jobs_str(o, "Anonymized"));
        st->new_name = oa_job_anonymize__dup(oa_jobs_str(o, "NewPatientName"));
        st->new_id = oa_job_anonymize__dup(oa_jobs_str(o, "NewPatientID"));
        st->new_desc = oa_job_anonymize__dup(oa_jobs_str(o, "NewStudyDescription"));
        x = cJSON_GetObjectItemCaseSensitive(o, "Instances");
        st->instances = cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
        x = cJSON_GetObjectItemCaseSensitive(o, "Dropped");
        st->dropped = cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
        x = cJSON_GetObjectItemCaseSensitive(o, "Failed");
        st->failed = cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
        x = cJSON_GetObjectItemCaseSensitive(o, "PixelsCleaned");
        st->cleaned = cJSON_IsNumber(x) ? (unsigned)x->valuedouble : 0;
        read_values(o, "Original", &st->orig);
        st->have_new =
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "HaveNew"));
        if (oa_jobs_str(o, "ResultPatientID") != NULL)
            read_values(o, "Result", &st->anon);
        else   /* saved by an older version */
            read_values(o, "New", &st->anon);
    }

    v = cJSON_GetObjectItemCaseSensitive(s, "Items");
    n = (size_t)cJSON_GetArraySize(v);
    states = oa_jobs_str(s, "States");
    if (n > MAX_INSTANCES || (states != NULL && strlen(states) != n))
        goto fail;
    j->items = oa_calloc(n ? n : 1, sizeof(item));
    if (j->items == NULL)
        goto fail;
    j->items_cap = n ? n : 1;
    cJSON_ArrayForEach(o, v) {
        item *it = &j->items[j->nitems];
        const cJSON *a0 = cJSON_GetArrayItem(o, 0),
                    *a1 = cJSON_GetArrayItem(o, 1);

        if (!cJSON_IsString(a0) || !cJSON_IsNumber(a1) ||
            a1->valuedouble < 0 || (size_t)a1->valuedouble >= j->nstudies ||
            !oa_jobs_id_valid(a0->valuestring))
            goto fail;
        oa_job_anonymize__copy(it->instance, ID_MAX, a0->valuestring);
        it->study = (uint32_t)a1->valuedouble;
        it->state = states != NULL ? (uint8_t)(states[j->nitems] - '0')
                                   : ITEM_TODO;
        if (it->state > ITEM_FAILED || it->state == ITEM_RUNNING)
            it->state = ITEM_TODO;
        if (it->state != ITEM_TODO)
            j->finished++;
        j->nitems++;
    }
    if (j->finished > 0)   /* their UID pairs were not saved */
        oa_mapping_set_incomplete(j->mapping);
    cJSON_Delete(j->failures);
    j->failures = cJSON_DetachItemFromObjectCaseSensitive(s, "Failures");
    if (!cJSON_IsArray(j->failures)) {
        cJSON_Delete(j->failures);
        j->failures = cJSON_CreateArray();
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "FailedCount");
    j->nfailed = cJSON_IsNumber(v) ? (size_t)v->valuedouble : 0;
    v = cJSON_DetachItemFromObjectCaseSensitive(s, "Warnings");
    cJSON_Delete(j->warnings);
    j->warnings = NULL;
    if (cJSON_IsArray(v) && cJSON_GetArraySize(v) <= 32) {
        const cJSON *w;
        bool ok = true;

        cJSON_ArrayForEach(w, v) ok &= cJSON_IsString(w);
        if (ok) {
            j->warnings = (cJSON *)v;
            v = NULL;
        }
    }
    cJSON_Delete((cJSON *)v);
    v = cJSON_DetachItemFromObjectCaseSensitive(s, "CleanedImages");
    if (cJSON_IsArray(v)) {
        cJSON_Delete(j->cleaned);
        j->cleaned = (cJSON *)v;
    } else {
        cJSON_Delete((cJSON *)v);
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "PixelsCleaned");
    j->ncleaned = cJSON_IsNumber(v) ? (size_t)v->valuedouble : 0;
    v = cJSON_GetObjectItemCaseSensitive(s, "PixelsRefused");
    j->npixel_refused = cJSON_IsNumber(v) ? (size_t)v->valuedouble : 0;
    if (j->wayout &&
        cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(s, "Sent"))) {
        /* it had finished: kept as it was */
        j->sent = true;
        j->sent_info = cJSON_DetachItemFromObjectCaseSensitive(s, "Sent");
        v = cJSON_GetObjectItemCaseSensitive(s, "BytesSent");
        j->bytes_sent = cJSON_IsNumber(v) && v->valuedouble > 0
                            ? (uint64_t)v->valuedouble
                            : 0;
        cJSON_Delete(s);
        return j;
    }
    cJSON_Delete(s);
    if (j->wayout) {   /* nothing of it was kept: all again */
        if (oa_job_anonymize__start_over(j) != OA_OK) {
            oa_job_anonymize__free(j);
            return NULL;
        }
        oa_log(OA_LOG_WARNING,
               "anonymization %s on the way out resumed: it starts over "
               "(%zu instances)", j->report_id, j->nitems);
        return j;
    }
    oa_log(OA_LOG_WARNING,
           "anonymization %s resumed: %zu of %zu instances already done",
           j->report_id, j->finished, j->nitems);
    return j;
fail:
    oa_log(OA_LOG_ERROR, "a saved anonymization job could not be restored");
    cJSON_Delete(s);
    oa_job_anonymize__free(j);
    return NULL;
}

