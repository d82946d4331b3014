/*
 * The four entry points Orthanc looks for in a plugin, and nothing else
 * (Resources/VersionScript.map exports exactly these).
 *
 * Initialize runs before Orthanc opens its database (pitfall 2): it only
 * checks the host version, routes our log to Orthanc's, and registers the
 * REST routes.  Set-up that needs the database (stored profiles, the site
 * secret, jobs to resume) belongs to the OrthancStarted change event.
 * A failure returns -1: Orthanc then refuses to start, which is better
 * than running an anonymizer that is half set up.  Nothing here may
 * abort or exit: this code runs inside Orthanc's process.
 */
#include <orthanc/OrthancCPlugin.h>

#include "core/core.h"
#include "orthanc/host.h"
#include "rest/rest.h"

#include <oa_version.h>

/* The name in /plugins and in Orthanc Explorer's plugin list. */
#define OA_PLUGIN_NAME "anonymizer"

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
               oa_host_orthanc_version(), OA_VERSION, oa_host_sdk_version());
        oa_log_set_sink(NULL);
        oa_host_finalize();
        return -1;
    }

    oa_error_clear(&err);
    if (oa_rest_register(&err) != OA_OK) {
        oa_log(OA_LOG_ERROR, "anonymizer plugin: cannot register routes: %s",
               err.msg);
        oa_log_set_sink(NULL);
        oa_host_finalize();
        return -1;
    }
    oa_host_set_description(OA_PLUGIN_DESCRIPTION);

    oa_log(OA_LOG_WARNING, "anonymizer plugin %s loaded (Orthanc %s)",
           OA_VERSION, oa_host_orthanc_version());
    return 0;
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize(void)
{
    oa_log(OA_LOG_WARNING, "anonymizer plugin finalizing");
    oa_rest_unregister();
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
