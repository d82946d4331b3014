/*
 * The four entry points Orthanc looks for in a plugin, and nothing else
 * (Resources/VersionScript.map exports exactly these).
 *
 * Initialize runs before Orthanc opens its database
 * (doc/orthanc-1.10.1.md, pitfall 2): it only checks the host version,
 * routes our log to Orthanc's, sets the service up and registers the REST
 * routes.  Set-up that needs the database (stored profiles, the site
 * secret, jobs to resume) belongs to the OrthancStarted change event.
 * A failure returns -1: Orthanc then refuses to start, which is better
 * than running an anonymizer that is half set up.  Nothing here may
 * abort or exit: this code runs inside Orthanc's process.
 */
#include <orthanc/OrthancCPlugin.h>

#define _POSIX_C_SOURCE 200809L

#include "core/core.h"
#include "export/export.h"
#include "jobs/jobs.h"
#include "orthanc/host.h"
#include "rest/rest.h"
#include "services/metrics.h"
#include "services/services.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include <oa_version.h>

/* Orthanc Explorer's extension (Resources/Explorer/explorer.js). */
extern const unsigned char oa_res_explorer_js[];

/* The page Orthanc Explorer's plugin list links to. */
#define OA_ROOT_URI "/anonymizer/app/index.html"

/* OA_PLUGIN_NAME (orthanc/host.h): the name in /plugins and in Orthanc
 * Explorer's plugin list. */

#define OA_PLUGIN_DESCRIPTION                                                \
    "Anonymizes studies with the DICOM PS3.15 confidentiality profiles "     \
    "and shares them (ZIP, DICOM, Orthanc peers, FTP/FTPS, SFTP, WebDAV, "   \
    "folder)."

/*
 * The SDK header declares OrthancPluginGetName() without a prototype;
 * these prototypes keep -Wmissing-prototypes and -Wstrict-prototypes
 * quiet and the definitions checked.
 */
ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(
    OrthancPluginContext *context);
ORTHANC_PLUGINS_API void OrthancPluginFinalize(void);
ORTHANC_PLUGINS_API const char *OrthancPluginGetName(void);
ORTHANC_PLUGINS_API const char *OrthancPluginGetVersion(void);

/*
 * The service: the "Anonymizer" configuration, the store (global
 * properties; read lazily, the database is not open yet) and the
 * profiles (services/setup.c), then the AutoAnonymize thread.  A wrong
 * option refuses the start with a message naming it.
 */
/*
 * Orthanc's key-value stores hold the state only where the index is
 * Orthanc's own SQLite database (no index plugin: with PostgreSQL as
 * Orthanc's index, several servers may share it, and the plugin's cluster
 * mode is the shared store) and says it has them.  Asked at the store's
 * first use, once the database is open.
 */
static bool kv_available(void)
{
    cJSON *sys = NULL;
    const cJSON *caps, *has, *backend;
    oa_error err;
    bool yes = false;

    oa_error_clear(&err);
    if (oa_host_rest_get_json("/system", &sys, &err) != OA_OK)
        return false;
    caps = cJSON_GetObjectItemCaseSensitive(sys, "Capabilities");
    has = cJSON_GetObjectItemCaseSensitive(caps, "HasKeyValueStores");
    backend = cJSON_GetObjectItemCaseSensitive(sys, "DatabaseBackendPlugin");
    yes = cJSON_IsTrue(has) && (backend == NULL || cJSON_IsNull(backend));
    cJSON_Delete(sys);
    return yes;
}

static const oa_store_kv_host kv_host = {
    kv_available, oa_host_kv_put, oa_host_kv_get, oa_host_kv_delete,
    oa_host_kv_keys,
};

static oa_status setup_service(oa_error *err)
{
    oa_service_host host = {
        oa_host_get_configuration, oa_host_get_property, oa_host_set_property,
        NULL,
    };
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    oa_service *service = NULL;
    oa_status rc;

    if (oa_host_has(OA_HOST_KEY_VALUE))
        host.kv = &kv_host;
    rc = oa_service_setup(&host, cores > 0 ? (unsigned)cores : 1, &service,
                          err);
    if (rc != OA_OK)
        return rc;
    return oa_auto_start(service, err);
}

/*
 * Late set-up, once Orthanc's database is open (doc/orthanc-1.10.1.md,
 * pitfall 2), on a thread of ours (pitfall 4: never call back into
 * Orthanc from the change callback): settle the site secret now rather than at
 * the first anonymization, so that servers of a cluster starting together
 * agree on one at once, drop expired ZIP exports, and apply the
 * retention of reports and job records.
 */
static void *late_setup(void *arg)
{
    oa_service *s = oa_service_current();
    const uint8_t *secret;
    size_t len;
    oa_error err;

    (void)arg;
    /* Orthanc may already be stopping (oa_jobs_close): then no call. */
    if (s == NULL || !oa_jobs_enter())
        return NULL;
    oa_host_set_thread_name("anon-setup");
    oa_error_clear(&err);
    if (oa_service_secret(s, &secret, &len, &err) != OA_OK)
        oa_log(OA_LOG_ERROR, "anonymizer: no site secret yet: %s", err.msg);
    oa_job_export_sweep(s);
    oa_host_clear_thread_name();
    oa_service_retention(s);   /* ReportRetention, JobRetention */
    oa_jobs_leave();
    return NULL;
}

/* Orthanc asks for the metrics (/tools/metrics-prometheus). */
static void emit_metric(const char *name, double value, bool integer)
{
    oa_host_set_metric(name, value, integer);
}

static void refresh_metrics(void)
{
    oa_metrics_foreach(emit_metric);
}

/* One line: which of the newer services this Orthanc gives. */
static void log_features(void)
{
    char line[256];
    size_t off = 0;
    unsigned f;

    line[0] = '\0';
    for (f = 0; f < OA_HOST_FEATURE_COUNT && off < sizeof(line); f++) {
        int n = snprintf(line + off, sizeof(line) - off, "%s%s %s",
                         f ? ", " : "", oa_host_feature_name(f),
                         oa_host_has(f) ? "yes" : "no");

        if (n < 0)
            break;
        off += (size_t)n;
    }
    oa_log(OA_LOG_WARNING, "anonymizer: Orthanc %s, built with SDK %s: %s",
           oa_host_orthanc_version(), oa_host_sdk_version(), line);
}

/* The late set-up's thread, joined by Finalize (its code is ours). */
static pthread_t late_thread;
static bool late_started;

/*
 * How long OrthancStopped waits for our threads' calls into Orthanc in
 * progress (a POST /instances, a read): they take milliseconds, but
 * Orthanc's shutdown must not hang on a stuck one.
 */
#define OA_STOP_WAIT_MS 10000

static void on_change(oa_host_change change, const char *id)
{
    switch (change) {
    case OA_CHANGE_STABLE_STUDY:
        oa_auto_stable_study(id);
        break;
    case OA_CHANGE_ORTHANC_STARTED:
        if (!late_started &&
            pthread_create(&late_thread, NULL, late_setup, NULL) == 0)
            late_started = true;
        break;
    case OA_CHANGE_ORTHANC_STOPPED:
        /* Orthanc signals this before it stops its HTTP server and its
         * jobs engine, and destroys its REST API and server context
         * long before it finalizes plugins (jobs/jobs.h): from here on,
         * no thread of ours calls it. */
        oa_log(OA_LOG_WARNING, "anonymizer: Orthanc is stopping; the "
               "running anonymizations stop before their next instance");
        oa_jobs_close(OA_STOP_WAIT_MS);
        break;
    default:
        break;
    }
}

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(
    OrthancPluginContext *context)
{
    oa_error err;

    oa_host_init(context);
    oa_log_set_sink(oa_host_log);

    if (!oa_host_check_version()) {
        oa_log(OA_LOG_ERROR,
               "Orthanc %s is too old for the anonymizer plugin %s: it "
               "needs Orthanc %s or later",
               oa_host_orthanc_version(), OA_VERSION, OA_HOST_MIN_ORTHANC);
        oa_log_set_sink(NULL);
        oa_host_finalize();
        return -1;
    }

    log_features();
    oa_export_orthanc_set_host(oa_jobs_export_host());
    oa_error_clear(&err);
    if (setup_service(&err) != OA_OK) {
        oa_log(OA_LOG_ERROR, "anonymizer plugin: %s", err.msg);
        oa_export_orthanc_set_host(NULL);
        oa_log_set_sink(NULL);
        oa_host_finalize();
        return -1;
    }
    if (oa_rest_register(&err) != OA_OK) {
        oa_log(OA_LOG_ERROR, "anonymizer plugin: cannot register routes: %s",
               err.msg);
        oa_service_free(oa_service_current());
        oa_export_orthanc_set_host(NULL);
        oa_log_set_sink(NULL);
        oa_host_finalize();
        return -1;
    }
    oa_jobs_register();
    oa_host_register_on_change(on_change);
    oa_host_register_metrics(refresh_metrics);
    oa_host_set_description(OA_PLUGIN_DESCRIPTION);
    oa_host_set_root_uri(OA_ROOT_URI);
    oa_host_extend_explorer((const char *)oa_res_explorer_js);

    oa_log(OA_LOG_WARNING, "anonymizer plugin %s loaded (Orthanc %s)",
           OA_VERSION, oa_host_orthanc_version());
    return 0;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize(void)
{
    oa_log(OA_LOG_WARNING, "anonymizer plugin finalizing");
    oa_rest_unregister();
    oa_jobs_close(OA_STOP_WAIT_MS);   /* already closed on OrthancStopped */
    if (late_started) {
        pthread_join(late_thread, NULL);
        late_started = false;
    }
    oa_auto_stop();
    oa_service_free(oa_service_current());
    oa_log_set_sink(NULL);
    oa_host_finalize();
}

ORTHANC_PLUGINS_API const char *OrthancPluginGetName(void)
{
    return OA_PLUGIN_NAME;
}

ORTHANC_PLUGINS_API const char *OrthancPluginGetVersion(void)
{
    return OA_VERSION;
}
