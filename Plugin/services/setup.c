/*
 * Start-up: the service of this process from Orthanc's configuration.
 * What it needs of Orthanc (the configuration, global properties) is
 * passed in (oa_service_host).
 */
#define _POSIX_C_SOURCE 200809L

#include "services.h"

#include "../export/export.h"

#include <string.h>

/*
 * Our global properties: the store's catalog here, values after it.
 * Far above Orthanc's reserved numbers (< 1024) and those other plugins
 * commonly take.
 */
#define FIRST_PROPERTY 100000

oa_status oa_service_validate_auto(const cJSON *list, oa_error *err)
{
    const cJSON *e;
    int i = 0;

    if (list == NULL || cJSON_IsNull(list))
        return OA_OK;
    if (!cJSON_IsArray(list))
        return oa_error_set(err, OA_EINVAL,
                            "configuration \"Anonymizer.AutoAnonymize\" must "
                            "be a list of {\"Profile\", \"Export\"}");
    cJSON_ArrayForEach(e, list) {
        const cJSON *item;

        if (!cJSON_IsObject(e))
            return oa_error_set(err, OA_EINVAL,
                                "\"AutoAnonymize\"[%d] must be an object", i);
        cJSON_ArrayForEach(item, e) {
            if (strcmp(item->string, "Profile") != 0 &&
                strcmp(item->string, "Export") != 0 &&
                strcmp(item->string, "Store") != 0)
                return oa_error_set(err, OA_EINVAL,
                                    "\"AutoAnonymize\"[%d]: unknown option "
                                    "\"%s\" (Profile, Export, Store)",
                                    i, item->string);
        }
        item = cJSON_GetObjectItemCaseSensitive(e, "Profile");
        if (item != NULL && !cJSON_IsString(item) && !cJSON_IsObject(item))
            return oa_error_set(err, OA_EINVAL,
                                "\"AutoAnonymize\"[%d]: \"Profile\" must be a "
                                "profile name or an object of options",
                                i);
        item = cJSON_GetObjectItemCaseSensitive(e, "Export");
        if (item != NULL && !cJSON_IsString(item) && !cJSON_IsObject(item))
            return oa_error_set(err, OA_EINVAL,
                                "\"AutoAnonymize\"[%d]: \"Export\" must be a "
                                "destination's name or a Target object",
                                i);
        item = cJSON_GetObjectItemCaseSensitive(e, "Store");
        if (item != NULL &&
            (!cJSON_IsBool(item) ||
             (cJSON_IsFalse(item) &&
              cJSON_GetObjectItemCaseSensitive(e, "Export") == NULL)))
            return oa_error_set(err, OA_EINVAL,
                                "\"AutoAnonymize\"[%d]: \"Store\" must be "
                                "true or false, and false (on the way out: "
                                "nothing stored) needs an \"Export\"",
                                i);
        i++;
    }
    return OA_OK;
}

static oa_status validate_destinations(const oa_config *config,
                                       oa_error *err)
{
    const cJSON *d;
    oa_status rc;

    cJSON_ArrayForEach(d, config->destinations) {
        rc = oa_destination_validate(d, err);
        if (rc != OA_OK)
            return oa_error_set(err, rc,
                                "configuration \"Anonymizer.Destinations\", "
                                "%s: %s",
                                d->string, err->msg);
    }
    return OA_OK;
}

oa_status oa_service_setup(const oa_service_host *host, unsigned cores,
                           oa_service **out, oa_error *err)
{
    cJSON *orthanc = NULL;
    oa_config config;
    oa_store *store = NULL;
    oa_service *service = NULL;
    oa_status rc;

    if (out != NULL)
        *out = NULL;
    rc = host->get_configuration(&orthanc, err);
    if (rc != OA_OK)
        return rc;
    rc = oa_config_parse(&config, orthanc, cores > 0 ? cores : 1, err);
    cJSON_Delete(orthanc);
    if (rc != OA_OK)
        return rc;
    rc = oa_service_validate_auto(
        cJSON_GetObjectItemCaseSensitive(config.section, "AutoAnonymize"),
        err);
    if (rc == OA_OK)
        rc = validate_destinations(&config, err);
    /* The archive folder is Orthanc's alone (issue 12, defect 4): one
     * owned by another user or writable by all stops Orthanc here. */
    if (rc == OA_OK && config.archive_folder != NULL)
        rc = oa_export_archive_folder_check(config.archive_folder, err);
    else if (rc == OA_OK)
        oa_log(OA_LOG_WARNING,
               "anonymizer: no archive folder (Orthanc's StorageDirectory "
               "is not an absolute path): ZIP exports are refused until "
               "\"Anonymizer.ArchiveFolder\" is set");
    if (rc != OA_OK) {
        oa_config_dispose(&config);
        return rc;
    }
    if (config.pg_conninfo != NULL)
        rc = oa_store_pg_new(&store, config.pg_conninfo, err);
    else
        rc = oa_store_props_new(&store, host->get_property,
                                host->set_property, FIRST_PROPERTY, err);
    if (rc == OA_OK && config.pg_conninfo == NULL && host->kv != NULL &&
        !config.store_properties) {
        oa_store *props = store;

        store = NULL;
        rc = oa_store_kv_new(&store, host->kv, props, err);
    }
    if (rc != OA_OK) {
        oa_config_dispose(&config);
        return rc;
    }
    oa_log(OA_LOG_WARNING,
           "anonymizer: %u worker threads per job, UID root %s, state in "
           "%s, site secret %s",
           config.threads, config.uid_root,
           config.pg_conninfo != NULL ? "PostgreSQL (shared by the cluster)"
           : host->kv != NULL && !config.store_properties
               ? "Orthanc's key-value store where its database has one "
                 "(moved there once from the global properties)"
                              : "Orthanc's global properties",
           config.secret != NULL ? "configured"
                                 : "generated once and kept with that "
                                   "state");
    /* A PostgreSQL store is reachable now (Orthanc's own database is
     * not open yet, the global properties wait): a wrong address or
     * password stops Orthanc with a message rather than failing later. */
    if (config.pg_conninfo != NULL) {
        char **keys = NULL;
        size_t n = 0;

        rc = oa_store_list(store, OA_STORE_SETTINGS, &keys, &n, err);
        oa_store_free_keys(keys, n);
        if (rc != OA_OK) {
            oa_error_set(err, rc,
                         "%s (check \"Anonymizer.PostgreSQL\" or Orthanc's "
                         "\"PostgreSQL\" section)",
                         err->msg);
            oa_store_free(store);
            oa_config_dispose(&config);
            return rc;
        }
    }
    rc = oa_service_new(&service, &config, store, err);
    if (rc != OA_OK)
        return rc;
    oa_service_install(service);
    if (out != NULL)
        *out = service;
    return OA_OK;
}
