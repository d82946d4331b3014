/*
 * services: the plugin's state and the pure services on it, which never
 * call Orthanc (what they need of it is passed in), so that unit tests
 * and the command-line tool use them as the plugin does.
 *
 *  - The service (service.c): the configuration snapshot, the store, the
 *    site secret (configured, or generated once and kept in the store),
 *    and the profiles (built-in and custom ones from the store).  One per
 *    process, installed at start-up and only read afterwards (its parts
 *    lock what they change).
 *  - Destinations (destinations.c): named export targets.
 *  - Reports (report.c): the JSON of a report and its CSV.
 *  - The work of every server (tracking.c): the state of the jobs of
 *    every server of a cluster, kept in the store.
 *  - Start-up (setup.c): the configuration checked, the store and the
 *    service created and installed.
 *
 * Nothing here logs a DICOM value; reports hold identifying values on
 * purpose (they are the re-identification key) and go to the store only.
 */
#ifndef OA_SERVICES_H
#define OA_SERVICES_H

#include "../anonymizer/anonymizer.h"
#include "../config/config.h"
#include "../core/core.h"
#include "../store/store.h"

#include <stdbool.h>
#include <time.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* The service                                                          */

typedef struct oa_service oa_service;

/* Takes ownership of `config` (moved: *config is emptied) and `store`. */
oa_status oa_service_new(oa_service **out, oa_config *config,
                         oa_store *store, oa_error *err);
void oa_service_free(oa_service *s);

/* The process's service (NULL before start-up).  Set once. */
void oa_service_install(oa_service *s);
oa_service *oa_service_current(void);

const oa_config *oa_service_config(const oa_service *s);
oa_store *oa_service_store(const oa_service *s);

/*
 * The site secret: the configured one, else the one kept in the store,
 * else a new random one stored for good (first writer wins).  Loaded on
 * first use and cached.  *secret is borrowed for the service's life.
 */
oa_status oa_service_secret(oa_service *s, const uint8_t **secret,
                            size_t *len, oa_error *err);

/*
 * A profile by name: "Default", "Full" or a custom one from the store.
 * OA_ENOTFOUND names the profile.  Caller frees with oa_profile_free().
 */
oa_status oa_service_profile(oa_service *s, const char *name,
                             oa_profile **out, oa_error *err);

/*
 * The profile of a request: a name (string), an inline object, or NULL
 * for "Default".  An unknown name is OA_EINVAL here (a bad request, not a
 * missing resource).
 */
oa_status oa_service_request_profile(oa_service *s, const cJSON *spec,
                                     oa_profile **out, oa_error *err);

/* Create or replace a custom profile; OA_ECONFLICT for a built-in name.
 * *out (may be NULL) receives the parsed profile. */
oa_status oa_service_profile_put(oa_service *s, const char *name,
                                 const cJSON *json, oa_profile **out,
                                 oa_error *err);
oa_status oa_service_profile_delete(oa_service *s, const char *name,
                                    oa_error *err);
/*
 * `first` (an array of names, taken over; NULL means out of memory), then
 * the keys of the store's namespace `ns` not already in it, sorted.
 */
oa_status oa_service_names(oa_service *s, const char *ns, cJSON *first,
                           cJSON **out, oa_error *err);

/* Built-in names, then custom ones sorted.  cJSON array of strings. */
oa_status oa_service_profile_names(oa_service *s, cJSON **out,
                                   oa_error *err);

/*
 * "Asynchronous" (default true) and "Priority" (default 0) of a request
 * that starts a job; OA_EINVAL names a wrong one.  `body` may be NULL.
 */
oa_status oa_service_run_options(const cJSON *body, bool *asynchronous,
                                 int *priority, oa_error *err);

/* ------------------------------------------------------------------ */
/* The audit trail (audit.c)                                            */

#define OA_AUDIT_ANONYMIZATION "anonymization"
#define OA_AUDIT_EXPORT "export"
#define OA_AUDIT_REPORT_DOWNLOAD "report-download"
#define OA_AUDIT_DESTINATION "destination"
#define OA_AUDIT_DEFAULT_LIMIT 1000
#define OA_AUDIT_MAX_LIMIT 100000

/* Who asked: the Orthanc user (HTTP Basic authentication, checked by
 * Orthanc when its authentication is on) and the remote address as the
 * request's headers give it.  Printable ASCII, truncated. */
typedef struct oa_audit_actor {
    char user[128];
    char remote[128];
} oa_audit_actor;

void oa_audit_actor_set(oa_audit_actor *a, const char *user,
                        const char *remote);

bool oa_audit_kind_valid(const char *kind);

/*
 * Append an entry of `kind` (OA_AUDIT_*): Time, Kind, User, Remote, then
 * the members of `details` (taken; may be NULL): "Job", "Studies",
 * "Patients" (Orthanc IDs), "Profile", "Target", "Report", "Name"...
 * Never replaces an entry.
 */
oa_status oa_audit_append(oa_store *store, const char *kind,
                          const oa_audit_actor *actor, cJSON *details,
                          oa_error *err);

/*
 * Entries newest first, at most `limit` (0: OA_AUDIT_DEFAULT_LIMIT),
 * from `since` to `until` (dates YYYY-MM-DD or YYYYMMDD[THHMMSS],
 * inclusive, UTC; NULL: no bound), of `kind` (NULL: all).  OA_EINVAL
 * names a wrong filter.  Caller frees *out (a JSON array).
 */
oa_status oa_audit_query(oa_store *store, const char *since,
                         const char *until, const char *kind, size_t limit,
                         cJSON **out, oa_error *err);

/* "Studies"/"Patients" of `details` from a request's "Resources"
 * ([{"Level", "ID"}] or ["ID"]), or the one resource `level`, `id`. */
void oa_audit_resources(cJSON *details, const cJSON *resources,
                        const char *level, const char *id);
/* A target's "Type" and names (never a Url or a secret), or NULL. */
cJSON *oa_audit_target(const cJSON *target);

/* The entries as CSV (header row, then one row each, CSV-injection
 * guarded), appended to `out`. */
oa_status oa_audit_csv(const cJSON *entries, oa_buf *out, oa_error *err);

/* ------------------------------------------------------------------ */
/* Retention (retention.c)                                              */

/*
 * Remove the keys of `ns` first written more than keep->days ago, and
 * the oldest beyond the keep->count newest (0: no limit of that kind).
 * *removed counts them.
 */
oa_status oa_retention_sweep(oa_store *store, const char *ns,
                             const oa_retention *keep, time_t now,
                             size_t *removed, oa_error *err);

/*
 * ReportRetention and JobRetention on the service's store (at start-up
 * and after each report: one listing of keys and times, no value read);
 * logs what it removed.
 */
void oa_service_retention(oa_service *s);

/* ------------------------------------------------------------------ */
/* Destinations (destinations.c)                                        */

struct oa_export_target;

/*
 * A destination (doc/rest-api.md, destinations):
 *   {"Type": "ftp"|"ftps"|"sftp"|"webdav"|"folder", "Url", "Username",
 *    "Password", "PrivateKey", "KnownHosts", "HostKeySha256", "CaFile",
 *    "Timeout"}
 * Those of the configuration file are read-only; others are kept in the
 * store (secrets included: the store is Orthanc's database).
 *
 * OA_EINVAL names the wrong field: an unknown field or type, a URL whose
 * scheme does not fit the type, an SFTP destination without KnownHosts or
 * HostKeySha256, a folder that is not a safe relative path.
 */
oa_status oa_destination_validate(const cJSON *json, oa_error *err);

/*
 * The destination `name` with its secrets (caller frees), and whether it
 * comes from the configuration file.  OA_ENOTFOUND names it.
 */
oa_status oa_service_destination(oa_service *s, const char *name,
                                 cJSON **out, bool *configured,
                                 oa_error *err);
/* Create or replace a stored one; OA_ECONFLICT for a configured name.
 * A PUT without "Password"/"PrivateKey" keeps the stored ones. */
oa_status oa_service_destination_put(oa_service *s, const char *name,
                                     const cJSON *json, oa_error *err);
oa_status oa_service_destination_delete(oa_service *s, const char *name,
                                        oa_error *err);
/* Configured names then stored ones, sorted, each once. */
oa_status oa_service_destination_names(oa_service *s, cJSON **out,
                                       oa_error *err);

/*
 * What GET shows: every field but the secrets, "HasPassword",
 * "HasPrivateKey", "Name", "ReadOnly".  Caller frees; NULL on no memory.
 */
cJSON *oa_destination_public(const cJSON *full, const char *name,
                             bool configured);

/*
 * The server folder `sub` (a safe relative path, or NULL/"" for the root)
 * under ExportFolder into `path`.  OA_EINVAL when ExportFolder is not
 * configured.
 */
oa_status oa_destination_folder(const oa_config *cfg, const char *sub,
                                char *path, size_t path_size, oa_error *err);

/*
 * Fill an export target from a destination.  Strings are borrowed from
 * `json` and `cfg` (folder paths are resolved under cfg->export_folder
 * into `path`, which must outlive the target).
 */
oa_status oa_destination_target(const cJSON *json, const oa_config *cfg,
                                struct oa_export_target *t, char *path,
                                size_t path_size, oa_error *err);

/* ------------------------------------------------------------------ */
/* The work of every server (tracking.c)                                */

/*
 * Record the state of one of our jobs in the store, so that every server
 * of a cluster lists it: `key` is the job's own ID (report or export),
 * `state` "Pending", "Running", "Success", "Failure" or "Cancelled",
 * `progress` 0..1.  `extra` (may be NULL) is merged in (Report, Export,
 * Studies...).  Running states are written at most every 2 s unless
 * `force`.  Best effort: a store failure is logged, not returned.
 */
void oa_service_track_job(oa_service *s, const char *key, const char *type,
                           const char *state, float progress,
                           const cJSON *extra, bool force, time_t *last);

/* Every tracked job, newest first; a Running or Pending one whose server
 * has not updated it for "StaleJobSeconds" (its server stopped or lost the
 * store) is shown as "Interrupted".
 * Caller frees. */
oa_status oa_service_list_jobs(oa_service *s, cJSON **out, oa_error *err);

/* ------------------------------------------------------------------ */
/* Reports                                                              */

/* Metadata number on anonymized studies (>= 1024: user): the report's ID,
 * the only link back (the original values live in the report only). */
#define OA_REPORT_METADATA 1025
/* Attachment that versions before 1.x wrote with the report's row (original
 * values); never written, deleted when such a study is anonymized again. */
#define OA_LEGACY_REPORT_ATTACHMENT 1025

/* Columns of the CSV, in order (also the keys of a study row, where one
 * exists). */
/* One CSV cell of `value` (NULL: empty) appended to `out`, guarded
 * against formula injection (OWASP: = + - @ tab CR ; | at the start get
 * a leading '; cells with a separator, quote or line break are quoted). */
oa_status oa_csv_cell(oa_buf *out, const char *value);

extern const char *const oa_report_csv_columns[];
extern const size_t oa_report_csv_column_count;

/*
 * The CSV of a report (its JSON as stored): a header row, then one row
 * per study.  RFC 4180 quoting; a value starting with = + - @ gets a
 * leading ' so that a spreadsheet does not run it as a formula.  Caller
 * disposes `out` (initialized here).
 */
oa_status oa_report_csv(const cJSON *report, oa_buf *out, oa_error *err);

/* The summary of a report for the list: ID, Job, Date, Profile, Studies
 * (a count).  Caller frees. */
cJSON *oa_report_summary(const cJSON *report);

/* ------------------------------------------------------------------ */
/* Mapping files (mapping.c)                                            */

/*
 * The re-identification key of a report as files: uids.csv (every UID
 * the job mapped: study, series, instance, frame of reference, any
 * referenced UID) and patients.csv (Patient IDs), each "id_old,id_new",
 * one row per distinct pair.  Stored under (OA_STORE_MAPPINGS, report
 * ID) as {"Complete", "Studies": [{"Study": anonymized Orthanc ID,
 * "Uids": [[old, new]...], "Patients": [[old, new]...]}]}.
 */
typedef enum oa_mapping_kind {
    OA_MAPPING_UIDS = 0,
    OA_MAPPING_PATIENTS = 1
} oa_mapping_kind;

/* Rows per kind in one mapping; past it the mapping is incomplete. */
#define OA_MAPPING_MAX_ROWS 200000

typedef struct oa_mapping oa_mapping;

/* NULL on no memory.  Not thread-safe: the caller locks. */
oa_mapping *oa_mapping_new(void);
void oa_mapping_free(oa_mapping *m);
/* Add a pair of `kind` in `scope` (a study's index), once per distinct
 * (scope, old, new); O(1).  Past the ceiling, out of memory or a value
 * longer than OA_ANON_VALUE_MAX - 1: not added, the mapping marked
 * incomplete. */
void oa_mapping_add(oa_mapping *m, oa_mapping_kind kind, uint32_t scope,
                    const char *old_id, const char *new_id);
/* Some pairs are missing (a job resumed after a restart, truncated
 * engine lists). */
void oa_mapping_set_incomplete(oa_mapping *m);
bool oa_mapping_complete(const oa_mapping *m);
size_t oa_mapping_count(const oa_mapping *m, oa_mapping_kind kind);
/* The stored form; scope i is named scopes[i] (scopes past nscopes are
 * left out).  NULL on no memory. */
cJSON *oa_mapping_to_json(const oa_mapping *m, const char *const *scopes,
                          size_t nscopes);
/* Add the pairs of a stored mapping (those of the study `study`, or all
 * for NULL) into scope 0 of `m`; *found (may be NULL): the study is in
 * it.  A stored mapping that is not complete makes `m` incomplete. */
oa_status oa_mapping_merge_json(oa_mapping *m, const cJSON *stored,
                                const char *study, bool *found,
                                oa_error *err);
/* "id_old,id_new" then the rows of `kind` in the order added (CRLF, the
 * cells as oa_csv_cell writes them).  Caller disposes `out`
 * (initialized here). */
oa_status oa_mapping_csv(const oa_mapping *m, oa_mapping_kind kind,
                         oa_buf *out, oa_error *err);

/* ------------------------------------------------------------------ */
/* Start-up (setup.c)                                                   */

/* What the set-up needs of Orthanc (the plugin passes orthanc/host.c's
 * functions, tests their own). */
typedef struct oa_service_host {
    /* Orthanc's whole configuration as JSON (caller frees). */
    oa_status (*get_configuration)(cJSON **out, oa_error *err);
    /* Global properties, for the store when PostgreSQL is not used. */
    oa_store_prop_get get_property;
    oa_store_prop_set set_property;
    /* Orthanc's key-value stores where it has them (1.12.8), else NULL:
     * then the state moves there from the global properties, once. */
    const oa_store_kv_host *kv;
} oa_service_host;

/*
 * The service of this process from Orthanc's configuration: the
 * "Anonymizer" section parsed (`cores` sets the default "Threads"), its
 * "AutoAnonymize" list and "Destinations" checked, the store created (a
 * PostgreSQL one is tried at once, so that a wrong address stops the
 * start with a message) and the service installed (oa_service_current).
 * A wrong option is OA_EINVAL with a message naming it.  *out (may be
 * NULL) receives the service, which the caller frees with
 * oa_service_free().
 */
oa_status oa_service_setup(const oa_service_host *host, unsigned cores,
                           oa_service **out, oa_error *err);

/* Check the "AutoAnonymize" list of the configuration (NULL: none). */
oa_status oa_service_validate_auto(const cJSON *list, oa_error *err);

#ifdef __cplusplus
}
#endif
#endif /* OA_SERVICES_H */
