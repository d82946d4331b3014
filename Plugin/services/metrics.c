/*
 * The plugin's Prometheus counters (metrics.h).  Counters are C11 atomics,
 * so that workers count without a lock; the table of export backends
 * grows under a mutex (a handful of names, at most MAX_BACKENDS).
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#define MAX_BACKENDS 16
#define MAX_BACKEND_NAME 15

static atomic_llong counters[OA_METRIC_COUNT];
/* The last job's duration in milliseconds. */
static atomic_llong last_job_ms;

static struct {
    pthread_mutex_t lock;
    unsigned count;
    char name[MAX_BACKENDS][MAX_BACKEND_NAME + 1];
    atomic_ullong bytes[MAX_BACKENDS];
    atomic_ullong instances[MAX_BACKENDS];
} backends = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}, {0}, {0}};

static const char *const names[OA_METRIC_COUNT] = {
    "anonymizer_instances_anonymized_total",
    "anonymizer_instances_dropped_total",
    "anonymizer_instances_failed_total",
    "anonymizer_instances_refused_leak_total",
    "anonymizer_instances_refused_pixels_total",
    "anonymizer_images_cleaned_total",
    "anonymizer_jobs_running",
};

void oa_metrics_add(oa_metric metric, int64_t delta)
{
    if ((unsigned)metric < OA_METRIC_COUNT)
        atomic_fetch_add(&counters[metric], (long long)delta);
}

int64_t oa_metrics_get(oa_metric metric)
{
    if ((unsigned)metric >= OA_METRIC_COUNT)
        return 0;
    return (int64_t)atomic_load(&counters[metric]);
}

void oa_metrics_instance(bool stored, bool dropped, bool leak, bool pixels,
                         bool cleaned)
{
    if (stored) {
        oa_metrics_add(OA_METRIC_ANONYMIZED, 1);
        if (cleaned)
            oa_metrics_add(OA_METRIC_IMAGES_CLEANED, 1);
        return;
    }
    if (dropped) {
        oa_metrics_add(OA_METRIC_DROPPED, 1);
        return;
    }
    oa_metrics_add(OA_METRIC_FAILED, 1);
    if (pixels)
        oa_metrics_add(OA_METRIC_REFUSED_PIXELS, 1);
    else if (leak)
        oa_metrics_add(OA_METRIC_REFUSED_LEAK, 1);
}

void oa_metrics_job_ended(double seconds)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds > 1e9)
        seconds = 1e9;
    atomic_store(&last_job_ms, (long long)(seconds * 1000.0 + 0.5));
}

static bool backend_name_ok(const char *name)
{
    size_t i;

    if (name == NULL || name[0] == '\0')
        return false;
    for (i = 0; name[i] != '\0'; i++)
        if (i >= MAX_BACKEND_NAME || name[i] < 'a' || name[i] > 'z')
            return false;
    return true;
}

/* The slot of `name`, made if new; -1 when the table is full. */
static int backend_slot(const char *name)
{
    unsigned i;
    int slot = -1;

    pthread_mutex_lock(&backends.lock);
    for (i = 0; i < backends.count; i++)
        if (strcmp(backends.name[i], name) == 0)
            slot = (int)i;
    if (slot < 0 && backends.count < MAX_BACKENDS) {
        slot = (int)backends.count;
        snprintf(backends.name[slot], sizeof(backends.name[slot]), "%s",
                 name);
        backends.count++;
    }
    pthread_mutex_unlock(&backends.lock);
    return slot;
}

void oa_metrics_exported(const char *backend, uint64_t bytes,
                         uint64_t instances)
{
    int slot = backend_slot(backend_name_ok(backend) ? backend : "other");

    if (slot < 0)
        slot = backend_slot("other");
    if (slot < 0)
        return;   /* 16 names already, none "other": not counted */
    atomic_fetch_add(&backends.bytes[slot], (unsigned long long)bytes);
    atomic_fetch_add(&backends.instances[slot],
                     (unsigned long long)instances);
}

void oa_metrics_foreach(oa_metrics_emit_fn emit)
{
    char name[96];
    char backend[MAX_BACKEND_NAME + 1];
    unsigned i, n;

    if (emit == NULL)
        return;
    for (i = 0; i < OA_METRIC_COUNT; i++)
        emit(names[i], (double)atomic_load(&counters[i]), true);
    emit("anonymizer_last_job_duration_seconds",
         (double)atomic_load(&last_job_ms) / 1000.0, false);
    pthread_mutex_lock(&backends.lock);
    n = backends.count;
    pthread_mutex_unlock(&backends.lock);
    for (i = 0; i < n; i++) {
        /* A slot's name never changes once made. */
        pthread_mutex_lock(&backends.lock);
        memcpy(backend, backends.name[i], sizeof(backend));
        pthread_mutex_unlock(&backends.lock);
        snprintf(name, sizeof(name), "anonymizer_export_bytes_total_%s",
                 backend);
        emit(name, (double)atomic_load(&backends.bytes[i]), true);
        snprintf(name, sizeof(name), "anonymizer_export_instances_total_%s",
                 backend);
        emit(name, (double)atomic_load(&backends.instances[i]), true);
    }
}

void oa_metrics_reset(void)
{
    unsigned i;

    for (i = 0; i < OA_METRIC_COUNT; i++)
        atomic_store(&counters[i], 0);
    atomic_store(&last_job_ms, 0);
    pthread_mutex_lock(&backends.lock);
    for (i = 0; i < MAX_BACKENDS; i++) {
        atomic_store(&backends.bytes[i], 0);
        atomic_store(&backends.instances[i], 0);
        backends.name[i][0] = '\0';
    }
    backends.count = 0;
    pthread_mutex_unlock(&backends.lock);
}
