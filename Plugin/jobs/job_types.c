/*
 * The types of our jobs, for Orthanc to restore them after a restart:
 * the type string Orthanc saved with a job selects its unserializer and
 * its callbacks.  A job type is one row here.
 */
#include "jobs_int.h"

#include <string.h>

typedef struct job_type {
    const char *type;                         /* as in Orthanc's /jobs */
    void *(*unserialize)(const char *serialized);
    const oa_host_job_ops *(*ops)(void);
} job_type;

static const job_type job_types[] = {
    {OA_JOB_TYPE_ANONYMIZE, oa_job_anonymize_unserialize,
     oa_job_anonymize_ops},
    {OA_JOB_TYPE_EXPORT, oa_job_export_unserialize, oa_job_export_ops},
};

static void *unserializer(const char *type, const char *serialized,
                          const oa_host_job_ops **ops)
{
    size_t i;

    for (i = 0; i < sizeof(job_types) / sizeof(job_types[0]); i++) {
        if (strcmp(type, job_types[i].type) == 0) {
            *ops = job_types[i].ops();
            return job_types[i].unserialize(serialized);
        }
    }
    return NULL;
}

void oa_jobs_register(void)
{
    oa_jobs__open();
    oa_host_register_job_unserializer(unserializer);
}
