/*
 * The "Anonymizer" configuration section.
 */
#define _POSIX_C_SOURCE 200809L

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const known_options[] = {
    "Secret",       "UidRoot",      "Threads",    "Destinations",
    "ExportFolder", "ArchiveFolder", "AutoAnonymize", "ZipMaxSize",
    "ZipRetention", "PostgreSQL", "Store", "StaleJobSeconds",
    "MaxParallelDownloads", "StudyLabel", "SourceLabel",
    "WorkBudget",
    "MaxInflatedSize", "MaxInflateRatio", "JobMemoryLimit",
    "ReportRetention", "JobRetention", "DicomScu",
};

/* A label as Orthanc accepts it: 1 to 64 letters, digits, '_' or '-'. */
static bool label_ok(const char *s)
{
    size_t n;

    for (n = 0; s[n] != '\0'; n++)
        if (n >= OA_CONFIG_MAX_LABEL ||
            !((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
              (s[n] >= '0' && s[n] <= '9') || s[n] == '_' || s[n] == '-'))
            return false;
    return true;
}

/* "StudyLabel" / "SourceLabel": a label, "" or null for none. */
static oa_status parse_label(const cJSON *section, const char *key,
                             const char *def, char *out, size_t size,
                             oa_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(section, key);

    snprintf(out, size, "%s", def);
    if (item == NULL)
        return OA_OK;
    if (cJSON_IsNull(item)) {
        out[0] = '\0';
        return OA_OK;
    }
    if (!cJSON_IsString(item) || !label_ok(item->valuestring))
        return oa_error_set(err, OA_EINVAL,
                            "configuration \"Anonymizer.%s\" must be a "
                            "label of Orthanc (up to %d letters, digits, "
                            "'_' or '-'), or \"\" for none",
                            key, OA_CONFIG_MAX_LABEL);
    snprintf(out, size, "%s", item->valuestring);
    return OA_OK;
}


/* A number option in [min, max], integer; absent: *out unchanged. */
static oa_status number_option(double *out, const cJSON *section,
                               const char *key, double min, double max,
                               const char *what, oa_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(section, key);

    if (item == NULL)
        return OA_OK;
    if (!cJSON_IsNumber(item) || item->valuedouble < min ||
        item->valuedouble > max ||
        item->valuedouble != (double)(uint64_t)item->valuedouble)
        return oa_error_set(err, OA_EINVAL,
                            "configuration \"Anonymizer.%s\" must be %s",
                            key, what);
    *out = item->valuedouble;
    return OA_OK;
}

/*
 * "ReportRetention" / "JobRetention": a number of days, or
 * {"Days": n, "Count": m} (either may be absent or 0: no limit of that
 * kind); null: keep everything.
 */
static oa_status retention_option(oa_retention *out, const cJSON *section,
                                  const char *key, oa_error *err)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(section, key);
    const cJSON *days = NULL, *count = NULL, *other;

    if (item == NULL)
        return OA_OK;
    out->days = out->count = 0;
    if (cJSON_IsNull(item))
        return OA_OK;
    if (cJSON_IsNumber(item)) {
        days = item;
    } else if (cJSON_IsObject(item)) {
        days = cJSON_GetObjectItemCaseSensitive(item, "Days");
        count = cJSON_GetObjectItemCaseSensitive(item, "Count");
        cJSON_ArrayForEach(other, item) {
            if (strcmp(other->string, "Days") != 0 &&
                strcmp(other->string, "Count") != 0)
                goto bad;
        }
    } else {
        goto bad;
    }
    if (days != NULL) {
        if (!cJSON_IsNumber(days) || days->valuedouble < 0 ||
            days->valuedouble > 36500 ||
            days->valuedouble != (double)(unsigned)days->valuedouble)
            goto bad;
        out->days = (unsigned)days->valuedouble;
    }
    if (count != NULL) {
        if (!cJSON_IsNumber(count) || count->valuedouble < 0 ||
            count->valuedouble > 10000000 ||
            count->valuedouble != (double)(unsigned)count->valuedouble)
            goto bad;
        out->count = (unsigned)count->valuedouble;
    }
    return OA_OK;
bad:
    return oa_error_set(err, OA_EINVAL,
                        "configuration \"Anonymizer.%s\" must be a "
                        "number of days (0 to 36500) or {\"Days\": n, "
                        "\"Count\": m} (0 to 10000000 newest kept); 0 "
                        "or null keeps everything",
                        key);
}

/* Append key='value' to a libpq connection string, quoted. */
static oa_status conn_add(oa_buf *b, const char *key, const char *value)
{
    const char *p;
    oa_status rc = oa_buf_printf(b, "%s%s='", b->len ? " " : "", key);

    for (p = value; rc == OA_OK && *p != '\0'; p++) {
        if (*p == '\'' || *p == '\\')
            rc = oa_buf_append_byte(b, '\\');
        if (rc == OA_OK)
            rc = oa_buf_append_byte(b, (uint8_t)*p);
    }
    return rc == OA_OK ? oa_buf_append_byte(b, '\'') : rc;
}

/* The libpq connection string of a PostgreSQL section (Orthanc's keys). */
static oa_status pg_conninfo(char **out, const cJSON *pg, oa_error *err)
{
    static const struct {
        const char *json, *libpq;
    } keys[] = {{"Host", "host"},         {"Database", "dbname"},
                {"Username", "user"},     {"Password", "password"}};
    const cJSON *uri = cJSON_GetObjectItemCaseSensitive(pg, "ConnectionUri");
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(pg, "Port");
    oa_buf b;
    oa_status rc = OA_OK;
    size_t i;

    *out = NULL;
    if (cJSON_IsString(uri)) {
        *out = oa_strdup(uri->valuestring);
        return *out != NULL ? OA_OK
                            : oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    oa_buf_init(&b, 8192);
    for (i = 0; rc == OA_OK && i < sizeof(keys) / sizeof(keys[0]); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(pg, keys[i].json);

        if (cJSON_IsString(v))
            rc = conn_add(&b, keys[i].libpq, v->valuestring);
    }
    if (rc == OA_OK && cJSON_IsNumber(port))
        rc = oa_buf_printf(&b, "%sport=%d", b.len ? " " : "", port->valueint);
    if (rc == OA_OK)
        rc = oa_buf_printf(&b, "%sconnect_timeout=10 "
                               "application_name='orthanc-anonymizer'",
                           b.len ? " " : "");
    if (rc == OA_OK)
        *out = oa_strdup(oa_buf_cstr(&b));
    oa_buf_dispose(&b);
    if (rc != OA_OK || *out == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    return OA_OK;
}

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
    /* Twice the cores: a worker spends much of its time waiting for
     * Orthanc to store its result (disk), so one per core leaves the CPU
     * idle; 16 at most by default. */
    out->threads = cores == 0 ? 2 : cores >= 8 ? 16 : 2 * cores;
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

    item = cJSON_GetObjectItemCaseSensitive(section, "WorkBudget");
    if (item != NULL) {
        if (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
            item->valuedouble > OA_CONFIG_MAX_WORK_BUDGET ||
            item->valuedouble != (double)item->valueint) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.WorkBudget\" must "
                              "be an integer from 1 to %u (steps per byte of "
                              "an instance, default %u)",
                              OA_CONFIG_MAX_WORK_BUDGET,
                              OA_ANON_WORK_PER_BYTE);
            goto fail;
        }
        out->work_budget = (unsigned)item->valueint;
    }

    rc = folder_option(&out->export_folder, section, "ExportFolder", err);
    if (rc != OA_OK)
        goto fail;
    rc = folder_option(&out->archive_folder, section, "ArchiveFolder", err);
    if (rc != OA_OK)
        goto fail;
    if (out->archive_folder == NULL) {
        /* Not a shared /tmp path (issue 12, defect 4): under Orthanc's
         * own storage folder, which only Orthanc's user writes to.  A
         * relative StorageDirectory is relative to Orthanc's
         * configuration file, which the plugin cannot see: then there is
         * no archive folder and ZIP exports ask for "ArchiveFolder". */
        const cJSON *sd = cJSON_GetObjectItemCaseSensitive(orthanc,
                                                           "StorageDirectory");
        char path[1100];
        size_t n;

        if (!cJSON_IsString(sd) || sd->valuestring[0] != '/' ||
            (n = strlen(sd->valuestring)) > 1000 ||
            strstr(sd->valuestring, "/../") != NULL)
            goto no_archive;   /* ZIP exports say what to set */
        while (n > 1 && sd->valuestring[n - 1] == '/')
            n--;
        snprintf(path, sizeof(path), "%.*s/anonymizer-archives", (int)n,
                 sd->valuestring);
        out->archive_folder = oa_strdup(path);
        out->archive_default = true;
        if (out->archive_folder == NULL) {
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            goto fail;
        }
    }
no_archive:

    {
        double v = (double)OA_READER_DEFAULT_MAX_INFLATED;

        rc = number_option(&v, section, "MaxInflatedSize", 1 << 20,
                           (double)((uint64_t)4 << 30),
                           "a size in bytes from 1 MiB to 4 GiB", err);
        if (rc != OA_OK)
            goto fail;
        out->max_inflated = (size_t)v;
        v = OA_READER_DEFAULT_INFLATE_RATIO;
        rc = number_option(&v, section, "MaxInflateRatio", 10, 1000000,
                           "an integer from 10 to 1000000", err);
        if (rc != OA_OK)
            goto fail;
        out->max_inflate_ratio = (unsigned)v;
        v = (double)OA_CONFIG_DEFAULT_JOB_MEMORY;
        rc = number_option(&v, section, "JobMemoryLimit",
                           (double)OA_CONFIG_MIN_JOB_MEMORY,
                           (double)((uint64_t)1 << 40),
                           "a size in bytes from 64 MiB to 1 TiB", err);
        if (rc != OA_OK)
            goto fail;
        out->job_memory = (uint64_t)v;
    }
    out->job_retention.days = OA_CONFIG_DEFAULT_JOB_RETENTION_DAYS;
    rc = retention_option(&out->report_retention, section, "ReportRetention",
                          err);
    if (rc == OA_OK)
        rc = retention_option(&out->job_retention, section, "JobRetention",
                              err);
    if (rc != OA_OK)
        goto fail;

    out->zip_max_size = OA_CONFIG_DEFAULT_ZIP_MAX;
    /* "DicomScu": who sends the way out's files to a DICOM modality; the
     * calling AE title and the timeout are Orthanc's own settings. */
    out->own_scu = true;
    item = cJSON_GetObjectItemCaseSensitive(section, "DicomScu");
    if (item != NULL && !cJSON_IsNull(item)) {
        if (!cJSON_IsString(item) ||
            (strcmp(item->valuestring, "plugin") != 0 &&
             strcmp(item->valuestring, "orthanc") != 0)) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.DicomScu\" must "
                              "be \"plugin\" (one association per export) "
                              "or \"orthanc\" (Orthanc's store-straight, "
                              "one association per file)");
            goto fail;
        }
        out->own_scu = strcmp(item->valuestring, "plugin") == 0;
    }
    {
        const cJSON *aet = cJSON_GetObjectItemCaseSensitive(orthanc,
                                                            "DicomAet");
        const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(
            orthanc, "DicomScuTimeout");

        snprintf(out->dicom_aet, sizeof(out->dicom_aet), "%s",
                 cJSON_IsString(aet) && aet->valuestring[0] != '\0' &&
                         strlen(aet->valuestring) <= 16
                     ? aet->valuestring
                     : "ORTHANC");
        out->scu_timeout = cJSON_IsNumber(timeout) &&
                                   timeout->valuedouble >= 1 &&
                                   timeout->valuedouble <= 3600
                               ? (unsigned)timeout->valuedouble
                               : 10u;
    }

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
    out->max_downloads = OA_CONFIG_DEFAULT_MAX_DOWNLOADS;
    item = cJSON_GetObjectItemCaseSensitive(section, "MaxParallelDownloads");
    if (item != NULL) {
        if (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
            item->valuedouble > OA_CONFIG_MAX_MAX_DOWNLOADS ||
            item->valuedouble != (double)(unsigned)item->valuedouble) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration "
                              "\"Anonymizer.MaxParallelDownloads\" must be "
                              "a whole number from 1 to %d",
                              OA_CONFIG_MAX_MAX_DOWNLOADS);
            goto fail;
        }
        out->max_downloads = (unsigned)item->valuedouble;
    }
    rc = parse_label(section, "StudyLabel", OA_CONFIG_DEFAULT_STUDY_LABEL,
                     out->study_label, sizeof(out->study_label), err);
    if (rc == OA_OK)
        rc = parse_label(section, "SourceLabel", "", out->source_label,
                         sizeof(out->source_label), err);
    if (rc != OA_OK)
        goto fail;
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
    out->stale_seconds = 60;
    item = cJSON_GetObjectItemCaseSensitive(section, "StaleJobSeconds");
    if (item != NULL) {
        if (!cJSON_IsNumber(item) || item->valuedouble < 5 ||
            item->valuedouble > 86400) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.StaleJobSeconds\" "
                              "must be a number of seconds from 5 to 86400");
            goto fail;
        }
        out->stale_seconds = (long)item->valuedouble;
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

    {
        const cJSON *store = cJSON_GetObjectItemCaseSensitive(section, "Store");
        const cJSON *own = cJSON_GetObjectItemCaseSensitive(section,
                                                            "PostgreSQL");
        const cJSON *orth = cJSON_GetObjectItemCaseSensitive(orthanc,
                                                             "PostgreSQL");
        const char *kind = cJSON_IsString(store) ? store->valuestring : "auto";
        bool use_pg;

        if (store != NULL && !cJSON_IsString(store))
            kind = "?";
        if (strcmp(kind, "auto") == 0)
            use_pg = cJSON_IsObject(orth) &&
                     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                         orth, "EnableIndex"));
        else if (strcmp(kind, "postgresql") == 0)
            use_pg = true;
        else if (strcmp(kind, "properties") == 0) {
            use_pg = false;
            out->store_properties = true;   /* not the key-value store */
        } else {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.Store\" must be "
                              "\"auto\", \"properties\" or "
                              "\"postgresql\"");
            goto fail;
        }
        if (own != NULL && !cJSON_IsObject(own)) {
            rc = oa_error_set(err, OA_EINVAL,
                              "configuration \"Anonymizer.PostgreSQL\" "
                              "must be an object (Host, Port, Database, "
                              "Username, Password or ConnectionUri)");
            goto fail;
        }
        if (use_pg) {
            const cJSON *pg = own != NULL ? own : orth;

            if (!cJSON_IsObject(pg)) {
                rc = oa_error_set(err, OA_EINVAL,
                                  "configuration \"Anonymizer.Store\" is "
                                  "\"postgresql\" but no PostgreSQL "
                                  "section says where");
                goto fail;
            }
            rc = pg_conninfo(&out->pg_conninfo, pg, err);
            if (rc != OA_OK)
                goto fail;
        }
    }

    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(orthanc, "Name");
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(orthanc,
                                                             "HttpPort");
        char host[64] = "localhost";

        gethostname(host, sizeof(host) - 1);
        host[sizeof(host) - 1] = '\0';
        snprintf(out->server, sizeof(out->server), "%.60s@%.60s:%d",
                 cJSON_IsString(name) ? name->valuestring : "Orthanc", host,
                 cJSON_IsNumber(port) ? port->valueint : 8042);
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
    if (c->pg_conninfo != NULL) {
        memset(c->pg_conninfo, 0, strlen(c->pg_conninfo));
        oa_free(c->pg_conninfo);
    }
    oa_free(c->export_folder);
    oa_free(c->archive_folder);
    cJSON_Delete(c->destinations);
    cJSON_Delete(c->section);
    memset(c, 0, sizeof(*c));
}
