/*
 * Unit tests of pixels/ocr: grayscale views of every layout, Tesseract's
 * words on images with text drawn by python3-pil (UnitTests/ocr/
 * make_images.py) and on the real Mindray ultrasound of the corpus
 * (decoded by pydicom, UnitTests/ocr/dicom_to_pgm.py), matching against
 * identifying values (names, IDs, dates in their spellings, free text),
 * the strict whitelist, the frames picked in a cine, missing language
 * data, and the ceilings.
 *
 * Exit status 77 (ctest's skip code, UnitTests/ocr/ocr.cmake) when
 * python3-pil is missing: the images cannot be drawn.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pixels/pixels.h"

#ifndef OA_SOURCE_DIR
#error "OA_SOURCE_DIR must name the repository root"
#endif
#ifndef OA_BINARY_DIR
#error "OA_BINARY_DIR must name the build folder"
#endif

#define DATA OA_BINARY_DIR "/ocr-data"
/* Two real images of the test corpus (outside the repository: found from
 * $OA_CORPUS, else ../shared/corpus beside the clone; their tests are
 * skipped without it). */
#define DOE_FILE "dcm4che/YBR_FULL-RLE.dcm"
#define US_FILE "orthanc-tests/2023-04-21-RLEPlanarConfigurationYBR_FULL.dcm"

static oa_ocr *engine;
static bool have_corpus;

#define REQUIRE_CORPUS()                                                   \
    do {                                                                   \
        if (!have_corpus) {                                                \
            print_message("skipped: corpus not found (set OA_CORPUS)\n");  \
            skip();                                                        \
        }                                                                  \
    } while (0)

/* ------------------------------------------------------------------ */
/* Files                                                                */

typedef struct image {
    unsigned w, h;
    uint8_t *px;
} image;

static image read_pgm(const char *path)
{
    image im = {0, 0, NULL};
    unsigned maxv;
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        fail_msg("cannot open %s", path);
    if (fscanf(f, "P5 %u %u %u", &im.w, &im.h, &maxv) != 3 || maxv != 255 ||
        fgetc(f) == EOF)
        fail_msg("%s: not an 8-bit PGM", path);
    im.px = malloc((size_t)im.w * im.h);
    assert_non_null(im.px);
    assert_int_equal(fread(im.px, 1, (size_t)im.w * im.h, f),
                     (size_t)im.w * im.h);
    fclose(f);
    return im;
}

typedef struct drawn {
    char word[64];
    oa_pixels_rect box;
} drawn;

/* The boxes make_images.py drew its words in (NAME.boxes). */
static size_t read_boxes(const char *path, drawn *out, size_t max)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    while (n < max && fscanf(f, "%63s %u %u %u %u", out[n].word,
                             &out[n].box.x, &out[n].box.y, &out[n].box.w,
                             &out[n].box.h) == 5)
        n++;
    fclose(f);
    return n;
}

static bool covers(oa_pixels_rect outer, oa_pixels_rect in)
{
    /* 1 px of slack: PIL's box includes its anti-aliasing fringe. */
    return outer.x <= in.x + 1 && outer.y <= in.y + 1 &&
           outer.x + outer.w + 1 >= in.x + in.w &&
           outer.y + outer.h + 1 >= in.y + in.h;
}

static bool overlaps(oa_pixels_rect a, oa_pixels_rect b)
{
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h &&
           b.y < a.y + a.h;
}

static void print_words(const char *what, const oa_ocr_word *w, size_t n)
{
    fprintf(stderr, "%s: %zu words\n", what, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  '%s' %u,%u %ux%u conf %.0f line %u\n", w[i].text,
                w[i].box.x, w[i].box.y, w[i].box.w, w[i].box.h,
                (double)w[i].confidence, w[i].line);
}

static oa_ocr_word *ocr(const image *im, size_t *n)
{
    oa_ocr_word *words = NULL;
    oa_error err;

    oa_error_clear(&err);
    if (oa_ocr_words(engine, im->px, im->w, im->h, im->w, &words, n,
                     &err) != OA_OK)
        fail_msg("OCR: %s", err.msg);
    return words;
}

/* Whether a and b have the same letters and digits (OCR may lose a
 * comma between two words). */
static bool same_letters(const char *a, const char *b)
{
    for (;;) {
        while (*a && !isalnum((unsigned char)*a))
            a++;
        while (*b && !isalnum((unsigned char)*b))
            b++;
        if (*a != *b)
            return false;
        if (*a == '\0')
            return true;
        a++;
        b++;
    }
}

/* Whether the rectangles of r that meet `box` cover it together (words
 * of one line: their bounding box). */
static bool union_covers(const oa_pixels_rect *r, size_t n, oa_pixels_rect box)
{
    bool any = false;
    unsigned x0 = 0, y0 = 0, x1 = 0, y1 = 0;

    for (size_t k = 0; k < n; k++) {
        if (!overlaps(r[k], box))
            continue;
        if (!any || r[k].x < x0)
            x0 = r[k].x;
        if (!any || r[k].y < y0)
            y0 = r[k].y;
        if (!any || r[k].x + r[k].w > x1)
            x1 = r[k].x + r[k].w;
        if (!any || r[k].y + r[k].h > y1)
            y1 = r[k].y + r[k].h;
        any = true;
    }
    return any && covers((oa_pixels_rect){x0, y0, x1 - x0, y1 - y0}, box);
}

/*
 * Whether `text` was read over `box`: by one word, or by consecutive words
 * of one line (Tesseract splits "Test,Belle" after the comma) whose texts
 * joined are `text` and whose boxes together cover `box`.
 */
static bool read_over(const oa_ocr_word *w, size_t n, const char *text,
                      oa_pixels_rect box)
{
    for (size_t i = 0; i < n; i++) {
        char joined[256] = "";
        oa_pixels_rect u = w[i].box;
        for (size_t j = i; j < n && j < i + 4 && w[j].line == w[i].line;
             j++) {
            strncat(joined, w[j].text, sizeof joined - strlen(joined) - 1);
            unsigned x1 = u.x + u.w, y1 = u.y + u.h;
            unsigned bx1 = w[j].box.x + w[j].box.w;
            unsigned by1 = w[j].box.y + w[j].box.h;
            u.x = u.x < w[j].box.x ? u.x : w[j].box.x;
            u.y = u.y < w[j].box.y ? u.y : w[j].box.y;
            u.w = (x1 > bx1 ? x1 : bx1) - u.x;
            u.h = (y1 > by1 ? y1 : by1) - u.y;
            if (same_letters(joined, text))
                return covers(u, box);
        }
    }
    return false;
}

/* The word read as `text` (exactly) whose box covers `box`, or NULL. */
static const oa_ocr_word *find_word(const oa_ocr_word *w, size_t n,
                                    const char *text, oa_pixels_rect box)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(w[i].text, text) == 0 && covers(w[i].box, box))
            return &w[i];
    return NULL;
}

static const drawn *drawn_word(const drawn *d, size_t n, const char *word)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(d[i].word, word) == 0)
            return &d[i];
    fail_msg("no drawn word %s", word);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Engine                                                               */

static void test_missing_language_data_is_unsupported(void **state)
{
    char dir[] = "/tmp/oa_ocr_XXXXXX";
    char path[256];
    oa_ocr *o = (oa_ocr *)&dir;   /* must be reset to NULL */
    oa_error err;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    oa_error_clear(&err);
    assert_int_equal(oa_ocr_new(&o, dir, &err), OA_EUNSUPPORTED);
    assert_null(o);
    assert_non_null(strstr(err.msg, "eng.traineddata"));
    assert_non_null(strstr(err.msg, dir));

    /* Language data that is not Tesseract's: refused, not a crash. */
    snprintf(path, sizeof path, "%s/eng.traineddata", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("not a traineddata file\n", f);
    fclose(f);
    oa_error_clear(&err);
    assert_int_equal(oa_ocr_new(&o, dir, &err), OA_EUNSUPPORTED);
    assert_null(o);
    assert_non_null(strstr(err.msg, "could not load"));
    unlink(path);
    rmdir(dir);
}

static void test_available_and_version(void **state)
{
    (void)state;
    assert_true(oa_ocr_available());
    assert_true(oa_ocr_available());   /* remembered */
    assert_true(oa_ocr_version()[0] >= '4');
}

static void test_limits(void **state)
{
    uint8_t tiny[16] = {0};
    oa_ocr_word *w = (oa_ocr_word *)tiny;
    size_t n = 99;
    oa_error err;

    (void)state;
    /* Too small to hold text: no words, no failure. */
    assert_int_equal(oa_ocr_words(engine, tiny, 4, 4, 4, &w, &n, NULL),
                     OA_OK);
    assert_null(w);
    assert_int_equal(n, 0);
    oa_error_clear(&err);
    assert_int_equal(oa_ocr_words(engine, tiny, OA_OCR_SIDE_MAX + 1, 1,
                                  OA_OCR_SIDE_MAX + 1, &w, &n, &err),
                     OA_ELIMIT);
    assert_int_equal(oa_ocr_words(engine, tiny, 4, 4, 3, &w, &n, NULL),
                     OA_EINVAL);
    assert_int_equal(oa_ocr_words(NULL, tiny, 4, 4, 4, &w, &n, NULL),
                     OA_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Words on drawn images                                                */

/* The identifying words of make_images.py, all read with their boxes. */
static void check_words_found(const char *name)
{
    char path[512];
    drawn d[64];
    size_t nd, n;
    static const char *const expected[] = {"Test,Belle", "CL-285BT-1811492",
                                           "01/01/1988"};

    snprintf(path, sizeof path, DATA "/%s.pgm", name);
    image im = read_pgm(path);
    snprintf(path, sizeof path, DATA "/%s.boxes", name);
    nd = read_boxes(path, d, 64);
    oa_ocr_word *w = ocr(&im, &n);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const drawn *dw = drawn_word(d, nd, expected[i]);
        if (!read_over(w, n, expected[i], dw->box)) {
            print_words(name, w, n);
            fail_msg("%s: '%s' drawn at %u,%u %ux%u not read", name,
                     expected[i], dw->box.x, dw->box.y, dw->box.w,
                     dw->box.h);
        }
    }
    oa_ocr_words_free(w);
    free(im.px);
}

static void test_light_text_on_dark(void **state)
{
    (void)state;
    check_words_found("light");
}

static void test_dark_text_on_light(void **state)
{
    (void)state;
    check_words_found("dark");
}

static void test_small_text_upscaled(void **state)
{
    (void)state;
    check_words_found("small");
}

static const char *const NAMES[] = {"Test^Belle"};
static const char *const IDS[] = {"CL-285BT-1811492"};
static const char *const DATES[] = {"19880101"};
static const char *const TEXTS[] = {"St Mary Clinic"};

/*
 * Matching the words read on light.pgm gives exactly the identifying
 * boxes; blanking them leaves nothing identifying to read (the proof
 * step of issue 10).
 */
static void test_match_blanks_exactly_the_identifying_words(void **state)
{
    oa_ocr_needles nd = {NAMES, 1, IDS, 1, DATES, 1, TEXTS, 1};
    static const char *const identifying[] = {
        "Test,Belle", "CL-285BT-1811492", "01/01/1988", "Mary", "Clinic"};
    drawn d[64];
    size_t ndr, n, nr, i, k;
    oa_pixels_rect *r;

    (void)state;
    image im = read_pgm(DATA "/light.pgm");
    ndr = read_boxes(DATA "/light.boxes", d, 64);
    oa_ocr_word *w = ocr(&im, &n);
    assert_int_equal(oa_ocr_match(w, n, &nd, false, &r, &nr, NULL), OA_OK);
    for (i = 0; i < ndr; i++) {
        bool ident = false, covered = false, touched = false;
        for (k = 0; k < sizeof identifying / sizeof identifying[0]; k++)
            ident |= strcmp(d[i].word, identifying[k]) == 0;
        covered = union_covers(r, nr, d[i].box);
        for (k = 0; k < nr; k++)
            touched |= overlaps(r[k], d[i].box);
        if (ident && !covered) {
            print_words("light", w, n);
            fail_msg("identifying '%s' not blanked", d[i].word);
        }
        if (!ident && touched) {
            print_words("light", w, n);
            for (k = 0; k < nr; k++)
                fprintf(stderr, "  rect %u,%u %ux%u\n", r[k].x, r[k].y,
                        r[k].w, r[k].h);
            fprintf(stderr, "  drawn %u,%u %ux%u\n", d[i].box.x, d[i].box.y,
                    d[i].box.w, d[i].box.h);
            fail_msg("'%s' blanked but not identifying", d[i].word);
        }
    }
    /* Every box blanked is one of those words. */
    for (k = 0; k < nr; k++) {
        bool known = false;
        for (i = 0; i < ndr; i++)
            known |= overlaps(r[k], d[i].box);
        assert_true(known);
    }
    assert_true(nr >= 5 && nr <= 7);   /* "Test," and "Belle" may be two */

    /* Blank and read again: nothing identifying is left. */
    for (k = 0; k < nr; k++)
        for (unsigned y = r[k].y; y < r[k].y + r[k].h; y++)
            memset(im.px + (size_t)y * im.w + r[k].x, 0, r[k].w);
    oa_ocr_words_free(w);
    oa_free(r);
    w = ocr(&im, &n);
    assert_int_equal(oa_ocr_match(w, n, &nd, false, &r, &nr, NULL), OA_OK);
    if (nr != 0)
        print_words("light, blanked", w, n);
    assert_int_equal(nr, 0);
    assert_null(r);
    /* ... and the clinical words are still read. */
    const drawn *f = drawn_word(d, ndr, "GYN");
    assert_non_null(find_word(w, n, "GYN", f->box));
    oa_ocr_words_free(w);
    free(im.px);
}

/* Strict mode blanks every word but the whitelisted clinical terms. */
static void test_strict_blanks_all_but_the_whitelist(void **state)
{
    oa_ocr_needles none = {0};
    static const char *const kept[] = {"GYN", "F", "8.5M", "DR", "150",
                                       "Rt", "Follicle1", "L", "0.76", "cm"};
    drawn d[64];
    size_t ndr, n, nr, i, k;
    oa_pixels_rect *r;

    (void)state;
    image im = read_pgm(DATA "/light.pgm");
    ndr = read_boxes(DATA "/light.boxes", d, 64);
    oa_ocr_word *w = ocr(&im, &n);
    assert_int_equal(oa_ocr_match(w, n, &none, true, &r, &nr, NULL), OA_OK);
    for (i = 0; i < ndr; i++) {
        bool keep = false, covered = false, touched = false;
        for (k = 0; k < sizeof kept / sizeof kept[0]; k++)
            keep |= strcmp(d[i].word, kept[k]) == 0;
        covered = union_covers(r, nr, d[i].box);
        for (k = 0; k < nr; k++)
            touched |= overlaps(r[k], d[i].box);
        if (!keep && !covered) {
            print_words("light", w, n);
            fail_msg("strict: '%s' not blanked", d[i].word);
        }
        if (keep && touched) {
            print_words("light", w, n);
            fail_msg("strict: clinical '%s' blanked", d[i].word);
        }
    }
    oa_ocr_words_free(w);
    oa_free(r);
    free(im.px);
}

/* One engine a thread, two threads at once: the same words as alone. */
typedef struct thread_job {
    const image *im;
    size_t words, rects;
    oa_status st;
} thread_job;

static void *read_in_thread(void *arg)
{
    thread_job *j = arg;
    oa_ocr_needles nd = {NAMES, 1, IDS, 1, DATES, 1, TEXTS, 1};
    oa_ocr *o = NULL;
    oa_ocr_word *w = NULL;
    oa_pixels_rect *r = NULL;

    j->st = oa_ocr_new(&o, NULL, NULL);
    if (j->st == OA_OK)
        j->st = oa_ocr_words(o, j->im->px, j->im->w, j->im->h, j->im->w, &w,
                             &j->words, NULL);
    if (j->st == OA_OK)
        j->st = oa_ocr_match(w, j->words, &nd, false, &r, &j->rects, NULL);
    oa_free(r);
    oa_ocr_words_free(w);
    oa_ocr_free(o);
    return NULL;
}

static void test_one_engine_a_thread(void **state)
{
    oa_ocr_needles nd = {NAMES, 1, IDS, 1, DATES, 1, TEXTS, 1};
    pthread_t t[2];
    thread_job j[2];
    size_t n, nr;
    oa_pixels_rect *r;

    (void)state;
    image im = read_pgm(DATA "/light.pgm");
    oa_ocr_word *w = ocr(&im, &n);
    assert_int_equal(oa_ocr_match(w, n, &nd, false, &r, &nr, NULL), OA_OK);
    for (int i = 0; i < 2; i++) {
        j[i] = (thread_job){&im, 0, 0, OA_OK};
        assert_int_equal(pthread_create(&t[i], NULL, read_in_thread, &j[i]),
                         0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(j[i].st, OA_OK);
        assert_int_equal(j[i].words, n);
        assert_int_equal(j[i].rects, nr);
    }
    oa_free(r);
    oa_ocr_words_free(w);
    free(im.px);
}

/* ------------------------------------------------------------------ */
/* The real ultrasound                                                  */

static void test_real_ultrasound(void **state)
{
    char desc[128];
    unsigned w, h, spp, bits, planar;
    oa_ocr_needles nd = {NAMES, 1, IDS, 1, DATES, 1, NULL, 0};
    size_t n, nr, size;
    oa_pixels_rect *r;
    FILE *f;

    (void)state;
    REQUIRE_CORPUS();
    f = fopen(DATA "/us.txt", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%u %u %u %u %u %127s", &w, &h, &spp, &bits,
                            &planar, desc), 6);
    fclose(f);
    assert_string_equal(desc, "YBR_FULL");
    assert_int_equal(planar, 1);
    /* Our grayscale view of the decoded planar YBR frame is pydicom's Y. */
    f = fopen(DATA "/us.raw", "rb");
    assert_non_null(f);
    size = (size_t)w * h * 3;
    uint8_t *raw = malloc(size);
    assert_non_null(raw);
    assert_int_equal(fread(raw, 1, size, f), size);
    fclose(f);
    image ref = read_pgm(DATA "/us.pgm");
    image im = {w, h, malloc((size_t)w * h)};
    oa_pixels_layout fr;
    memset(&fr, 0, sizeof fr);
    fr.rows = h;
    fr.columns = w;
    fr.frames = 1;
    fr.samples = 3;
    fr.bits_allocated = fr.bits_stored = 8;
    fr.high_bit = 7;
    fr.planar = true;
    fr.photometric = OA_PIXELS_YBR_FULL;
    assert_int_equal(oa_pixels_gray8(&fr, raw, size, 0, im.px, NULL), OA_OK);
    assert_memory_equal(im.px, ref.px, (size_t)w * h);

    /* A deadline too short: no partial words, a clear limit. */
    oa_ocr_word *words = (oa_ocr_word *)&n;
    oa_error err;
    oa_error_clear(&err);
    oa_ocr_set_deadline(engine, 1);
    assert_int_equal(oa_ocr_words(engine, im.px, w, h, w, &words, &n, &err),
                     OA_ELIMIT);
    oa_ocr_set_deadline(engine, 0);
    assert_null(words);
    assert_non_null(strstr(err.msg, "took more than 1 ms"));

    words = ocr(&im, &n);
    static const char *const expected[] = {"Test,Belle", "CL-285BT-1811492",
                                           "01/01/1988"};
    for (size_t i = 0; i < 3; i++) {
        oa_pixels_rect all = {0, 0, w, h};
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found |= strcmp(words[k].text, expected[i]) == 0;
        if (!found)   /* in several words, anywhere */
            for (size_t k = 0; k < n && !found; k++) {
                oa_pixels_rect b = words[k].box;
                found = read_over(words + k, n - k, expected[i],
                                  (oa_pixels_rect){b.x + 1, b.y + 1, 0, 0}) &&
                        overlaps(all, b);
            }
        if (!found) {
            print_words("ultrasound", words, n);
            fail_msg("ultrasound: '%s' not read", expected[i]);
        }
    }
    /* The three identifying words and nothing else (the name, the ID and
     * the birth date are one word each on this screen). */
    assert_int_equal(oa_ocr_match(words, n, &nd, false, &r, &nr, NULL),
                     OA_OK);
    if (nr != 3)
        print_words("ultrasound", words, n);
    assert_int_equal(nr, 3);
    for (size_t k = 0; k < nr; k++)
        assert_true(r[k].y < 80);   /* the header lines of the screen */
    oa_free(r);
    oa_ocr_words_free(words);
    free(raw);
    free(ref.px);
    free(im.px);
}

/*
 * dcm4che's YBR_FULL-RLE ultrasound: "DOE, JOHN" set right above "MON
 * GENERAL HOSPITAL SURGICAL CARE" (lines that touch: sparse text merges
 * them and loses JOHN; the layout pass reads it), and "DOE" again in the
 * image.  The header's Patient's Name is DOE^JOHN.
 */
static void test_ultrasound_close_lines(void **state)
{
    char desc[128];
    unsigned w, h, spp, bits, planar;
    static const char *const names[] = {"DOE^JOHN^^^"};
    oa_ocr_needles nd = {names, 1, NULL, 0, NULL, 0, NULL, 0};
    size_t n, nr;
    oa_pixels_rect *r;

    (void)state;
    REQUIRE_CORPUS();
    FILE *f = fopen(DATA "/doe.txt", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%u %u %u %u %u %127s", &w, &h, &spp, &bits,
                            &planar, desc), 6);
    fclose(f);
    image im = read_pgm(DATA "/doe.pgm");
    assert_int_equal(im.w, w);
    oa_ocr_word *words = ocr(&im, &n);
    bool doe = false, john = false;
    for (size_t k = 0; k < n; k++) {
        doe |= strncmp(words[k].text, "DOE", 3) == 0 && words[k].box.y < 20;
        john |= strcmp(words[k].text, "JOHN") == 0 && words[k].box.y < 20;
    }
    if (!doe || !john)
        print_words("doe", words, n);
    assert_true(doe);
    assert_true(john);
    assert_int_equal(oa_ocr_match(words, n, &nd, false, &r, &nr, NULL),
                     OA_OK);
    /* DOE and JOHN at the top, DOE in the image: nothing else. */
    if (nr != 3)
        print_words("doe", words, n);
    assert_int_equal(nr, 3);
    oa_free(r);
    oa_ocr_words_free(words);
    free(im.px);
}

/* ------------------------------------------------------------------ */
/* Matching rules on given words (no OCR)                               */

/* Words on one line, from a space-separated string ('_' = a new line). */
static size_t make_words(const char *s, oa_ocr_word *w, size_t max)
{
    size_t n = 0;
    unsigned line = 0, x = 0;
    char buf[256], *save = NULL, *tok;

    snprintf(buf, sizeof buf, "%s", s);
    for (tok = strtok_r(buf, " ", &save); tok && n < max;
         tok = strtok_r(NULL, " ", &save)) {
        if (strcmp(tok, "_") == 0) {
            line++;
            continue;
        }
        memset(&w[n], 0, sizeof w[n]);
        snprintf(w[n].text, sizeof w[n].text, "%s", tok);
        w[n].box = (oa_pixels_rect){x, line * 20, 10, 10};
        w[n].line = line;
        w[n].confidence = 90;
        x += 20;
        n++;
    }
    return n;
}

/* How many of the words of `s` match (each word a distinct box). */
static size_t matches(const char *s, const oa_ocr_needles *nd, bool strict)
{
    oa_ocr_word w[16];
    oa_pixels_rect *r;
    size_t n = make_words(s, w, 16), nr;

    assert_int_equal(oa_ocr_match(w, n, nd, strict, &r, &nr, NULL), OA_OK);
    oa_free(r);
    return nr;
}

static void test_match_dates(void **state)
{
    static const char *const da[] = {"19570412"};
    oa_ocr_needles nd = {NULL, 0, NULL, 0, da, 1, NULL, 0};
    static const char *const one[] = {
        "19570412", "12/04/1957", "04/12/1957", "12.04.1957", "1957-04-12",
        "1957/04/12", "12-Apr-1957", "12-APR-1957", "12/04/57", "4/12/1957",
        "12.4.1957", "DOB:12/04/1957", "l2/O4/l957", "1957.04.12"};

    (void)state;
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        if (matches(one[i], &nd, false) != 1)
            fail_msg("date spelling '%s' not matched", one[i]);
    /* Spelled over several words: every word is blanked. */
    assert_int_equal(matches("12 Apr 1957", &nd, false), 3);
    assert_int_equal(matches("Apr 12 1957", &nd, false), 3);
    assert_int_equal(matches("April 12, 1957", &nd, false), 3);
    assert_int_equal(matches("12 April 1957 GYN", &nd, false), 3);
    /* One character misread is tolerated in 8-digit spellings. */
    assert_int_equal(matches("12/04/1951 19570413", &nd, false), 2);
    /* Other dates, the year alone, words on two lines: not matched. */
    assert_int_equal(matches("23/06/1960 1957 19570611 04/1957", &nd, false),
                     0);
    assert_int_equal(matches("12 Apr _ 1957", &nd, false), 0);
    /* A DA that is not a date gives no needle. */
    static const char *const bad[] = {"1957", "19571312", "", NULL};
    oa_ocr_needles nb = {NULL, 0, NULL, 0, bad, 4, NULL, 0};
    assert_int_equal(matches("1957 13/12/1957", &nb, false), 0);
}

static void test_match_ids(void **state)
{
    static const char *const ids[] = {"CL-285BT-1811492", "PO1234", "7"};
    oa_ocr_needles nd = {NULL, 0, ids, 3, NULL, 0, NULL, 0};

    (void)state;
    assert_int_equal(matches("CL-285BT-1811492", &nd, false), 1);
    assert_int_equal(matches("ID:CL-285BT-1811492", &nd, false), 1);
    /* Split by OCR at '-' or anywhere, dashes lost, O/0 I/l/1 B/8. */
    assert_int_equal(matches("CL-285BT- 1811492", &nd, false), 2);
    assert_int_equal(matches("CL -285BT-1811492", &nd, false), 2);
    assert_int_equal(matches("CL 285BT 1811492", &nd, false), 3);
    assert_int_equal(matches("CL285BT1811492", &nd, false), 1);
    assert_int_equal(matches("CL-2858T-l8ll492", &nd, false), 1);
    assert_int_equal(matches("CL-285BT-1811493", &nd, false), 1);
    assert_int_equal(matches("P01234 pO1234", &nd, false), 2);
    /* A piece (3+ characters between dashes) or 5 consecutive ones. */
    assert_int_equal(matches("285BT", &nd, false), 1);
    assert_int_equal(matches("81149", &nd, false), 1);
    /* Not the ID: a 1-character ID is ignored, short digits stay. */
    assert_int_equal(matches("7 CL 18 GYN 2023", &nd, false), 0);
}

static void test_match_names_and_texts(void **state)
{
    static const char *const names[] = {"Test^Belle^^^", "Müller^A", NULL};
    static const char *const texts[] = {"St Mary Clinic"};
    oa_ocr_needles nd = {names, 3, NULL, 0, NULL, 0, texts, 1};

    (void)state;
    assert_int_equal(matches("Test,Belle", &nd, false), 1);
    assert_int_equal(matches("TEST BELLE", &nd, false), 2);
    assert_int_equal(matches("belle. TestBelle Be11e", &nd, false), 3);
    assert_int_equal(matches("Name:Test", &nd, false), 1);
    assert_int_equal(matches("MULLER Müller", &nd, false), 2);
    assert_int_equal(matches("Mary CLINIC", &nd, false), 2);
    /* Not the name: the initial "A", "St", other words. */
    assert_int_equal(matches("A St Best Tests Bella2 GYN", &nd, false), 1);
    assert_int_equal(matches("A St Best GYN", &nd, false), 0);
    /* No needles: nothing matched; no words: no rectangles. */
    oa_ocr_needles none = {0};
    assert_int_equal(matches("Test,Belle 01/01/1988", &none, false), 0);
    oa_pixels_rect *r = (oa_pixels_rect *)&none;
    size_t nr = 9;
    assert_int_equal(oa_ocr_match(NULL, 0, &nd, true, &r, &nr, NULL), OA_OK);
    assert_null(r);
    assert_int_equal(nr, 0);
}

static void test_whitelist(void **state)
{
    static const char *const keep[] = {
        "cm", "MHz", "8.5M", "G52", "0.76", "100%", "29", "Follicle1",
        "-", "cm³", "dB", "fps", "Rt", "B", "PW", "Gain", "-4", "0,80",
        "(R)", "TIS", "cm/s", "+", "2D"};
    static const char *const blank[] = {
        "Belle", "1988", "01/01/1988", "CL-285BT-1811492", "Female",
        "10:00:01", "Test,Belle", "Mindray", "12345", "0.123", "Cl1nic"};

    (void)state;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (!oa_ocr_whitelisted(keep[i]))
            fail_msg("'%s' should be whitelisted", keep[i]);
    for (size_t i = 0; i < sizeof blank / sizeof blank[0]; i++)
        if (oa_ocr_whitelisted(blank[i]))
            fail_msg("'%s' should not be whitelisted", blank[i]);
    oa_ocr_needles none = {0};
    assert_int_equal(matches("F 8.5M Belle 0.76 cm 1988", &none, true), 2);
}

/* Every allocation failure of matching is OA_ENOMEM, without a leak. */
static void test_match_out_of_memory(void **state)
{
    oa_ocr_needles nd = {NAMES, 1, IDS, 1, DATES, 1, TEXTS, 1};
    oa_ocr_word w[16];
    size_t n = make_words("Test,Belle 12 GYN CL-285BT-1811492 01/01/1988",
                          w, 16);
    oa_pixels_rect *r;
    size_t nr;
    long k;

    (void)state;
    for (k = 1; k < 200; k++) {
        oa_alloc_fail_after(k);
        oa_status st = oa_ocr_match(w, n, &nd, false, &r, &nr, NULL);
        oa_alloc_fail_after(0);
        if (st == OA_OK) {
            assert_int_equal(nr, 3);
            oa_free(r);
            break;
        }
        assert_int_equal(st, OA_ENOMEM);
        assert_null(r);
    }
    assert_true(k > 1 && k < 200);
}

/* ------------------------------------------------------------------ */
/* Frames of a cine                                                     */

static void test_picker_finds_the_changing_frames(void **state)
{
    char path[512];
    oa_ocr_picker *p = NULL;
    image fr[9];
    bool pick;
    size_t picked[9], np = 0;
    oa_error err;

    (void)state;
    for (size_t i = 0; i < 9; i++) {
        snprintf(path, sizeof path, DATA "/cine-%zu.pgm", i);
        fr[i] = read_pgm(path);
    }
    assert_int_equal(oa_ocr_picker_new(&p, fr[0].w, fr[0].h, 9, 9, NULL),
                     OA_OK);
    for (size_t i = 0; i < 9; i++) {
        assert_int_equal(oa_ocr_picker_feed(p, i, fr[i].px, fr[i].w, &pick,
                                            NULL), OA_OK);
        if (pick)
            picked[np++] = i;
    }
    /* First, middle, last; the clock changes at 3 and 6; the speckle that
     * moves every frame is not text. */
    assert_int_equal(np, 5);
    assert_memory_equal(picked, ((size_t[]){0, 3, 4, 6, 8}),
                        5 * sizeof(size_t));
    assert_int_equal(oa_ocr_picker_count(p), 5);
    /* Out of order, or past the end. */
    oa_error_clear(&err);
    assert_int_equal(oa_ocr_picker_feed(p, 9, fr[0].px, fr[0].w, &pick,
                                        &err), OA_EINVAL);
    oa_ocr_picker_free(p);

    /* More changes than allowed: OA_ELIMIT, the caller decides. */
    assert_int_equal(oa_ocr_picker_new(&p, fr[0].w, fr[0].h, 9, 3, NULL),
                     OA_OK);
    oa_status st = OA_OK;
    size_t i;
    for (i = 0; i < 9 && st == OA_OK; i++)
        st = oa_ocr_picker_feed(p, i, fr[i].px, fr[i].w, &pick, &err);
    assert_int_equal(st, OA_ELIMIT);
    assert_int_equal(i, 7);   /* the change at 6 is the 4th pick */
    assert_non_null(strstr(err.msg, "more than 3"));
    oa_ocr_picker_free(p);
    assert_int_equal(oa_ocr_picker_feed(NULL, 0, fr[0].px, 1, &pick, NULL),
                     OA_EINVAL);
    assert_int_equal(oa_ocr_picker_new(&p, 10, 10, 9, 2, NULL), OA_EINVAL);
    assert_int_equal(oa_ocr_picker_new(&p, 0, 10, 9, 9, NULL), OA_EINVAL);
    oa_ocr_picker_free(NULL);
    for (i = 0; i < 9; i++)
        free(fr[i].px);
}

/* ------------------------------------------------------------------ */

/* Run a generator script; returns its exit status (77 = skip). */
static int run(const char *cmd)
{
    int rc = system(cmd);
    if (rc == -1 || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_language_data_is_unsupported),
        cmocka_unit_test(test_available_and_version),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_light_text_on_dark),
        cmocka_unit_test(test_dark_text_on_light),
        cmocka_unit_test(test_small_text_upscaled),
        cmocka_unit_test(test_match_blanks_exactly_the_identifying_words),
        cmocka_unit_test(test_strict_blanks_all_but_the_whitelist),
        cmocka_unit_test(test_one_engine_a_thread),
        cmocka_unit_test(test_real_ultrasound),
        cmocka_unit_test(test_ultrasound_close_lines),
        cmocka_unit_test(test_match_dates),
        cmocka_unit_test(test_match_ids),
        cmocka_unit_test(test_match_names_and_texts),
        cmocka_unit_test(test_whitelist),
        cmocka_unit_test(test_match_out_of_memory),
        cmocka_unit_test(test_picker_finds_the_changing_frames),
    };
    oa_error err;
    int rc;

    rc = run("/usr/bin/python3 " OA_SOURCE_DIR
             "/UnitTests/ocr/make_images.py " DATA);
    if (rc == 77) {
        printf("skip: python3-pil is not installed: the OCR test images "
               "cannot be drawn (apt-get install python3-pil)\n");
        return 77;
    }
    if (rc != 0) {
        fprintf(stderr, "UnitTests/ocr/make_images.py failed (%d)\n", rc);
        return 1;
    }
    {
        const char *env = getenv("OA_CORPUS");
        char dir[2048], cmd[8192], probe[4096];

        snprintf(dir, sizeof(dir), "%s",
                 env != NULL && env[0] ? env
                                       : OA_SOURCE_DIR "/../shared/corpus");
        snprintf(probe, sizeof(probe), "%s/" US_FILE, dir);
        have_corpus = access(probe, R_OK) == 0;
        if (!have_corpus)
            printf("skipped: corpus not found (%s): the two real-image "
                   "tests are skipped\n", dir);
        rc = 0;
        if (have_corpus) {
            snprintf(cmd, sizeof(cmd),
                     "/usr/bin/python3 " OA_SOURCE_DIR
                     "/UnitTests/ocr/dicom_to_pgm.py '%s/" US_FILE
                     "' " DATA "/us",
                     dir);
            rc = run(cmd);
        }
        if (have_corpus && rc == 0) {
            snprintf(cmd, sizeof(cmd),
                     "/usr/bin/python3 " OA_SOURCE_DIR
                     "/UnitTests/ocr/dicom_to_pgm.py '%s/" DOE_FILE
                     "' " DATA "/doe",
                     dir);
            rc = run(cmd);
        }
    }
    if (rc != 0) {
        fprintf(stderr, "UnitTests/ocr/dicom_to_pgm.py failed (%d): is "
                "python3-pydicom installed?\n", rc);
        return 1;
    }
    oa_error_clear(&err);
    if (oa_ocr_new(&engine, NULL, &err) != OA_OK) {
        fprintf(stderr, "OCR engine: %s\n", err.msg);
        return 1;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    oa_ocr_free(engine);
    return rc;
}
