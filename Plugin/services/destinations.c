/*
 * Destinations: named export targets, from the configuration file
 * (read-only) or saved through the REST API (the store).
 */
#include "services.h"

#include "../export/export.h"

#include <stdio.h>
#include <string.h>

static const char *const types[] = {"ftp", "ftps", "sftp", "webdav",
                                    "stow", "folder"};
static const char *const string_fields[] = {
    "Type",       "Url",           "Username", "Password", "PrivateKey",
    "KnownHosts", "HostKeySha256", "CaFile",
};
#define MAX_FIELD 16384   /* a private key or a few known_hosts lines */

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The Url schemes each Type with a Url accepts: a Type never lowers or
 * raises the Url's security (ftp with ftps:// would log in in clear). */
static const struct {
    const char *type, *scheme;
} type_schemes[] = {
    {"ftp", "ftp"},     {"ftps", "ftps"},    {"sftp", "sftp"},
    {"webdav", "http"}, {"webdav", "https"},
    {"stow", "http"},   {"stow", "https"},
};

/* `scheme` if `type` accepts it, else NULL. */
static const char *scheme_of(const char *type, const char *scheme)
{
    size_t i;

    for (i = 0; i < sizeof(type_schemes) / sizeof(type_schemes[0]); i++)
        if (strcmp(type_schemes[i].type, type) == 0 &&
            strcmp(type_schemes[i].scheme, scheme) == 0)
            return scheme;
    return NULL;
}

/* For messages: the Url prefixes `type` accepts. */
static const char *expected_schemes(const char *type)
{
    if (strcmp(type, "ftp") == 0)
        return "ftp://";
    if (strcmp(type, "ftps") == 0)
        return "ftps://";
    if (strcmp(type, "sftp") == 0)
        return "sftp://";
    return "http:// or https://";
}

oa_status oa_destination_validate(const cJSON *json, oa_error *err)
{
    const cJSON *item;
    const char *type, *url, *scheme;
    oa_export_url u;
    oa_error uerr;
    size_t i;
    bool known;

    if (!cJSON_IsObject(json))
        return oa_error_set(err, OA_EINVAL,
                            "a destination is a JSON object");
    cJSON_ArrayForEach(item, json) {
        known = false;
        for (i = 0; i < sizeof(string_fields) / sizeof(string_fields[0]);
             i++) {
            if (strcmp(item->string, string_fields[i]) == 0) {
                known = true;
                if (!cJSON_IsString(item) && !cJSON_IsNull(item))
                    return oa_error_set(err, OA_EINVAL,
                                        "destination \"%s\" must be a string",
                                        item->string);
                if (cJSON_IsString(item) &&
                    strlen(item->valuestring) > MAX_FIELD)
                    return oa_error_set(err, OA_EINVAL,
                                        "destination \"%s\" is too long",
                                        item->string);
            }
        }
        if (strcmp(item->string, "Timeout") == 0) {
            known = true;
            if (!cJSON_IsNumber(item) || item->valuedouble < 1 ||
                item->valuedouble > 600)
                return oa_error_set(err, OA_EINVAL,
                                    "destination \"Timeout\" must be a "
                                    "number of seconds from 1 to 600");
        }
        /* What GET answers may be sent back as is. */
        if (strcmp(item->string, "Name") == 0 ||
            strcmp(item->string, "HasPassword") == 0 ||
            strcmp(item->string, "HasPrivateKey") == 0 ||
            strcmp(item->string, "ReadOnly") == 0)
            known = true;
        if (!known)
            return oa_error_set(err, OA_EINVAL,
                                "destination: unknown field \"%s\"",
                                item->string);
    }
    type = str(json, "Type");
    known = false;
    for (i = 0; type != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        known |= strcmp(type, types[i]) == 0;
    if (!known)
        return oa_error_set(err, OA_EINVAL,
                            "destination \"Type\" must be \"ftp\", \"ftps\", "
                            "\"sftp\", \"webdav\", \"stow\" or \"folder\"");
    url = str(json, "Url");
    if (url == NULL || url[0] == '\0')
        return oa_error_set(err, OA_EINVAL, "destination \"Url\" is required");
    if (strcmp(type, "folder") == 0) {
        if (!oa_export_relpath_is_safe(url))
            return oa_error_set(err, OA_EINVAL,
                                "destination \"Url\" of a folder must be a "
                                "relative path under ExportFolder (no '..', "
                                "no leading '/')");
        return OA_OK;
    }
    if (oa_export_url_parse(url, &u, &uerr) != OA_OK)
        return oa_error_set(err, OA_EINVAL, "destination \"Url\": %s",
                            uerr.msg);
    if (u.has_userinfo)
        return oa_error_set(err, OA_EINVAL,
                            "destination \"Url\" must not hold a user name "
                            "or password: give them in the \"Username\" and "
                            "\"Password\" fields");
    scheme = scheme_of(type, u.scheme);
    if (scheme == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "destination \"Type\" \"%s\" does not match "
                            "the \"Url\" scheme \"%s\": a %s destination "
                            "needs a Url starting with %s",
                            type, u.scheme, type, expected_schemes(type));
    if (strcmp(type, "sftp") == 0 &&
        (str(json, "KnownHosts") == NULL ||
         str(json, "KnownHosts")[0] == '\0') &&
        (str(json, "HostKeySha256") == NULL ||
         str(json, "HostKeySha256")[0] == '\0'))
        return oa_error_set(err, OA_EINVAL,
                            "an SFTP destination needs \"KnownHosts\" or "
                            "\"HostKeySha256\" to check the server's "
                            "key (ssh-keyscan / ssh-keygen -l -E sha256)");
    return OA_OK;
}

cJSON *oa_destination_public(const cJSON *full, const char *name,
                             bool configured)
{
    cJSON *out = cJSON_CreateObject();
    const cJSON *item;
    const char *pw = str(full, "Password"), *key = str(full, "PrivateKey");
    char shown[MAX_FIELD + 1];
    oa_export_url u;

    if (out == NULL || cJSON_AddStringToObject(out, "Name", name) == NULL)
        goto nomem;
    cJSON_ArrayForEach(item, full) {
        if (strcmp(item->string, "Password") == 0 ||
            strcmp(item->string, "PrivateKey") == 0 ||
            strcmp(item->string, "Name") == 0 ||
            strcmp(item->string, "HasPassword") == 0 ||
            strcmp(item->string, "HasPrivateKey") == 0 ||
            strcmp(item->string, "ReadOnly") == 0)
            continue;
        if (strcmp(item->string, "Url") == 0 && cJSON_IsString(item) &&
            strstr(item->valuestring, "://") != NULL &&
            (oa_export_url_parse(item->valuestring, &u, NULL) != OA_OK ||
             u.has_userinfo)) {
            /* never a password written into a Url (an old save, the
             * configuration file): without the user info */
            oa_export_url_redact(item->valuestring, true, shown,
                                 sizeof(shown));
            if (cJSON_AddStringToObject(out, "Url", shown) == NULL)
                goto nomem;
            continue;
        }
        if (!cJSON_AddItemToObject(out, item->string,
                                   cJSON_Duplicate(item, 1)))
            goto nomem;
    }
    if (cJSON_AddBoolToObject(out, "HasPassword", pw != NULL && *pw) ==
            NULL ||
        cJSON_AddBoolToObject(out, "HasPrivateKey", key != NULL && *key) ==
            NULL ||
        cJSON_AddBoolToObject(out, "ReadOnly", configured) == NULL)
        goto nomem;
    return out;
nomem:
    cJSON_Delete(out);
    return NULL;
}

oa_status oa_destination_folder(const oa_config *cfg, const char *sub,
                                char *path, size_t path_size, oa_error *err)
{
    int n;

    if (cfg->export_folder == NULL)
        return oa_error_set(err, OA_EINVAL,
                            "folder exports need \"Anonymizer.ExportFolder\" "
                            "in Orthanc's configuration");
    n = sub != NULL && sub[0] != '\0'
            ? snprintf(path, path_size, "%s/%s", cfg->export_folder, sub)
            : snprintf(path, path_size, "%s", cfg->export_folder);
    if (n < 0 || (size_t)n >= path_size)
        return oa_error_set(err, OA_EINVAL, "folder path too long");
    return OA_OK;
}

oa_status oa_destination_target(const cJSON *json, const oa_config *cfg,
                                struct oa_export_target *t, char *path,
                                size_t path_size, oa_error *err)
{
    const cJSON *timeout = cJSON_GetObjectItemCaseSensitive(json, "Timeout");
    oa_status rc = oa_destination_validate(json, err);

    if (rc != OA_OK)
        return rc;
    memset(t, 0, sizeof(*t));
    t->type = str(json, "Type");
    t->url = str(json, "Url");
    t->username = str(json, "Username");
    t->password = str(json, "Password");
    t->private_key = str(json, "PrivateKey");
    t->known_hosts = str(json, "KnownHosts");
    t->host_key_sha256 = str(json, "HostKeySha256");
    t->ca_file = str(json, "CaFile");
    t->timeout = cJSON_IsNumber(timeout) ? (long)timeout->valuedouble : 0;
    if (strcmp(t->type, "folder") == 0) {
        rc = oa_destination_folder(cfg, t->url, path, path_size, err);
        if (rc != OA_OK)
            return rc;
        t->url = path;
    }
    return OA_OK;
}

oa_status oa_service_destination(oa_service *s, const char *name,
                                 cJSON **out, bool *configured,
                                 oa_error *err)
{
    const cJSON *conf = oa_service_config(s)->destinations;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(conf, name);
    char *text = NULL;
    oa_status rc;

    *out = NULL;
    *configured = false;
    if (c != NULL) {
        *configured = true;
        *out = cJSON_Duplicate(c, 1);
        return *out != NULL ? OA_OK
                            : oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    if (!oa_store_key_is_valid(name))
        return oa_error_set(err, OA_ENOTFOUND, "no destination with that name");
    rc = oa_store_get(oa_service_store(s), OA_STORE_DESTINATIONS, name, &text,
                      err);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND,
                            "no destination named %s (GET "
                            "/anonymizer/destinations lists them)",
                            name);
    if (rc != OA_OK)
        return rc;
    *out = cJSON_Parse(text);
    oa_free(text);
    if (*out == NULL)
        return oa_error_set(err, OA_EPARSE, "stored destination %s is damaged",
                            name);
    return OA_OK;
}

/* True if `a` and `b` (both valid) name the same Type, Url scheme, host
 * and port (host without case, default ports filled in) and Username. */
static bool same_address(const cJSON *a, const cJSON *b)
{
    const char *ta = str(a, "Type"), *tb = str(b, "Type");
    const char *ua = str(a, "Username"), *ub = str(b, "Username");
    oa_export_url pa, pb;

    if (ta == NULL || tb == NULL || strcmp(ta, tb) != 0)
        return false;
    if (strcmp(ua != NULL ? ua : "", ub != NULL ? ub : "") != 0)
        return false;
    if (strcmp(ta, "folder") == 0)
        return true;   /* a local folder: no host to send a secret to */
    if (oa_export_url_parse(str(a, "Url"), &pa, NULL) != OA_OK ||
        oa_export_url_parse(str(b, "Url"), &pb, NULL) != OA_OK)
        return false;
    return strcmp(pa.scheme, pb.scheme) == 0 &&
           strcmp(pa.host, pb.host) == 0 && pa.port == pb.port &&
           !pa.has_userinfo && !pb.has_userinfo;
}

oa_status oa_service_destination_put(oa_service *s, const char *name,
                                     const cJSON *json, oa_error *err)
{
    cJSON *copy = NULL, *old = NULL, *item;
    bool configured = false;
    char *text = NULL;
    oa_status rc;
    size_t i;
    static const char *const drop[] = {"Name", "HasPassword",
                                       "HasPrivateKey", "ReadOnly"};
    static const char *const secrets[] = {"Password", "PrivateKey"};

    if (cJSON_GetObjectItemCaseSensitive(oa_service_config(s)->destinations,
                                         name) != NULL)
        return oa_error_set(err, OA_ECONFLICT,
                            "destination %s comes from Orthanc's "
                            "configuration file: change it there",
                            name);
    if (!oa_store_key_is_valid(name))
        return oa_error_set(err, OA_EINVAL,
                            "destination name: use letters, digits, '-', "
                            "'_' or '.', not starting with '.'");
    rc = oa_destination_validate(json, err);
    if (rc != OA_OK)
        return rc;
    copy = cJSON_Duplicate(json, 1);
    if (copy == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    for (i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        cJSON_DeleteItemFromObjectCaseSensitive(copy, drop[i]);
    /* Secrets are never sent back: a PUT of what GET showed keeps them,
     * but only for the same address and user, never to another host. */
    if (oa_service_destination(s, name, &old, &configured, NULL) == OA_OK) {
        for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
            item = cJSON_GetObjectItemCaseSensitive(old, secrets[i]);
            if (!cJSON_IsString(item) || item->valuestring[0] == '\0' ||
                cJSON_GetObjectItemCaseSensitive(copy, secrets[i]) != NULL)
                continue;
            if (!same_address(old, copy)) {
                rc = oa_error_set(err, OA_EINVAL,
                                  "destination \"%s\" must be given again: "
                                  "the Type, the Url's scheme, host or port, "
                                  "or the Username changed, and a saved "
                                  "secret never goes to a new address (null "
                                  "for none)",
                                  secrets[i]);
                goto out;
            }
            cJSON_AddItemToObject(copy, secrets[i], cJSON_Duplicate(item, 1));
        }
    }
    text = cJSON_PrintUnformatted(copy);
    rc = text != NULL ? oa_store_put(oa_service_store(s),
                                     OA_STORE_DESTINATIONS, name, text, err)
                      : oa_error_set(err, OA_ENOMEM, "out of memory");
out:
    if (text != NULL)
        memset(text, 0, strlen(text));
    cJSON_free(text);
    cJSON_Delete(copy);
    cJSON_Delete(old);
    return rc;
}

oa_status oa_service_destination_delete(oa_service *s, const char *name,
                                        oa_error *err)
{
    oa_status rc;

    if (cJSON_GetObjectItemCaseSensitive(oa_service_config(s)->destinations,
                                         name) != NULL)
        return oa_error_set(err, OA_ECONFLICT,
                            "destination %s comes from Orthanc's "
                            "configuration file: remove it there",
                            name);
    if (!oa_store_key_is_valid(name))
        return oa_error_set(err, OA_ENOTFOUND, "no destination with that name");
    rc = oa_store_remove(oa_service_store(s), OA_STORE_DESTINATIONS, name,
                         err);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND, "no destination named %s",
                            name);
    return rc;
}

oa_status oa_service_destination_names(oa_service *s, cJSON **out,
                                       oa_error *err)
{
    const cJSON *item;
    cJSON *first = cJSON_CreateArray();

    /* those of the configuration file first */
    cJSON_ArrayForEach(item, oa_service_config(s)->destinations) {
        if (first != NULL &&
            !cJSON_AddItemToArray(first, cJSON_CreateString(item->string))) {
            cJSON_Delete(first);
            first = NULL;
        }
    }
    return oa_service_names(s, OA_STORE_DESTINATIONS, first, out, err);
}
