/*
 * Unit tests of the store: the same conformance checks run against every
 * implementation (memory, and global properties over a fake property
 * table that behaves like Orthanc's: numbered strings, "" when unset),
 * plus what only the property store does: its catalog survives a new
 * store object (a restart), a damaged catalog is refused, write failures
 * leave the store consistent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"

/* ------------------------------------------------------------------ */
/* A fake of Orthanc's global properties                               */

#define FAKE_MAX 4096
static struct {
    int32_t number[FAKE_MAX];
    char *value[FAKE_MAX];
    int count;
    int fail_set_after; /* 0: never; n: the n-th next set fails */
    int sets;
    size_t bytes;       /* written by every set so far */
} fake;

static void fake_reset(void)
{
    int i;

    for (i = 0; i < fake.count; i++)
        oa_free(fake.value[i]);
    memset(&fake, 0, sizeof(fake));
}

static oa_status fake_get(int32_t n, char **out, oa_error *err)
{
    int i;

    (void)err;
    *out = NULL;
    for (i = 0; i < fake.count; i++)
        if (fake.number[i] == n && fake.value[i][0] != '\0')
            *out = oa_strdup(fake.value[i]);
    return OA_OK;
}

static oa_status fake_set(int32_t n, const char *value, oa_error *err)
{
    int i;

    fake.sets++;
    fake.bytes += strlen(value);
    if (fake.fail_set_after > 0 && --fake.fail_set_after == 0)
        return oa_error_set(err, OA_EIO, "fake: write refused");
    for (i = 0; i < fake.count; i++) {
        if (fake.number[i] == n) {
            oa_free(fake.value[i]);
            fake.value[i] = oa_strdup(value);
            return OA_OK;
        }
    }
    assert_true(fake.count < FAKE_MAX);
    fake.number[fake.count] = n;
    fake.value[fake.count++] = oa_strdup(value);
    return OA_OK;
}

#define FIRST 100000

static oa_store *new_props(void)
{
    oa_store *s = NULL;
    oa_error err;

    assert_int_equal(oa_store_props_new(&s, fake_get, fake_set, FIRST, &err),
                     OA_OK);
    return s;
}

static oa_store *new_memory(void)
{
    oa_store *s = NULL;
    oa_error err;

    assert_int_equal(oa_store_memory_new(&s, &err), OA_OK);
    return s;
}

/* ------------------------------------------------------------------ */
/* Conformance: every implementation                                    */

static void conformance(oa_store *s)
{
    oa_error err;
    char *v = NULL, **keys = NULL;
    size_t n = 0;

    /* empty */
    assert_int_equal(oa_store_get(s, "profiles", "a", &v, &err),
                     OA_ENOTFOUND);
    assert_null(v);
    assert_int_equal(oa_store_list(s, "profiles", &keys, &n, &err), OA_OK);
    assert_int_equal(n, 0);
    oa_store_free_keys(keys, n);
    assert_int_equal(oa_store_remove(s, "profiles", "a", &err), OA_ENOTFOUND);

    /* put, get, replace */
    assert_int_equal(oa_store_put(s, "profiles", "b", "{\"x\":1}", &err),
                     OA_OK);
    assert_int_equal(oa_store_put(s, "profiles", "a", "one", &err), OA_OK);
    assert_int_equal(oa_store_put(s, "reports", "a", "other ns", &err),
                     OA_OK);
    assert_int_equal(oa_store_get(s, "profiles", "a", &v, &err), OA_OK);
    assert_string_equal(v, "one");
    oa_free(v);
    assert_int_equal(oa_store_put(s, "profiles", "a", "two", &err), OA_OK);
    assert_int_equal(oa_store_get(s, "profiles", "a", &v, &err), OA_OK);
    assert_string_equal(v, "two");
    oa_free(v);
    assert_int_equal(oa_store_get(s, "reports", "a", &v, &err), OA_OK);
    assert_string_equal(v, "other ns");
    oa_free(v);

    /* list is sorted and per namespace */
    assert_int_equal(oa_store_list(s, "profiles", &keys, &n, &err), OA_OK);
    assert_int_equal(n, 2);
    assert_string_equal(keys[0], "a");
    assert_string_equal(keys[1], "b");
    oa_store_free_keys(keys, n);

    /* put_if_absent: first writer wins */
    assert_int_equal(oa_store_put_if_absent(s, "settings", "secret", "first",
                                            &v, &err),
                     OA_OK);
    assert_string_equal(v, "first");
    oa_free(v);
    assert_int_equal(oa_store_put_if_absent(s, "settings", "secret",
                                            "second", &v, &err),
                     OA_OK);
    assert_string_equal(v, "first");
    oa_free(v);

    /* remove */
    assert_int_equal(oa_store_remove(s, "profiles", "a", &err), OA_OK);
    assert_int_equal(oa_store_get(s, "profiles", "a", &v, &err),
                     OA_ENOTFOUND);
    assert_int_equal(oa_store_list(s, "profiles", &keys, &n, &err), OA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0], "b");
    oa_store_free_keys(keys, n);
    /* and put again after removal */
    assert_int_equal(oa_store_put(s, "profiles", "a", "three", &err), OA_OK);
    assert_int_equal(oa_store_get(s, "profiles", "a", &v, &err), OA_OK);
    assert_string_equal(v, "three");
    oa_free(v);

    /* bad keys and values */
    assert_int_equal(oa_store_put(s, "profiles", "../x", "v", &err),
                     OA_EINVAL);
    assert_int_equal(oa_store_put(s, "profiles", "", "v", &err), OA_EINVAL);
    assert_int_equal(oa_store_put(s, "profiles", ".hidden", "v", &err),
                     OA_EINVAL);
    assert_int_equal(oa_store_put(s, "bad ns", "k", "v", &err), OA_EINVAL);
    assert_int_equal(oa_store_put(s, "profiles", "k", NULL, &err), OA_EINVAL);
    assert_int_equal(oa_store_get(s, "profiles", "a/b", &v, &err),
                     OA_EINVAL);
}

static void test_memory_conformance(void **state)
{
    oa_store *s = new_memory();

    (void)state;
    assert_string_equal(oa_store_kind(s), "memory");
    conformance(s);
    oa_store_free(s);
}

static void test_props_conformance(void **state)
{
    oa_store *s;

    (void)state;
    fake_reset();
    s = new_props();
    assert_string_equal(oa_store_kind(s), "props");
    conformance(s);
    oa_store_free(s);
    fake_reset();
}

/* ------------------------------------------------------------------ */
/* Property store specifics                                             */

static void test_props_survive_restart(void **state)
{
    oa_store *s;
    oa_error err;
    char *v, **keys;
    size_t n;
    int i;

    (void)state;
    fake_reset();
    s = new_props();
    assert_int_equal(oa_store_put(s, "profiles", "ct", "{}", &err), OA_OK);
    assert_int_equal(oa_store_put(s, "reports", "r1", "report", &err), OA_OK);
    oa_store_free(s);

    /* Numbers used: the catalog and one per value, all >= FIRST. */
    for (i = 0; i < fake.count; i++)
        assert_true(fake.number[i] >= FIRST);

    s = new_props();   /* a new process: reads the catalog again */
    assert_int_equal(oa_store_get(s, "reports", "r1", &v, &err), OA_OK);
    assert_string_equal(v, "report");
    oa_free(v);
    assert_int_equal(oa_store_list(s, "profiles", &keys, &n, &err), OA_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0], "ct");
    oa_store_free_keys(keys, n);
    /* a new key does not reuse a number in use */
    assert_int_equal(oa_store_put(s, "profiles", "mr", "{\"a\":1}", &err),
                     OA_OK);
    assert_int_equal(oa_store_get(s, "profiles", "ct", &v, &err), OA_OK);
    assert_string_equal(v, "{}");
    oa_free(v);
    oa_store_free(s);
    fake_reset();
}

static void test_props_damaged_catalog(void **state)
{
    oa_store *s;
    oa_error err;
    char *v = NULL;

    (void)state;
    fake_reset();
    fake_set(FIRST, "{not json", NULL);
    s = new_props();
    oa_error_clear(&err);
    assert_int_equal(oa_store_get(s, "profiles", "a", &v, &err), OA_EPARSE);
    assert_non_null(strstr(err.msg, "damaged"));
    oa_store_free(s);

    fake_reset();
    fake_set(FIRST, "{\"Next\": 5, \"Namespaces\": {}}", NULL); /* < FIRST */
    s = new_props();
    assert_int_equal(oa_store_put(s, "profiles", "a", "x", &err), OA_EPARSE);
    oa_store_free(s);
    fake_reset();
}

static void test_props_write_failure(void **state)
{
    oa_store *s;
    oa_error err;
    char *v = NULL;

    (void)state;
    fake_reset();
    s = new_props();
    assert_int_equal(oa_store_put(s, "profiles", "a", "kept", &err), OA_OK);
    /* The value is written, the catalog write fails: the key must not
     * appear, and the store must keep working. */
    fake.fail_set_after = 2;
    assert_int_equal(oa_store_put(s, "profiles", "b", "lost", &err), OA_EIO);
    assert_int_equal(oa_store_get(s, "profiles", "b", &v, &err),
                     OA_ENOTFOUND);
    assert_int_equal(oa_store_get(s, "profiles", "a", &v, &err), OA_OK);
    assert_string_equal(v, "kept");
    oa_free(v);
    /* The first write (the value) fails: nothing changes. */
    fake.fail_set_after = 1;
    assert_int_equal(oa_store_put(s, "profiles", "c", "x", &err), OA_EIO);
    assert_int_equal(oa_store_get(s, "profiles", "c", &v, &err),
                     OA_ENOTFOUND);
    oa_store_free(s);
    fake_reset();
}

/* Issue 12, defect 11: a new entry costs the same writes whatever the
 * number of entries (the catalog of version 1 was rewritten whole). */
static void test_props_add_is_constant(void **state)
{
    oa_store *s;
    oa_error err;
    char key[32], *v;
    size_t before, first_cost = 0, cost, max_cost = 0, n;
    int i, sets;
    char **keys;
    int64_t *times;

    (void)state;
    fake_reset();
    s = new_props();
    for (i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "report-%05d", i);
        before = fake.bytes;
        sets = fake.sets;
        assert_int_equal(oa_store_put(s, "reports", key, "{\"r\":1}", &err),
                         OA_OK);
        cost = fake.bytes - before;
        /* the value, the last page; every 64th also a new page */
        assert_true(i == 0 || fake.sets - sets <= 3);
        if (i == 10)
            first_cost = cost;
        if (i >= 10 && cost > max_cost)
            max_cost = cost;
    }
    /* a page holds at most 64 lines: bounded, not growing with 2000 */
    assert_true(max_cost < 2 * 64 * 64);
    assert_true(max_cost < 3 * first_cost + 4096);
    /* removals are journaled, and survive a restart */
    for (i = 0; i < 1900; i++) {
        snprintf(key, sizeof(key), "report-%05d", i);
        assert_int_equal(oa_store_remove(s, "reports", key, &err), OA_OK);
    }
    oa_store_free(s);
    s = new_props();   /* replays, then compacts (mostly removed) */
    before = fake.bytes;
    assert_int_equal(oa_store_list_times(s, "reports", &keys, &times, &n,
                                         &err),
                     OA_OK);
    assert_int_equal(n, 100);
    assert_string_equal(keys[0], "report-01900");
    assert_true(times[0] > 1700000000LL * 1000000 &&
                times[0] <= (int64_t)time(NULL) * 1000000 + 1000000);
    oa_store_free_keys(keys, n);
    oa_free(times);
    assert_true(fake.bytes > before);   /* the compact chain */
    oa_store_free(s);
    s = new_props();   /* the compact chain reads back the same */
    assert_int_equal(oa_store_list(s, "reports", &keys, &n, &err), OA_OK);
    assert_int_equal(n, 100);
    oa_store_free_keys(keys, n);
    assert_int_equal(oa_store_get(s, "reports", "report-01999", &v, &err),
                     OA_OK);
    assert_string_equal(v, "{\"r\":1}");
    oa_free(v);
    assert_int_equal(oa_store_get(s, "reports", "report-00001", &v, &err),
                     OA_ENOTFOUND);
    oa_store_free(s);
    fake_reset();
}

/* A catalog of version 1 is migrated on first use, values kept. */
static void test_props_migrates_v1(void **state)
{
    oa_store *s;
    oa_error err;
    char *v, **keys;
    size_t n;

    (void)state;
    fake_reset();
    fake_set(FIRST, "{\"Next\": 100003, \"Namespaces\": {\"profiles\": "
             "{\"ct\": 100001}, \"reports\": {\"r1\": 100002}}}", NULL);
    fake_set(FIRST + 1, "{\"profile\":1}", NULL);
    fake_set(FIRST + 2, "report one", NULL);
    s = new_props();
    assert_int_equal(oa_store_get(s, "reports", "r1", &v, &err), OA_OK);
    assert_string_equal(v, "report one");
    oa_free(v);
    assert_int_equal(oa_store_put(s, "reports", "r2", "two", &err), OA_OK);
    oa_store_free(s);
    fake_get(FIRST, &v, NULL);
    assert_non_null(strstr(v, "\"Version\":2"));
    oa_free(v);
    s = new_props();
    assert_int_equal(oa_store_list(s, "reports", &keys, &n, &err), OA_OK);
    assert_int_equal(n, 2);
    oa_store_free_keys(keys, n);
    assert_int_equal(oa_store_get(s, "profiles", "ct", &v, &err), OA_OK);
    assert_string_equal(v, "{\"profile\":1}");
    oa_free(v);
    oa_store_free(s);
    fake_reset();
}

static void test_memory_list_times(void **state)
{
    oa_store *s = new_memory();
    oa_error err;
    char **keys, key[16];
    int64_t *times;
    size_t n;
    int i;

    (void)state;
    for (i = 0; i < 5000; i++) {   /* a hash table: no quadratic cost */
        snprintf(key, sizeof(key), "k%04d", i);
        assert_int_equal(oa_store_put(s, "jobs", key, "v", &err), OA_OK);
    }
    assert_int_equal(oa_store_list_times(s, "jobs", &keys, &times, &n, &err),
                     OA_OK);
    assert_int_equal(n, 5000);
    assert_string_equal(keys[0], "k0000");
    assert_string_equal(keys[4999], "k4999");
    assert_true(times[4999] > times[0] && times[0] > 1700000000LL * 1000000);
    oa_store_free_keys(keys, n);
    oa_free(times);
    oa_store_free(s);
}

static void test_props_bad_arguments(void **state)
{
    oa_store *s = NULL;
    oa_error err;

    (void)state;
    assert_int_equal(oa_store_props_new(&s, NULL, fake_set, FIRST, &err),
                     OA_EINVAL);
    assert_int_equal(oa_store_props_new(&s, fake_get, fake_set, 0, &err),
                     OA_EINVAL);
    assert_null(s);
}

/* Threads hammering one store: nothing lost. */
typedef struct {
    oa_store *s;
    int id;
} worker_arg;

static void *hammer(void *p)
{
    worker_arg *a = p;
    char key[32], value[32];
    int i;

    for (i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "k%d-%d", a->id, i);
        snprintf(value, sizeof(value), "v%d", i);
        if (oa_store_put(a->s, "reports", key, value, NULL) != OA_OK)
            return (void *)1;
    }
    return NULL;
}

static void test_memory_threads(void **state)
{
    oa_store *s = new_memory();
    pthread_t t[4];
    worker_arg a[4];
    char **keys;
    size_t n;
    int i;
    void *rv;

    (void)state;
    for (i = 0; i < 4; i++) {
        a[i].s = s;
        a[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    assert_int_equal(oa_store_list(s, "reports", &keys, &n, NULL), OA_OK);
    assert_int_equal(n, 800);
    oa_store_free_keys(keys, n);
    oa_store_free(s);
}

static void test_key_validity(void **state)
{
    char long_key[OA_STORE_MAX_KEY + 2];

    (void)state;
    assert_true(oa_store_key_is_valid("ct-research_v2.1"));
    assert_false(oa_store_key_is_valid(NULL));
    assert_false(oa_store_key_is_valid(""));
    assert_false(oa_store_key_is_valid("a b"));
    assert_false(oa_store_key_is_valid("a/b"));
    assert_false(oa_store_key_is_valid("é"));
    memset(long_key, 'a', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_false(oa_store_key_is_valid(long_key));
    long_key[OA_STORE_MAX_KEY] = '\0';
    assert_true(oa_store_key_is_valid(long_key));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_conformance),
        cmocka_unit_test(test_props_conformance),
        cmocka_unit_test(test_props_survive_restart),
        cmocka_unit_test(test_props_damaged_catalog),
        cmocka_unit_test(test_props_write_failure),
        cmocka_unit_test(test_props_add_is_constant),
        cmocka_unit_test(test_props_migrates_v1),
        cmocka_unit_test(test_memory_list_times),
        cmocka_unit_test(test_props_bad_arguments),
        cmocka_unit_test(test_memory_threads),
        cmocka_unit_test(test_key_validity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
