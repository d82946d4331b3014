/*
 * fuzz_dicom_reader: arbitrary bytes through the DICOM reader and writer.
 *
 * Each input is run twice:
 *
 *  1. Lenient (default options): oa_dicom_copy, i.e. the reader driving the
 *     writer's handler, through a checking handler placed between the two.
 *     If a file comes out, it is parsed again with a null handler and must
 *     parse, in the encoding it was written in (explicit or implicit VR,
 *     byte order): the writer may only produce what the reader accepts and
 *     reads the same way.  (The writer may decline a DICOMDIR with
 *     OA_EUNSUPPORTED.)
 *  2. Strict, with a small nesting limit (opts.strict, max_depth 4), through
 *     the checking handler alone.  If it succeeds, no defect may have been
 *     recorded and the lenient pass must have succeeded too.
 *
 * The checking handler (the oracle) traps on anything the reader's
 * contract in dicom.h forbids: events out of order or unbalanced, a depth
 * that disagrees with the nesting, more open sequences than max_depth, an
 * element of group FFFE, a value pointer outside the input.  The only
 * failures the copy may report are OA_EPARSE and OA_ELIMIT; anything else
 * (OA_EINVAL from the writer's balance checks above all) is a reader bug.
 *
 * Failures abort with __builtin_trap(), here only: the library itself never
 * aborts.  Built against libFuzzer (OA_FUZZ=libfuzzer, clang) or linked with
 * standalone_driver.c to replay a corpus under ctest (OA_FUZZ=standalone).
 */
#include "dicom/dicom.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STRICT_MAX_DEPTH 4u
#define CHECK_MAX_NEST 1024

/* Abort the run: a broken invariant is a finding. */
#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond))                                                         \
            __builtin_trap();                                                \
    } while (0)

enum { OPEN_SEQUENCE = 1, OPEN_ITEM = 2 };
/* What a sequence has held so far: items and fragments never mix. */
enum { CONTENT_NONE = 0, CONTENT_ITEMS = 1, CONTENT_FRAGMENTS = 2 };

/* State of the checking handler. */
typedef struct checker {
    const oa_dicom_handler *next; /* forwarded to, or NULL */
    const uint8_t *data;          /* the input, for pointer bounds */
    size_t size;
    unsigned max_depth;
    bool bounds;                  /* false for deflated (inflated copy) */
    bool begun;
    bool ended;
    unsigned items;               /* open items = current dataset depth */
    unsigned sequences;           /* open sequences (and fragment lists) */
    unsigned nest;                /* entries in `open` */
    uint8_t open[CHECK_MAX_NEST]; /* OPEN_* per open container */
    uint8_t content[CHECK_MAX_NEST]; /* CONTENT_* of each open sequence */
} checker;

static void check_span(const checker *c, const uint8_t *p, size_t len)
{
    if (!c->bounds)
        return;
    CHECK(p != NULL || len == 0);
    if (p == NULL)
        return;
    CHECK(p >= c->data && p <= c->data + c->size);
    CHECK(len <= (size_t)(c->data + c->size - p));
}

/* An element or a sequence starts here: must be in a dataset. */
static void check_in_dataset(const checker *c, const oa_element *el)
{
    CHECK(c->begun && !c->ended);
    CHECK(c->nest == 0 || c->open[c->nest - 1] == OPEN_ITEM);
    CHECK(el->depth == c->items);
    CHECK(OA_TAG_GROUP(el->tag) != 0xFFFE);
    CHECK(!c->bounds || el->offset < c->size);
}

static oa_status ck_begin(void *user, const oa_parse_info *info,
                          oa_error *err)
{
    checker *c = user;

    CHECK(!c->begun);
    CHECK(info != NULL && info->ts != NULL);
    c->begun = true;
    c->bounds = !info->ts->deflated;
    CHECK(!c->bounds || info->dataset_offset <= c->size);
    if (c->next && c->next->begin)
        return c->next->begin(c->next->user, info, err);
    return OA_OK;
}

static oa_status ck_element(void *user, const oa_element *el, oa_error *err)
{
    checker *c = user;

    check_in_dataset(c, el);
    CHECK(!el->undefined_length);
    CHECK(el->value != NULL || el->length == 0);
    check_span(c, el->value, el->length);
    if (c->next && c->next->element)
        return c->next->element(c->next->user, el, err);
    return OA_OK;
}

static oa_status ck_sequence_begin(void *user, const oa_element *el,
                                   oa_error *err)
{
    checker *c = user;

    check_in_dataset(c, el);
    CHECK(c->nest < CHECK_MAX_NEST);
    c->sequences++;
    CHECK(c->sequences <= c->max_depth);
    c->content[c->nest] = CONTENT_NONE;
    c->open[c->nest++] = OPEN_SEQUENCE;
    if (c->next && c->next->sequence_begin)
        return c->next->sequence_begin(c->next->user, el, err);
    return OA_OK;
}

static oa_status ck_item_begin(void *user, const oa_item *item,
                               oa_error *err)
{
    checker *c = user;

    CHECK(c->nest > 0 && c->nest < CHECK_MAX_NEST);
    CHECK(c->open[c->nest - 1] == OPEN_SEQUENCE);
    CHECK(c->content[c->nest - 1] != CONTENT_FRAGMENTS);
    c->content[c->nest - 1] = CONTENT_ITEMS;
    CHECK(item->depth == c->items + 1);
    CHECK(!c->bounds || item->offset < c->size);
    CHECK(!item->undefined_length || item->length == 0);
    c->items++;
    c->open[c->nest++] = OPEN_ITEM;
    if (c->next && c->next->item_begin)
        return c->next->item_begin(c->next->user, item, err);
    return OA_OK;
}

static oa_status ck_item_end(void *user, oa_error *err)
{
    checker *c = user;

    CHECK(c->nest > 0 && c->open[c->nest - 1] == OPEN_ITEM);
    c->nest--;
    c->items--;
    if (c->next && c->next->item_end)
        return c->next->item_end(c->next->user, err);
    return OA_OK;
}

static oa_status ck_sequence_end(void *user, oa_error *err)
{
    checker *c = user;

    CHECK(c->nest > 0 && c->open[c->nest - 1] == OPEN_SEQUENCE);
    c->nest--;
    c->sequences--;
    if (c->next && c->next->sequence_end)
        return c->next->sequence_end(c->next->user, err);
    return OA_OK;
}

static oa_status ck_fragment(void *user, const oa_item *frag,
                             const uint8_t *data, oa_error *err)
{
    checker *c = user;

    CHECK(c->nest > 0 && c->open[c->nest - 1] == OPEN_SEQUENCE);
    CHECK(c->content[c->nest - 1] != CONTENT_ITEMS);
    c->content[c->nest - 1] = CONTENT_FRAGMENTS;
    CHECK(frag->depth == c->items + 1);
    CHECK(!frag->undefined_length);
    CHECK(!c->bounds || frag->offset < c->size);
    check_span(c, data, frag->length);
    if (c->next && c->next->fragment)
        return c->next->fragment(c->next->user, frag, data, err);
    return OA_OK;
}

static oa_status ck_end(void *user, oa_error *err)
{
    checker *c = user;

    CHECK(c->begun && !c->ended);
    CHECK(c->nest == 0);
    c->ended = true;
    if (c->next && c->next->end)
        return c->next->end(c->next->user, err);
    return OA_OK;
}

static void checker_init(checker *c, oa_dicom_handler *h,
                         const oa_dicom_handler *next, const uint8_t *data,
                         size_t size, unsigned max_depth)
{
    memset(c, 0, sizeof(*c));
    c->next = next;
    c->data = data;
    c->size = size;
    c->max_depth = max_depth;
    c->bounds = true;
    h->begin = ck_begin;
    h->element = ck_element;
    h->sequence_begin = ck_sequence_begin;
    h->item_begin = ck_item_begin;
    h->item_end = ck_item_end;
    h->sequence_end = ck_sequence_end;
    h->fragment = ck_fragment;
    h->end = ck_end;
    h->user = c;
}

/* After a parse: success means a complete, balanced event stream. */
static void check_result(const checker *c, oa_status rc)
{
    if (rc == OA_OK)
        CHECK(c->begun && c->ended && c->nest == 0);
    else
        CHECK(rc == OA_EPARSE || rc == OA_ELIMIT);
}

/* Pass 1: copy through the checker, then the output must parse. */
static bool lenient_pass(const uint8_t *data, size_t size)
{
    static checker c; /* large: keep it off the stack */
    oa_dicom_handler h;
    oa_writer *w = NULL;
    oa_error err;
    oa_parse_info info;
    const uint8_t *out = NULL;
    size_t out_len = 0;
    oa_status rc;
    bool parsed;

    oa_error_clear(&err);
    rc = oa_writer_new(&w, NULL, &err);
    if (rc != OA_OK)
        return false; /* out of memory: nothing to learn */
    checker_init(&c, &h, oa_writer_handler(w), data, size,
                 OA_READER_DEFAULT_MAX_DEPTH);
    rc = oa_dicom_parse(data, size, NULL, &h, &info, &err);
    check_result(&c, rc);
    parsed = rc == OA_OK;
    if (rc == OA_OK) {
        rc = oa_writer_finish(w, &out, &out_len, &err);
        /* EUNSUPPORTED: a DICOMDIR, which is read but not rewritten */
        CHECK(rc == OA_OK || rc == OA_ELIMIT || rc == OA_EUNSUPPORTED);
    }
    if (rc == OA_OK) {
        oa_parse_info again;
        oa_error err2;

        CHECK(out != NULL && out_len >= 132);
        CHECK(memcmp(out + 128, "DICM", 4) == 0);
        oa_error_clear(&err2);
        rc = oa_dicom_parse(out, out_len, NULL, NULL, &again, &err2);
        CHECK(rc == OA_OK);
        CHECK(again.has_preamble && again.has_meta);
        if ((info.defects & OA_DEFECT_TS_MISMATCH) && info.meta_ts &&
            info.meta_ts->encapsulated && !info.meta_ts->deflated) {
            /* written in the encapsulated label's encoding */
            CHECK(again.ts->explicit_vr && !again.ts->big_endian);
        } else {
            CHECK(again.ts->explicit_vr == info.ts->explicit_vr);
            CHECK(again.ts->big_endian == info.ts->big_endian);
        }
    }
    oa_writer_free(w);
    return parsed; /* what the strict pass is compared with */
}

/* Pass 2: strict and shallow. */
static void strict_pass(const uint8_t *data, size_t size, bool lenient_ok)
{
    static checker c;
    oa_dicom_handler h;
    oa_reader_opts opts;
    oa_parse_info info;
    oa_error err;
    oa_status rc;

    memset(&opts, 0, sizeof(opts));
    opts.strict = true;
    opts.max_depth = STRICT_MAX_DEPTH;
    oa_error_clear(&err);
    checker_init(&c, &h, NULL, data, size, STRICT_MAX_DEPTH);
    rc = oa_dicom_parse(data, size, &opts, &h, &info, &err);
    check_result(&c, rc);
    if (rc == OA_OK) {
        CHECK(info.defects == 0);
        CHECK(lenient_ok);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool ok = lenient_pass(data, size);
    strict_pass(data, size, ok);
    return 0;
}
