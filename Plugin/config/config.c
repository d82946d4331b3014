/*
 * The "Anonymizer" configuration section.
 */
#define _POSIX_C_SOURCE 200809L

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_options[] = {
    "Secret",       "UidRoot",      "Threads",    "Destinations",
    "ExportFolder", "ArchiveFolder", "AutoAnonymize", "ZipMaxSize",
    "ZipRetention", "PostgreSQL",
};

/* An absolute folder path option; NULL if absent. */
static oa_status folder_option(char **out, const cJSON *section,
                               const char *key, oa_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(section, key);
    size_t n;

    *out = NULL;
    if (item == NULL || cJSON_IsNull(item))
        return OA_OK;
    if (!cJSON_IsString(item) || item->valuestring[0] != '/' ||
        (n = strlen(item->valuestring)) > 1024 ||
        strstr(item->valuestring, "/../") != NULL ||
        (n >= 3 && strcmp(item->valuestring + n - 3, "/..") == 0))
        return oa_error_set(err, OA_EINVAL,
                            "configuration \"Anonymizer.%s\" must be an "
                            "absolute folder path",
                            key);
    *out = oa_strdup(item->valuestring);
    if (*out == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    while (n > 1 && (*out)[n - 1] == '/')
        (*out)[--n] = '\0';
    return OA_OK;
}

static bool uid_root_valid(const char *s)
{
    size_t i, n = strlen(s);
    bool digit = false;

    if (n == 0 || n > OA_CONFIG_MAX_UID_ROOT)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (!digit)
                return false;     /* empty component */
            digit = false;
        } else if (s[i] >= '0' && s[i] <= '9') {
            /* no leading zero in a multi-digit component */
            if (!digit && s[i] == '0' && i + 1 < n && s[i + 1] != '.')
                return false;
            digit = true;
        } else {
            return false;
        }
    }
    return digit;
}

oa_status oa_config_parse(oa_config *out, const cJSON *orthanc,
                          unsigned cores, oa_error *err)
{
    const cJSON *section = NULL, *item;
    oa_status rc = OA_OK;

    memset(out, 0, sizeof(*out));
    strcpy(out->uid_root, "2.25");
    out->threads = cores == 0 ? 1
                   : cores > OA_CONFIG_MAX_THREADS ? OA_CONFIG_MAX_THREADS
                                                   : cores;
    if (orthanc != NULL)
        section = cJSON_GetObjectItemCaseSensitive(orthanc, OA_CONFIG_SECTION);
    if (section != NULL && !cJSON_IsObject(section))
        return oa_error_set(err, OA_EINVAL,
                            "configuration \"%s\" must be a JSON object",
                            OA_CONFIG_SECTION);

    cJSON_ArrayForEach(item, section) {
        size_t i;
        bool known = false;

        for (i = 0; i < sizeof(known_options) / sizeof(known_options[0]); i++)
            known |= strcmp(item->string, known_options[i]) == 0;
        if (!known)
            oa_log(OA_LOG_WARNING,
                   "configuration \"%s\": unknown option \"%s\" ignored",
                   OA_CONFIG_SECTION, item->string);
    }

    item = cJSON_GetObjectItemCaseSensitive(section, "Secret");
    if (item != NULL && !cJSON_IsNull(item)) {
        size_t n;

        if (!cJSON_IsString(item))
            return oa_error_set(err, OA_EINVAL,
                                "configuration \"Anonymizer.Secret\" must be "
                                "a string");
        n = strlen(item->valuestring);
        if (n < OA_CONFIG_MIN_SECRET || n > OA_CONFIG_MAX_SECRET)
            return oa_error_set(err, OA_EINVAL,
                                "configuration \"Anonymizer.Secret\" must "
                                "have %d to %d characters (use a long "
                                "random string, e.g. openssl rand -hex 32)",
                                OA_CONFIG_MIN_SECRET, OA_CONFIG_MAX_SECRET);
        out->secret = oa_strdup(item->valuestring);
        if (out->secret == NULL)
            return oa_error_set(err, OA_ENOMEM, "out of memory");
    }

    item = cJSON_GetObjectItemCaseSensitive(section, "UidRoot");
    if (item != NULL) {
        if (!cJSON_IsString(item) || !uid_root_valid(item->valuestring)) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.UidRoot\" must be "
                              "a UID root of digits and dots, at most %d "
                              "characters (e.g. \"2.25\")",
                              OA_CONFIG_MAX_UID_ROOT);
            goto fail;
        }
        strcpy(out->uid_root, item->valuestring);
    }

    item = cJSON_GetObjectItemCaseSensitive(section, "Threads");
    if (item != NULL) {
        if (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
            item->valuedouble > OA_CONFIG_MAX_THREADS ||
            item->valuedouble != (double)item->valueint) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.Threads\" must be "
                              "an integer from 1 to %d",
                              OA_CONFIG_MAX_THREADS);
            goto fail;
        }
        out->threads = (unsigned)item->valueint;
    }

    rc = folder_option(&out->export_folder, section, "ExportFolder", err);
    if (rc != OA_OK)
        goto fail;
    rc = folder_option(&out->archive_folder, section, "ArchiveFolder", err);
    if (rc != OA_OK)
        goto fail;
    if (out->archive_folder == NULL) {
        const char *tmp = getenv("TMPDIR");
        char path[1100];

        if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > 1000)
            tmp = "/tmp";
        snprintf(path, sizeof(path), "%s/orthanc-anonymizer-archives", tmp);
        out->archive_folder = oa_strdup(path);
        if (out->archive_folder == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto fail;
        }
    }

    out->zip_max_size = OA_CONFIG_DEFAULT_ZIP_MAX;
    item = cJSON_GetObjectItemCaseSensitive(section, "ZipMaxSize");
    if (item != NULL) {
        if (!cJSON_IsNumber(item) ||
            item->valuedouble < (double)OA_CONFIG_MIN_ZIP_MAX ||
            item->valuedouble > (double)OA_CONFIG_MAX_ZIP_MAX) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.ZipMaxSize\" "
                              "must be a size in bytes from 1 MiB to "
                              "4 GiB - 1 MiB (Orthanc answers a download "
                              "from one buffer)");
            goto fail;
        }
        out->zip_max_size = (uint64_t)item->valuedouble;
    }
    out->zip_retention = OA_CONFIG_DEFAULT_ZIP_RETENTION;
    item = cJSON_GetObjectItemCaseSensitive(section, "ZipRetention");
    if (item != NULL) {
        if (!cJSON_IsNumber(item) || item->valuedouble < 60 ||
            item->valuedouble > 365.0 * 86400) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.ZipRetention\" "
                              "must be a number of seconds from 60 to one "
                              "year");
            goto fail;
        }
        out->zip_retention = (long)item->valuedouble;
    }
    item = cJSON_GetObjectItemCaseSensitive(section, "Destinations");
    if (item != NULL && !cJSON_IsObject(item)) {
        rc = oa_error_set(err, OA_EINVAL,
                          "configuration \"Anonymizer.Destinations\" must "
                          "be an object of named destinations");
        goto fail;
    }
    out->destinations = item != NULL ? cJSON_Duplicate(item, 1)
                                     : cJSON_CreateObject();
    if (out->destinations == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }

    out->section = section != NULL ? cJSON_Duplicate(section, 1)
                                   : cJSON_CreateObject();
    if (out->section == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto fail;
    }
    return OA_OK;

fail:
    oa_config_dispose(out);
    return rc;
}

void oa_config_dispose(oa_config *c)
{
    if (c == NULL)
        return;
    if (c->secret != NULL) {
        memset(c->secret, 0, strlen(c->secret));
        oa_free(c->secret);
    }
    oa_free(c->export_folder);
    oa_free(c->archive_folder);
    cJSON_Delete(c->destinations);
    cJSON_Delete(c->section);
    memset(c, 0, sizeof(*c));
}
