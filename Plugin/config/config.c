/*
 * The "Anonymizer" configuration section.
 */
#include "config.h"

#include <string.h>

static const char *const known_options[] = {
    "Secret", "UidRoot", "Threads", "Destinations", "ExportFolder",
    "AutoAnonymize", "ZipMaxSize", "ZipRetention", "PostgreSQL",
};

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
    cJSON_Delete(c->section);
    memset(c, 0, sizeof(*c));
}
