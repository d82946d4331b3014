/*
 * Retention (issue 12, defect 11): reports ("ReportRetention") and the
 * cluster's job records ("JobRetention") older than so many days, or
 * beyond the so many newest, are removed from the store.  Ages come from
 * the store (oa_store_list_times: when each key was first written), so a
 * sweep reads no value.  Swept at start-up and after each anonymization
 * (at most once a minute per process).  Keys are job IDs: logging them
 * names no patient.
 */
#define _POSIX_C_SOURCE 200809L

#include "services.h"

#include <stdlib.h>
#include <string.h>

typedef struct aged {
    int64_t time;
    size_t index;
} aged;

static int by_time(const void *a, const void *b)
{
    const aged *x = a, *y = b;

    if (x->time != y->time)
        return x->time < y->time ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

oa_status oa_retention_sweep(oa_store *store, const char *ns,
                             const oa_retention *keep, time_t now,
                             size_t *removed, oa_error *err)
{
    char **keys = NULL;
    int64_t *times = NULL;
    size_t n = 0, i, left;
    aged *order = NULL;
    int64_t oldest = keep->days ? ((int64_t)now - (int64_t)keep->days * 86400) *
                                      1000000
                                : INT64_MIN;
    oa_status rc;

    *removed = 0;
    if (keep->days == 0 && keep->count == 0)
        return OA_OK;
    rc = oa_store_list_times(store, ns, &keys, &times, &n, err);
    if (rc != OA_OK)
        return rc;
    order = oa_calloc(n ? n : 1, sizeof(*order));
    if (order == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        order[i].time = times[i];
        order[i].index = i;
    }
    qsort(order, n, sizeof(*order), by_time);   /* oldest first */
    left = n;
    for (i = 0; i < n; i++) {
        bool too_old = order[i].time < oldest;
        bool too_many = keep->count != 0 && left > keep->count;

        if (!too_old && !too_many)
            break;   /* the rest are newer */
        if (oa_store_remove(store, ns, keys[order[i].index], NULL) == OA_OK)
            (*removed)++;
        left--;
    }
out:
    oa_free(order);
    oa_free(times);
    oa_store_free_keys(keys, n);
    return rc;
}

void oa_service_retention(oa_service *s)
{
    const oa_config *cfg = oa_service_config(s);
    time_t now = time(NULL);
    size_t reports = 0, jobs = 0;
    oa_error err;

    oa_error_clear(&err);
    if (oa_retention_sweep(oa_service_store(s), OA_STORE_REPORTS,
                           &cfg->report_retention, now, &reports,
                           &err) != OA_OK)
        oa_log(OA_LOG_WARNING, "ReportRetention: %s", err.msg);
    oa_error_clear(&err);
    if (oa_retention_sweep(oa_service_store(s), OA_STORE_JOBS,
                           &cfg->job_retention, now, &jobs, &err) != OA_OK)
        oa_log(OA_LOG_WARNING, "JobRetention: %s", err.msg);
    if (reports > 0 || jobs > 0)
        oa_log(OA_LOG_WARNING,
               "retention: %zu reports and %zu job records removed "
               "(ReportRetention, JobRetention)",
               reports, jobs);
}
