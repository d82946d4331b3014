/*
 * Fuzz target: bytes -> reader -> anonymizer engine -> writer -> leak
 * check, under each built-in profile and one that shifts dates and keeps
 * private tags.  Whatever the input:
 *   - nothing crashes, leaks memory or reads out of bounds (ASan/UBSan);
 *   - a failure is one of the documented statuses;
 *   - an anonymized output reads back, has the de-identification marker
 *     and holds none of the input's Patient ID (the leak check's promise).
 * Half the input's length modulo 4 chooses the profile, so that real files
 * of a corpus (of even length, as DICOM files are) reach every profile as
 * they are.
 */
#define _GNU_SOURCE

#include "anonymizer/anonymizer.h"
#include "dicom/dicom.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
            abort();                                                         \
        }                                                                    \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char full_shift[] =
    "{\"Base\": \"Full\", \"Dates\": \"shift\", \"PrivateTags\": \"keep\","
    " \"Descriptions\": \"clean\", \"StructuredContent\": \"clean\"}";

static const char *const profiles[] = {
    "{\"Base\": \"Default\"}",
    "{\"Base\": \"Full\"}",
    full_shift,
    "{\"Base\": \"Research\"}",
};

#define PROFILES (sizeof(profiles) / sizeof(profiles[0]))

static oa_anonymizer *engines[PROFILES];
static oa_profile *loaded[PROFILES];

static void setup(void)
{
    static const uint8_t secret[] = "fuzzing-secret-0123456789";
    oa_anonymizer_opts opts;
    size_t i;

    if (engines[0] != NULL)
        return;
    memset(&opts, 0, sizeof(opts));
    opts.secret = secret;
    opts.secret_len = sizeof(secret) - 1;
    opts.max_output = (size_t)64 << 20;
    for (i = 0; i < PROFILES; i++) {
        CHECK(oa_profile_parse(&loaded[i], NULL, profiles[i],
                               strlen(profiles[i]), NULL) == OA_OK);
        CHECK(oa_anonymizer_new(&engines[i], loaded[i], &opts, NULL) ==
              OA_OK);
    }
}

static bool alnum(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
           (c >= 'a' && c <= 'z');
}

/* A byte that continues an ID (the leak check's rule: ASCII letters,
 * digits and '_', as in "TOSHIBA_MEC"). */
static bool id_byte(uint8_t c)
{
    return alnum(c) || c == '_';
}

/* `word` in hay[0..n) as a whole word (the leak check's rule: "77654033"
 * is a leak in "ID 77654033", not in the number "1.0077654033"). */
static bool has_word(const uint8_t *hay, size_t n, const char *word)
{
    size_t len = strlen(word);
    const uint8_t *p = hay, *hit;

    while (len > 0 && (hit = memmem(p, n - (size_t)(p - hay), word, len))) {
        if ((hit == hay || !id_byte(hit[-1])) &&
            (hit + len == hay + n || !id_byte(hit[len])))
            return true;
        p = hit + 1;
    }
    return false;
}

/* An ID the check can look for without meeting legitimate kept values:
 * 8+ letters and digits with at least one letter (not a number, not a
 * prefix of a class UID like "1.2.840.10008.5", not one of our dummies). */
static bool id_like(const char *v)
{
    size_t i, n = strlen(v);
    bool letter = false;

    if (n < 8 || strncmp(v, "ANON", 4) == 0)
        return false;
    for (i = 0; i < n; i++) {
        if (!alnum((uint8_t)v[i]))
            return false;
        letter |= !(v[i] >= '0' && v[i] <= '9');
    }
    return letter;
}

/* Element by element (at every depth), outside pixel data: a match
 * across two values or an element's header is no leak. */
typedef struct finder {
    const char *word;
    bool found;
} finder;

static oa_status find_element(void *user, const oa_element *el,
                              oa_error *err)
{
    finder *f = user;

    (void)err;
    if (el->value != NULL && el->tag != OA_TAG(0x7FE0, 0x0010) &&
        has_word(el->value, el->length, f->word))
        f->found = true;
    return OA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oa_anon_identity id;
    oa_anon_result res;
    oa_error err;
    oa_status rc;
    unsigned which;

    setup();
    which = (unsigned)((size / 2) % PROFILES);
    memset(&id, 0, sizeof(id));
    if (which == 2) {
        id.new_patient_name = "FUZZ^NAME";
        id.new_patient_id = "FUZZ0001";
    }
    oa_error_clear(&err);
    rc = oa_anonymizer_run(engines[which], &id, data, size, &res, &err);
    if (rc != OA_OK) {
        CHECK(rc == OA_EPARSE || rc == OA_ELIMIT || rc == OA_ELEAK ||
              rc == OA_EUNSUPPORTED || rc == OA_ENOMEM);
        CHECK(res.data == NULL || rc == OA_EUNSUPPORTED);
        return 0;
    }
    if (res.dropped)
        return 0;
    CHECK(res.data != NULL && res.len >= 132);
    /* the output reads back */
    oa_error_clear(&err);
    CHECK(oa_dicom_parse(res.data, res.len, NULL, NULL, NULL, &err) ==
          OA_OK);
    /* the original Patient ID is in no value as a word (pixel data aside:
     * burned-in text is beyond a header anonymizer) */
    if (id_like(res.original.patient_id) &&
        !oa_anon_is_placeholder(res.original.patient_id) &&
        strcmp(res.original.patient_id, res.anonymized.patient_id) != 0) {
        oa_dicom_handler h;
        finder f = {res.original.patient_id, false};

        memset(&h, 0, sizeof(h));
        h.element = find_element;
        h.user = &f;
        CHECK(oa_dicom_parse(res.data, res.len, NULL, &h, NULL, NULL) ==
              OA_OK);
        CHECK(!f.found);
    }
    return 0;
}
