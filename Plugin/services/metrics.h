/*
 * metrics: the plugin's counters for Prometheus, read by Orthanc's
 * /tools/metrics-prometheus (orthanc/host.c pushes them with
 * OrthancPluginSetMetricsValue when Orthanc asks).  Here they are only
 * numbers: no Orthanc call, so that they are counted and tested without
 * Orthanc.  Every function is thread-safe (atomics; a mutex for the table
 * of export backends) and cheap enough for every instance.
 *
 * Names (all prefixed "anonymizer_"), documented in doc/orthanc-versions.md:
 *   instances_anonymized_total, instances_dropped_total,
 *   instances_failed_total, instances_refused_leak_total,
 *   instances_refused_pixels_total, images_cleaned_total,
 *   jobs_running, last_job_duration_seconds,
 *   export_bytes_total_<backend>, export_instances_total_<backend>.
 */
#ifndef OA_SERVICES_METRICS_H
#define OA_SERVICES_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum oa_metric {
    OA_METRIC_ANONYMIZED = 0,   /* instances stored anonymized */
    OA_METRIC_DROPPED,          /* instances left out by the profile */
    OA_METRIC_FAILED,           /* instances that failed, for any reason */
    OA_METRIC_REFUSED_LEAK,     /* ... of them: refused by the leak check */
    OA_METRIC_REFUSED_PIXELS,   /* ... of them: refused by the pixel check */
    OA_METRIC_IMAGES_CLEANED,   /* images whose burned-in text was blanked */
    OA_METRIC_JOBS_RUNNING,     /* the plugin's jobs running now */
    OA_METRIC_COUNT
} oa_metric;

/* Add to a counter (or gauge, for JOBS_RUNNING: delta may be negative). */
void oa_metrics_add(oa_metric metric, int64_t delta);

/* The current value. */
int64_t oa_metrics_get(oa_metric metric);

/*
 * One instance's outcome in an anonymization job: `stored`, `dropped`, or
 * else failed (`leak`: by the leak check, `pixels`: by the pixel check);
 * `cleaned` when its pixels were cleaned.
 */
void oa_metrics_instance(bool stored, bool dropped, bool leak, bool pixels,
                         bool cleaned);

/* A job of ours ended (success or failure) after `seconds`. */
void oa_metrics_job_ended(double seconds);

/*
 * A finished export: `instances` files of `bytes` to a backend ("zip",
 * "sftp", ...; lower-case letters, at most 15, else counted as "other").
 * At most 16 backends are told apart.
 */
void oa_metrics_exported(const char *backend, uint64_t bytes,
                         uint64_t instances);

/* Every metric, by name, for the exporter.  `integer` tells counters
 * (exact integers) from the duration. */
typedef void (*oa_metrics_emit_fn)(const char *name, double value,
                                   bool integer);
void oa_metrics_foreach(oa_metrics_emit_fn emit);

/* Zero everything (unit tests). */
void oa_metrics_reset(void);

#ifdef __cplusplus
}
#endif
#endif /* OA_SERVICES_METRICS_H */
