/*
 * Unit tests of the key-value store (store/store_kv.c) over a fake of
 * Orthanc's key-value stores, and of the metrics (services/metrics.c):
 * the migration from the global properties happens once, copies every
 * namespace, survives a failure halfway (retried, then marked), leaves the
 * old values as they were; afterwards every call goes to the key-value
 * stores only; without them (available() false) everything stays in the
 * global properties.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "services/metrics.h"
#include "store/store.h"

/* ------------------------------------------------------------------ */
/* A fake of Orthanc's key-value stores                                 */

#define KV_MAX 64
static struct {
    char store[KV_MAX][64];
    char key[KV_MAX][OA_STORE_MAX_KEY + 1];
    char *value[KV_MAX];
    int count;
    bool available;
    int fail_put_after;   /* 0: never; n: the n-th next put fails */
    int puts;
} kv;

static void kv_reset(void)
{
    int i;

    for (i = 0; i < kv.count; i++)
        oa_free(kv.value[i]);
    memset(&kv, 0, sizeof(kv));
    kv.available = true;
}

static int kv_find(const char *store, const char *key)
{
    int i;

    for (i = 0; i < kv.count; i++)
        if (strcmp(kv.store[i], store) == 0 && strcmp(kv.key[i], key) == 0)
            return i;
    return -1;
}

static bool kv_available(void)
{
    return kv.available;
}

static oa_status kv_put(const char *store, const char *key, const char *value,
                        oa_error *err)
{
    int i = kv_find(store, key);

    kv.puts++;
    if (kv.fail_put_after > 0 && --kv.fail_put_after == 0)
        return oa_error_set(err, OA_EIO, "fake: write refused");
    if (i < 0) {
        assert_true(kv.count < KV_MAX);
        i = kv.count++;
        snprintf(kv.store[i], sizeof(kv.store[i]), "%s", store);
        snprintf(kv.key[i], sizeof(kv.key[i]), "%s", key);
    } else {
        oa_free(kv.value[i]);
    }
    kv.value[i] = oa_strdup(value);
    return OA_OK;
}

static oa_status kv_get(const char *store, const char *key, char **value,
                        oa_error *err)
{
    int i = kv_find(store, key);

    (void)err;
    *value = i < 0 ? NULL : oa_strdup(kv.value[i]);
    return OA_OK;
}

static oa_status kv_remove(const char *store, const char *key, oa_error *err)
{
    int i = kv_find(store, key);

    (void)err;
    if (i >= 0) {
        oa_free(kv.value[i]);
        kv.count--;
        memmove(&kv.store[i], &kv.store[i + 1],
                (size_t)(kv.count - i) * sizeof(kv.store[0]));
        memmove(&kv.key[i], &kv.key[i + 1],
                (size_t)(kv.count - i) * sizeof(kv.key[0]));
        memmove(&kv.value[i], &kv.value[i + 1],
                (size_t)(kv.count - i) * sizeof(kv.value[0]));
    }
    return OA_OK;
}

/* In reverse order: the store must sort. */
static oa_status kv_keys(const char *store, char ***keys, size_t *count,
                         oa_error *err)
{
    int i;
    size_t n = 0;

    (void)err;
    *keys = oa_calloc(KV_MAX, sizeof(char *));
    assert_non_null(*keys);
    for (i = kv.count - 1; i >= 0; i--)
        if (strcmp(kv.store[i], store) == 0)
            (*keys)[n++] = oa_strdup(kv.key[i]);
    *count = n;
    return OA_OK;
}

static const oa_store_kv_host host = {kv_available, kv_put, kv_get,
                                      kv_remove, kv_keys};

/* The old state: a memory store stands for the global properties. */
static oa_store *old_state(void)
{
    oa_store *s = NULL;
    oa_error err;

    assert_int_equal(oa_store_memory_new(&s, &err), OA_OK);
    assert_int_equal(oa_store_put(s, OA_STORE_PROFILES, "ct", "{\"A\":1}",
                                  &err), OA_OK);
    assert_int_equal(oa_store_put(s, OA_STORE_REPORTS, "r1", "{\"R\":1}",
                                  &err), OA_OK);
    assert_int_equal(oa_store_put(s, OA_STORE_SETTINGS, "site-secret",
                                  "0123456789abcdef", &err), OA_OK);
    return s;
}

static char *get(oa_store *s, const char *ns, const char *key)
{
    char *v = NULL;
    oa_error err;

    if (oa_store_get(s, ns, key, &v, &err) != OA_OK)
        return NULL;
    return v;
}

static void test_migration_once(void **state)
{
    oa_store *legacy, *s = NULL;
    char *v, *stored = NULL;
    size_t migrated = 0;
    oa_error err;
    int puts;

    (void)state;
    kv_reset();
    legacy = old_state();
    assert_int_equal(oa_store_kv_new(&s, &host, legacy, &err), OA_OK);
    assert_string_equal(oa_store_kind(s), "key-value");
    assert_false(oa_store_kv_uses_orthanc(s, NULL)); /* not used yet */
    v = get(s, OA_STORE_PROFILES, "ct");
    assert_non_null(v);
    assert_string_equal(v, "{\"A\":1}");
    oa_free(v);
    assert_true(oa_store_kv_uses_orthanc(s, &migrated));
    assert_int_equal(migrated, 3);
    /* copied into one store of Orthanc's per namespace, and marked */
    assert_true(kv_find("anonymizer.reports", "r1") >= 0);
    assert_true(kv_find("anonymizer.settings", "site-secret") >= 0);
    assert_true(kv_find("anonymizer.meta", "migrated") >= 0);
    /* the site secret is the old one */
    assert_int_equal(oa_store_put_if_absent(s, OA_STORE_SETTINGS,
                                            "site-secret", "another-secret!!",
                                            &stored, &err), OA_OK);
    assert_string_equal(stored, "0123456789abcdef");
    oa_free(stored);
    /* new writes go to the key-value stores only */
    assert_int_equal(oa_store_put(s, OA_STORE_PROFILES, "mr", "{\"B\":2}",
                                  &err), OA_OK);
    assert_true(kv_find("anonymizer.profiles", "mr") >= 0);
    oa_store_free(s);

    /* a restart: nothing copied again */
    puts = kv.puts;
    legacy = old_state();
    assert_int_equal(oa_store_kv_new(&s, &host, legacy, &err), OA_OK);
    v = get(s, OA_STORE_PROFILES, "mr");
    assert_non_null(v);
    oa_free(v);
    assert_true(oa_store_kv_uses_orthanc(s, &migrated));
    assert_int_equal(migrated, 0);
    assert_int_equal(kv.puts, puts);
    /* the old store does not see the new profile */
    assert_null(get(legacy, OA_STORE_PROFILES, "mr"));
    oa_store_free(s);
    kv_reset();
}

static void test_operations(void **state)
{
    oa_store *s = NULL;
    char **keys = NULL;
    size_t n = 0;
    oa_error err;

    (void)state;
    kv_reset();
    assert_int_equal(oa_store_kv_new(&s, &host, old_state(), &err), OA_OK);
    assert_int_equal(oa_store_put(s, OA_STORE_PROFILES, "b", "2", &err),
                     OA_OK);
    assert_int_equal(oa_store_put(s, OA_STORE_PROFILES, "a", "1", &err),
                     OA_OK);
    assert_int_equal(oa_store_list(s, OA_STORE_PROFILES, &keys, &n, &err),
                     OA_OK);
    assert_int_equal(n, 3);   /* a, b, ct: sorted */
    assert_string_equal(keys[0], "a");
    assert_string_equal(keys[1], "b");
    assert_string_equal(keys[2], "ct");
    oa_store_free_keys(keys, n);
    assert_int_equal(oa_store_remove(s, OA_STORE_PROFILES, "a", &err), OA_OK);
    assert_int_equal(oa_store_remove(s, OA_STORE_PROFILES, "a", &err),
                     OA_ENOTFOUND);
    assert_null(get(s, OA_STORE_PROFILES, "a"));
    {
        char *v = NULL;

        assert_int_equal(oa_store_get(s, OA_STORE_PROFILES, "zz", &v, &err),
                         OA_ENOTFOUND);
        assert_null(v);
    }
    oa_store_free(s);
    kv_reset();
}

static void test_migration_retried_after_failure(void **state)
{
    oa_store *s = NULL;
    char *v = NULL;
    oa_error err;

    (void)state;
    kv_reset();
    kv.fail_put_after = 2;   /* the second copy fails */
    assert_int_equal(oa_store_kv_new(&s, &host, old_state(), &err), OA_OK);
    assert_int_equal(oa_store_get(s, OA_STORE_PROFILES, "ct", &v, &err),
                     OA_EIO);
    assert_true(kv_find("anonymizer.meta", "migrated") < 0);
    assert_false(oa_store_kv_uses_orthanc(s, NULL));
    /* the next call copies again, completely, then marks */
    v = get(s, OA_STORE_REPORTS, "r1");
    assert_non_null(v);
    oa_free(v);
    assert_true(kv_find("anonymizer.meta", "migrated") >= 0);
    assert_true(oa_store_kv_uses_orthanc(s, NULL));
    oa_store_free(s);
    kv_reset();
}

static void test_unavailable_stays_in_properties(void **state)
{
    oa_store *legacy, *s = NULL;
    char *v;
    oa_error err;

    (void)state;
    kv_reset();
    kv.available = false;
    legacy = old_state();
    assert_int_equal(oa_store_kv_new(&s, &host, legacy, &err), OA_OK);
    v = get(s, OA_STORE_PROFILES, "ct");
    assert_non_null(v);
    oa_free(v);
    assert_int_equal(oa_store_put(s, OA_STORE_PROFILES, "mr", "x", &err),
                     OA_OK);
    assert_int_equal(kv.count, 0);
    v = get(legacy, OA_STORE_PROFILES, "mr");
    assert_non_null(v);
    oa_free(v);
    assert_false(oa_store_kv_uses_orthanc(s, NULL));
    oa_store_free(s);
}

static void test_bad_arguments(void **state)
{
    oa_store *s = NULL;
    oa_error err;

    (void)state;
    /* the legacy store is freed on failure too (no leak under ASan) */
    assert_int_equal(oa_store_kv_new(&s, NULL, old_state(), &err), OA_EINVAL);
    assert_null(s);
}

/* ------------------------------------------------------------------ */
/* Metrics                                                              */

static double seen[32];
static char seen_name[32][96];
static int nseen;

static void collect(const char *name, double value, bool integer)
{
    (void)integer;
    assert_true(nseen < 32);
    snprintf(seen_name[nseen], sizeof(seen_name[0]), "%s", name);
    seen[nseen++] = value;
}

static double metric(const char *name)
{
    int i;

    for (i = 0; i < nseen; i++)
        if (strcmp(seen_name[i], name) == 0)
            return seen[i];
    return -1;
}

static void test_metrics(void **state)
{
    (void)state;
    oa_metrics_reset();
    oa_metrics_instance(true, false, false, false, true);   /* cleaned */
    oa_metrics_instance(true, false, false, false, false);
    oa_metrics_instance(false, true, false, false, false);  /* dropped */
    oa_metrics_instance(false, false, true, false, false);  /* leak */
    oa_metrics_instance(false, false, true, true, false);   /* pixels */
    oa_metrics_instance(false, false, false, false, false); /* other */
    oa_metrics_add(OA_METRIC_JOBS_RUNNING, 1);
    oa_metrics_job_ended(1.25);
    oa_metrics_exported("zip", 1000, 3);
    oa_metrics_exported("zip", 24, 1);
    oa_metrics_exported("sftp", 7, 1);
    oa_metrics_exported("Bad Name!", 5, 1);
    nseen = 0;
    oa_metrics_foreach(collect);
    assert_true(metric("anonymizer_instances_anonymized_total") == 2);
    assert_true(metric("anonymizer_images_cleaned_total") == 1);
    assert_true(metric("anonymizer_instances_dropped_total") == 1);
    assert_true(metric("anonymizer_instances_failed_total") == 3);
    assert_true(metric("anonymizer_instances_refused_leak_total") == 1);
    assert_true(metric("anonymizer_instances_refused_pixels_total") == 1);
    assert_true(metric("anonymizer_jobs_running") == 1);
    assert_true(metric("anonymizer_last_job_duration_seconds") == 1.25);
    assert_true(metric("anonymizer_export_bytes_total_zip") == 1024);
    assert_true(metric("anonymizer_export_instances_total_zip") == 4);
    assert_true(metric("anonymizer_export_bytes_total_sftp") == 7);
    assert_true(metric("anonymizer_export_bytes_total_other") == 5);
    oa_metrics_reset();
    nseen = 0;
    oa_metrics_foreach(collect);
    assert_true(metric("anonymizer_instances_anonymized_total") == 0);
    assert_true(metric("anonymizer_export_bytes_total_zip") == -1);
}

/* ------------------------------------------------------------------ */
/* The configuration keys of issue 13                                   */

static oa_status parse(oa_config *c, const char *text, oa_error *err)
{
    cJSON *json = cJSON_Parse(text);
    oa_status rc;

    assert_non_null(json);
    oa_error_clear(err);
    rc = oa_config_parse(c, json, 2, err);
    cJSON_Delete(json);
    return rc;
}

static void test_config_keys(void **state)
{
    static const char *const bad[] = {
        "{\"Anonymizer\": {\"MaxParallelDownloads\": 0}}",
        "{\"Anonymizer\": {\"MaxParallelDownloads\": 65}}",
        "{\"Anonymizer\": {\"MaxParallelDownloads\": 1.5}}",
        "{\"Anonymizer\": {\"MaxParallelDownloads\": \"2\"}}",
        "{\"Anonymizer\": {\"StudyLabel\": \"has space\"}}",
        "{\"Anonymizer\": {\"StudyLabel\": 3}}",
        "{\"Anonymizer\": {\"SourceLabel\": \"a/b\"}}",
        /* 65 characters */
        ("{\"Anonymizer\": {\"SourceLabel\": \"x1234567890123456789012345678"
         "9012345678901234567890123456789012345\"}}"),
    };
    oa_config c;
    oa_error err;
    size_t i;

    (void)state;
    assert_int_equal(parse(&c, "{}", &err), OA_OK);
    assert_int_equal(c.max_downloads, 2);
    assert_string_equal(c.study_label, "anonymized");
    assert_string_equal(c.source_label, "");
    assert_false(c.store_properties);
    oa_config_dispose(&c);
    assert_int_equal(parse(&c, "{\"Anonymizer\": {\"MaxParallelDownloads\": "
                               "5, \"StudyLabel\": null, \"SourceLabel\": "
                               "\"anonymized-source\", \"Store\": "
                               "\"properties\"}}", &err), OA_OK);
    assert_int_equal(c.max_downloads, 5);
    assert_string_equal(c.study_label, "");
    assert_string_equal(c.source_label, "anonymized-source");
    assert_true(c.store_properties);
    oa_config_dispose(&c);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(&c, bad[i], &err), OA_EINVAL);
        assert_non_null(strstr(err.msg, "Anonymizer."));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migration_once),
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_migration_retried_after_failure),
        cmocka_unit_test(test_unavailable_stays_in_properties),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_config_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
