/*
 * The service: configuration snapshot, store, site secret, profiles.
 */
#define _POSIX_C_SOURCE 200809L

#include "services.h"

#include <pthread.h>
#include <string.h>

#include <openssl/rand.h>

/* Key of the generated secret in the store's settings namespace. */
#define SECRET_KEY "site-secret"

struct oa_service {
    oa_config config;
    oa_store *store;
    pthread_mutex_t lock;      /* guards the lazily loaded secret */
    char *secret;              /* NULL until loaded */
};

static oa_service *current;

oa_status oa_service_new(oa_service **out, oa_config *config,
                         oa_store *store, oa_error *err)
{
    oa_service *s = oa_calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL) {
        oa_config_dispose(config);
        oa_store_free(store);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    s->config = *config;
    memset(config, 0, sizeof(*config));
    s->store = store;
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return OA_OK;
}

void oa_service_free(oa_service *s)
{
    if (s == NULL)
        return;
    if (current == s)
        current = NULL;
    oa_config_dispose(&s->config);
    oa_store_free(s->store);
    if (s->secret != NULL) {
        memset(s->secret, 0, strlen(s->secret));
        oa_free(s->secret);
    }
    pthread_mutex_destroy(&s->lock);
    oa_free(s);
}

void oa_service_install(oa_service *s)
{
    current = s;
}

oa_service *oa_service_current(void)
{
    return current;
}

const oa_config *oa_service_config(const oa_service *s)
{
    return &s->config;
}

oa_store *oa_service_store(const oa_service *s)
{
    return s->store;
}

/* Under the lock. */
static oa_status load_secret(oa_service *s, oa_error *err)
{
    unsigned char random[32];
    char hex[2 * sizeof(random) + 1];
    size_t i;
    oa_status rc;

    if (s->config.secret != NULL) {
        s->secret = oa_strdup(s->config.secret);
        return s->secret != NULL
                   ? OA_OK
                   : oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    if (RAND_bytes(random, sizeof(random)) != 1)
        return oa_error_set(err, OA_EIO,
                            "cannot draw a random site secret (OpenSSL)");
    for (i = 0; i < sizeof(random); i++) {
        static const char digits[] = "0123456789abcdef";

        hex[2 * i] = digits[random[i] >> 4];
        hex[2 * i + 1] = digits[random[i] & 15];
    }
    hex[2 * sizeof(random)] = '\0';
    memset(random, 0, sizeof(random));
    rc = oa_store_put_if_absent(s->store, OA_STORE_SETTINGS, SECRET_KEY, hex,
                                &s->secret, err);
    memset(hex, 0, sizeof(hex));
    if (rc != OA_OK)
        return rc;
    if (strlen(s->secret) < OA_CONFIG_MIN_SECRET ||
        strlen(s->secret) > OA_CONFIG_MAX_SECRET) {
        memset(s->secret, 0, strlen(s->secret));
        oa_free(s->secret);
        s->secret = NULL;
        return oa_error_set(err, OA_EPARSE,
                            "the site secret kept in the store is damaged "
                            "(it must have %d to %d characters): configure "
                            "\"Anonymizer.Secret\"",
                            OA_CONFIG_MIN_SECRET, OA_CONFIG_MAX_SECRET);
    }
    return OA_OK;
}

oa_status oa_service_secret(oa_service *s, const uint8_t **secret,
                            size_t *len, oa_error *err)
{
    oa_status rc = OA_OK;

    pthread_mutex_lock(&s->lock);
    if (s->secret == NULL)
        rc = load_secret(s, err);
    if (rc == OA_OK) {
        *secret = (const uint8_t *)s->secret;
        *len = strlen(s->secret);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

oa_status oa_service_profile(oa_service *s, const char *name,
                             oa_profile **out, oa_error *err)
{
    char *text = NULL;
    oa_status rc;

    *out = NULL;
    if (name == NULL)
        name = "Default";
    if (oa_profile_is_builtin_name(name))
        return oa_profile_builtin(out, name, err);
    if (!oa_profile_name_is_valid(name))
        return oa_error_set(err, OA_ENOTFOUND,
                            "no profile with that name (names are letters, "
                            "digits, '-', '_', '.')");
    rc = oa_store_get(s->store, OA_STORE_PROFILES, name, &text, err);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND,
                            "no profile named %s (GET /anonymizer/profiles "
                            "lists them)",
                            name);
    if (rc != OA_OK)
        return rc;
    rc = oa_profile_parse(out, name, text, strlen(text), err);
    oa_free(text);
    if (rc != OA_OK && rc != OA_ENOMEM)
        return oa_error_set(err, OA_EPARSE,
                            "stored profile %s is damaged: replace it with "
                            "PUT /anonymizer/profiles/%s",
                            name, name);
    return rc;
}

oa_status oa_service_request_profile(oa_service *s, const cJSON *spec,
                                     oa_profile **out, oa_error *err)
{
    oa_status rc;

    *out = NULL;
    if (spec == NULL || cJSON_IsNull(spec))
        return oa_profile_builtin(out, "Default", err);
    if (cJSON_IsString(spec)) {
        rc = oa_service_profile(s, spec->valuestring, out, err);
        if (rc == OA_ENOTFOUND)
            rc = oa_error_set(err, OA_EINVAL, "\"Profile\": %s", err->msg);
        return rc;
    }
    if (cJSON_IsObject(spec))
        return oa_profile_from_json(out, NULL, spec, err);
    return oa_error_set(err, OA_EINVAL,
                        "\"Profile\" must be a profile name or an object of "
                        "options");
}

oa_status oa_service_profile_put(oa_service *s, const char *name,
                                 const cJSON *json, oa_profile **out,
                                 oa_error *err)
{
    oa_profile *p = NULL;
    cJSON *stored = NULL;
    char *text = NULL;
    oa_status rc;

    if (out != NULL)
        *out = NULL;
    if (name == NULL || oa_profile_is_builtin_name(name))
        return oa_error_set(err, OA_ECONFLICT,
                            "the built-in profiles Default, Full and "
                            "Research cannot be changed: save yours under "
                            "another name");
    if (!oa_profile_name_is_valid(name))
        return oa_error_set(err, OA_EINVAL,
                            "profile name: use 1 to %d letters, digits, "
                            "'-', '_' or '.', not starting with '.'",
                            OA_PROFILE_MAX_NAME);
    if (!cJSON_IsObject(json))
        return oa_error_set(err, OA_EINVAL,
                            "a profile is a JSON object of options");
    rc = oa_profile_from_json(&p, name, json, err);
    if (rc != OA_OK)
        return rc;
    rc = oa_profile_to_json(&stored, p, OA_PROFILE_JSON_OVERRIDES, err);
    if (rc != OA_OK)
        goto out;
    text = cJSON_PrintUnformatted(stored);
    if (text == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    rc = oa_store_put(s->store, OA_STORE_PROFILES, name, text, err);
out:
    cJSON_free(text);
    cJSON_Delete(stored);
    if (rc == OA_OK && out != NULL)
        *out = p;
    else
        oa_profile_free(p);
    return rc;
}

oa_status oa_service_profile_delete(oa_service *s, const char *name,
                                    oa_error *err)
{
    oa_status rc;

    if (name != NULL && oa_profile_is_builtin_name(name))
        return oa_error_set(err, OA_ECONFLICT,
                            "the built-in profiles Default, Full and Research cannot "
                            "be deleted");
    if (name == NULL || !oa_profile_name_is_valid(name))
        return oa_error_set(err, OA_ENOTFOUND, "no profile with that name");
    rc = oa_store_remove(s->store, OA_STORE_PROFILES, name, err);
    if (rc == OA_ENOTFOUND)
        return oa_error_set(err, OA_ENOTFOUND, "no profile named %s", name);
    return rc;
}

oa_status oa_service_names(oa_service *s, const char *ns, cJSON *first,
                           cJSON **out, oa_error *err)
{
    char **keys = NULL;
    size_t count = 0, i;
    const cJSON *have;
    oa_status rc;

    *out = NULL;
    if (first == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    rc = oa_store_list(s->store, ns, &keys, &count, err);
    if (rc != OA_OK) {
        cJSON_Delete(first);
        return rc;
    }
    for (i = 0; i < count; i++) {
        bool seen = false;

        cJSON_ArrayForEach(have, first)
            seen |= cJSON_IsString(have) &&
                    strcmp(have->valuestring, keys[i]) == 0;
        if (!seen && !cJSON_AddItemToArray(first, cJSON_CreateString(keys[i]))) {
            oa_store_free_keys(keys, count);
            cJSON_Delete(first);
            return oa_error_set(err, OA_ENOMEM, "out of memory");
        }
    }
    oa_store_free_keys(keys, count);
    *out = first;
    return OA_OK;
}

oa_status oa_service_profile_names(oa_service *s, cJSON **out, oa_error *err)
{
    const char *builtins[8];
    size_t n = oa_profile_builtin_count();

    for (size_t i = 0; i < n && i < 8; i++)
        builtins[i] = oa_profile_builtin_name(i);
    return oa_service_names(s, OA_STORE_PROFILES,
                            cJSON_CreateStringArray(builtins,
                                                    n < 8 ? (int)n : 8),
                            out, err);
}

oa_status oa_service_run_options(const cJSON *body, bool *asynchronous,
                                 int *priority, oa_error *err)
{
    const cJSON *v;

    *asynchronous = true;
    *priority = 0;
    v = cJSON_GetObjectItemCaseSensitive(body, "Asynchronous");
    if (v != NULL) {
        if (!cJSON_IsBool(v))
            return oa_error_set(err, OA_EINVAL,
                                "\"Asynchronous\" must be true or false");
        *asynchronous = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(body, "Priority");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint)
            return oa_error_set(err, OA_EINVAL,
                                "\"Priority\" must be an integer");
        *priority = v->valueint;
    }
    return OA_OK;
}
