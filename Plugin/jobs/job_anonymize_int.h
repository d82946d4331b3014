/*
 * Private to the anonymization job (job_anonymize*.c): the job's state
 * and what its files need of each other.
 *
 *  job_anonymize.c          the job: planning, report, Orthanc's callbacks
 *  job_anonymize_request.c  the request checked, the job submitted
 *  job_anonymize_workers.c  the worker threads that rewrite the instances
 *  job_anonymize_state.c    the saved state (serialization) and restore
 *
 * On the way out ("Store": false, `wayout`): the same job, whose workers
 * put the engine's output into an export sink (jobs_int.h) opened on the
 * Target instead of storing it with POST /instances.
 */
#ifndef OA_JOB_ANONYMIZE_INT_H
#define OA_JOB_ANONYMIZE_INT_H

#include "jobs_int.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define ID_MAX 65                  /* Orthanc IDs are 44 characters */
#define MAX_FAILURES_LISTED 1000   /* in the content; the count is exact */
#define MAX_CLEANED_LISTED 1000    /* images with cleaned pixels listed */
#define MAX_INSTANCES 1000000
#define SERIAL_VERSION 2
#define SERIAL_VERSION_WAYOUT 3   /* a way-out job: older versions refuse */

enum item_state {
    ITEM_TODO = 0,
    ITEM_RUNNING,
    ITEM_STORED,
    ITEM_DROPPED,
    ITEM_FAILED
};

typedef struct item {
    char instance[ID_MAX];
    char stored[ID_MAX];   /* the anonymized instance, once stored */
    uint32_t study;
    uint8_t state;
    uint8_t fresh;         /* newly stored by this run (not AlreadyStored) */
} item;

typedef struct study {
    char original[ID_MAX];
    char anonymized[ID_MAX];
    char *new_name, *new_id, *new_desc; /* NULL: generated / profile */
    unsigned instances, dropped, failed;
    unsigned cleaned;                   /* images whose pixels were cleaned */
    bool have_new;                      /* `anon` filled from an output */
    oa_anon_values orig, anon;
} study;

typedef struct anon_job {
    oa_service *svc;
    oa_job_ref ref;          /* our own job ID, and who holds the job */
    cJSON *resources;        /* normalized: [{"Level", "ID", "New..."}] */
    char profile_label[OA_PROFILE_MAX_NAME + 16];
    cJSON *profile_json;     /* overrides, for serialization */
    oa_profile *profile;
    char report_id[OA_JOB_ID_MAX];
    char created[20];        /* "20261126T101500" */
    bool planned;
    bool reported;
    bool settled;            /* a step saw every item done (cb_step) */
    cJSON *export_target;    /* "Export": {"Target"} chained, or NULL */
    int priority;
    char export_job[OA_JOB_ID_MAX]; /* the chained export's job, or "" */
    bool wayout;             /* "Store": false: `export_target` gets the
                                output, nothing is stored in Orthanc */
    oa_export_sink *sink;    /* way-out: open while the job runs */
    bool sent;               /* way-out: the sink finished */
    cJSON *sent_info;        /* way-out, sent: {"Location", "Archives"} */
    uint64_t bytes_sent;     /* way-out: the last count of an aborted sink */
    time_t tracked;          /* last oa_service_track_job() */

    study *studies;
    size_t nstudies;
    item *items;
    size_t nitems;
    size_t items_cap;

    pthread_mutex_t lock;    /* guards everything below and the items */
    pthread_cond_t cond;
    size_t cursor;           /* next item a worker looks at */
    size_t finished;         /* items stored, dropped or failed */
    size_t nfailed;
    cJSON *failures;         /* [{"Instance", "Error"}], capped */
    cJSON *warnings;         /* side effects lost (report not saved...):
                                ["..."], NULL if none (issue 12, 13) */
    size_t ncleaned;         /* images whose pixels were cleaned */
    size_t npixel_refused;   /* images refused for burned-in text */
    cJSON *cleaned;          /* [{"Instance", "Boxes": [{X,Y,W,H,Label,Keep}]}],
                              * capped */
    size_t nwarnings;        /* the leak check's decisions (warnings) */
    cJSON *leak_warnings;    /* [{"Instance", "Warning"}], capped */
    pthread_t *threads;
    unsigned nthreads;
    bool stopping;
    uint64_t mem_used;       /* of JobMemoryLimit, by the workers */
    bool ordered;            /* way-out to a file backend: puts in item
                                order (the same archive every time) */
    size_t next_put;         /* ordered: the item whose turn it is */
    struct timespec lease;   /* workers take new instances until then */
    char fatal[OA_ERROR_MSG_MAX + 64]; /* why the job failed, or "" */

    oa_mapping *mapping;     /* uids.csv, patients.csv (under the lock) */

    char *content;           /* returned to Orthanc, kept until next call */
    char *serialized;
    char *items_text;        /* the instance list's JSON, built once */
} anon_job;

/* `src` (NULL: "") into dst[size]. */
static inline void oa_job_anonymize__copy(char *dst, size_t size,
                                          const char *src)
{
    snprintf(dst, size, "%s", src != NULL ? src : "");
}

/* A copy of a non-empty `s`, else NULL. */
static inline char *oa_job_anonymize__dup(const char *s)
{
    return s != NULL && s[0] != '\0' ? oa_strdup(s) : NULL;
}

/* job_anonymize.c */
anon_job *oa_job_anonymize__alloc(oa_service *svc);
/* Free a job (an anon_job *; the job_free of oa_jobs_submit). */
void oa_job_anonymize__free(void *job);
/* Record a failed instance (NULL: the job) with its message.  Under the
 * lock. */
/* Under the lock: an image whose pixels were cleaned (its boxes);
 * `stored` the Orthanc ID of its anonymized copy. */
void oa_job_anonymize__add_cleaned(anon_job *j, const char *instance,
                                   const char *stored,
                                   const oa_anon_pixels *px);
void oa_job_anonymize__add_failure(anon_job *j, const char *instance,
                                   const char *msg);
/* Under the lock: the leak check's warnings for an instance (`n` in
 * all, the first OA_ANON_WARNINGS in `w`). */
void oa_job_anonymize__add_warnings(
    anon_job *j, const char *instance, unsigned n,
    const char (*w)[OA_ANON_WARNING_MAX]);
/* The report's values of a study, under keys `prefix`PatientName... */
void oa_job_anonymize__add_values(cJSON *row, const char *prefix,
                                  const oa_anon_values *v);

/* job_anonymize_mapping.c: under the lock, a stored instance's UID pairs
 * (the engine's) and Patient IDs into j->mapping; then, with the report
 * (`report` gets its "Mapping" summary; may be NULL), the mapping to the
 * store. */
void oa_job_anonymize__add_mapping(anon_job *j, uint32_t study_index,
                                   const oa_anon_uid_pair *pairs, size_t n,
                                   bool truncated, const char *old_pid,
                                   const char *new_pid);
void oa_job_anonymize__write_mapping(anon_job *j, cJSON *report);

/* job_anonymize_workers.c: the job thread starts and stops them. */
oa_status oa_job_anonymize__start_workers(anon_job *j, oa_error *err);
void oa_job_anonymize__stop_workers(anon_job *j);
/* step(): the workers may go on for a while (under the lock). */
void oa_job_anonymize__renew_lease(anon_job *j);
/* Under the lock: `next_put` past the items that are done. */
void oa_job_anonymize__advance_put(anon_job *j);

/* job_anonymize.c: a way-out job starts over (pause, restart): every
 * item to do again, the counters and lists emptied, a new mapping. */
oa_status oa_job_anonymize__start_over(anon_job *j);

/* job_anonymize_state.c: Orthanc's serialized() callback. */
const char *oa_job_anonymize__serialized(void *job);

#endif /* OA_JOB_ANONYMIZE_INT_H */
