/*
 * config: the "Anonymizer" section of Orthanc's configuration
 * (doc/configuration.md), read once at start-up into a snapshot that is only
 * read afterwards.
 *
 *   "Anonymizer": { "Secret": "...", "UidRoot": "2.25", "Threads": 2,
 *                   "Destinations": {...}, "ExportFolder": "...",
 *                   "AutoAnonymize": [...] }
 *
 * Pure: takes the parsed configuration, knows nothing of Orthanc, so it
 * is unit tested.  Errors name the option and what it accepts.
 */
#ifndef OA_CONFIG_H
#define OA_CONFIG_H

#include "../anonymizer/anonymizer.h"
#include "../core/core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OA_CONFIG_SECTION "Anonymizer"
#define OA_CONFIG_MIN_SECRET 16      /* characters */
#define OA_CONFIG_MAX_SECRET OA_ANON_MAX_SECRET   /* the engine's */
#define OA_CONFIG_MAX_UID_ROOT 24    /* root + "." + 39 digits <= 64 */
#define OA_CONFIG_MAX_THREADS 64

#define OA_CONFIG_DEFAULT_ZIP_MAX ((uint64_t)1 << 30)        /* 1 GiB */
#define OA_CONFIG_MAX_ZIP_MAX ((uint64_t)0xFFFFFFFF - (1u << 20)) /* < 4 GiB */
#define OA_CONFIG_MIN_ZIP_MAX ((uint64_t)1 << 20)
#define OA_CONFIG_DEFAULT_ZIP_RETENTION 86400L
#define OA_CONFIG_DEFAULT_MAX_DOWNLOADS 2
#define OA_CONFIG_MAX_MAX_DOWNLOADS 64
#define OA_CONFIG_MAX_LABEL 64       /* Orthanc's labels: 64 characters */
#define OA_CONFIG_DEFAULT_STUDY_LABEL "anonymized"
/* "WorkBudget": steps per byte of an instance that its leak check and
 * Clean may use, beyond a floor (oa_anonymizer_opts.work_per_byte); 0 in
 * the struct: the engine's default (OA_ANON_WORK_PER_BYTE). */
#define OA_CONFIG_MAX_WORK_BUDGET OA_ANON_MAX_WORK_PER_BYTE
#define OA_CONFIG_DEFAULT_JOB_MEMORY ((uint64_t)1 << 30)      /* 1 GiB */
#define OA_CONFIG_MIN_JOB_MEMORY ((uint64_t)64 << 20)
#define OA_CONFIG_DEFAULT_JOB_RETENTION_DAYS 30u

/* "ReportRetention", "JobRetention": keep records at most `days` old
 * and at most the `count` newest; 0 = no limit of that kind. */
typedef struct oa_retention {
    unsigned days;
    unsigned count;
} oa_retention;

typedef struct oa_config {
    char *secret;            /* NULL: generated once and kept in the store */
    char uid_root[OA_CONFIG_MAX_UID_ROOT + 1]; /* "2.25" by default */
    unsigned threads;        /* workers per job; default: 2 x cores, <= 16 */
    unsigned work_budget;    /* steps per byte; 0: the engine's default */
    char *export_folder;     /* absolute; NULL: folder exports disabled */
    char *archive_folder;    /* absolute; where ZIP exports are kept:
                                "ArchiveFolder", else
                                <StorageDirectory>/anonymizer-archives;
                                NULL when neither is absolute (ZIP
                                exports are refused, saying why) */
    bool archive_default;    /* archive_folder is the default one */
    size_t max_inflated;     /* "MaxInflatedSize": reader ceiling, bytes */
    unsigned max_inflate_ratio; /* "MaxInflateRatio" */
    uint64_t job_memory;     /* "JobMemoryLimit": the working memory all
                                workers of one job share, bytes */
    oa_retention report_retention;  /* "ReportRetention" (default none) */
    oa_retention job_retention;     /* "JobRetention" (default 30 days) */
    bool own_scu;            /* "DicomScu": "plugin" (true, default) or
                                "orthanc": the way out's C-STORE */
    char dicom_aet[17];      /* Orthanc's "DicomAet" (calling AE title) */
    unsigned scu_timeout;    /* Orthanc's "DicomScuTimeout" (seconds) */
    uint64_t zip_max_size;   /* split ZIP exports above this (bytes), where
                                Orthanc cannot stream downloads */
    unsigned max_downloads;  /* ZIP downloads at once where Orthanc cannot
                                stream them ("MaxParallelDownloads") */
    char study_label[OA_CONFIG_MAX_LABEL + 1];  /* "" = no label */
    char source_label[OA_CONFIG_MAX_LABEL + 1]; /* "" = no label */
    long zip_retention;      /* seconds before a ZIP export is removed */
    cJSON *destinations;     /* "Destinations" (validated), {} if absent */
    long stale_seconds;      /* a Running job not updated for this long
                                is shown "Interrupted" (default 60) */
    char server[160];        /* this server in the cluster's job list:
                                Orthanc's "Name"@host:HttpPort */
    char *pg_conninfo;       /* PostgreSQL store (libpq string), or NULL:
                                global properties */
    bool store_properties;   /* "Store": "properties": global properties
                                even where Orthanc has a key-value store */
    cJSON *section;          /* a copy of the whole section ({} if absent) */
} oa_config;

/*
 * Where the store lives ("Anonymizer.Store"):
 *   "auto" (default)  PostgreSQL when Orthanc's own "PostgreSQL" section
 *                     has "EnableIndex": true (a cluster may share it),
 *                     else Orthanc's key-value store where it has one
 *                     (1.12.8, SQLite index), else its global properties;
 *   "properties"      always global properties (one server);
 *   "postgresql"      always PostgreSQL.
 * The connection: "Anonymizer.PostgreSQL" if given, else Orthanc's
 * "PostgreSQL" section (Host, Port, Database, Username, Password, or
 * ConnectionUri).
 *
 * Read the "Anonymizer" section of `orthanc` (Orthanc's whole
 * configuration; NULL or a missing section gives the defaults).
 * `cores` is the default for Threads.  OA_EINVAL names a wrong option.
 * Free with oa_config_dispose().
 */
oa_status oa_config_parse(oa_config *out, const cJSON *orthanc,
                          unsigned cores, oa_error *err);

void oa_config_dispose(oa_config *c);

#ifdef __cplusplus
}
#endif
#endif /* OA_CONFIG_H */
