/*
 * pixels: identity burned into the pixels (PS3.15 Clean Pixel Data).
 *
 * This module knows pixel layouts and nothing of Orthanc.  Per instance:
 *
 *  1. the engine's pre-pass gives it the few top-level attributes it needs
 *     (oa_pixels_wants_tag), the Sequence of Ultrasound Regions and the
 *     Pixel Data element: either by forwarding its reader events to
 *     oa_pixels_attrs_handler(), or call by call (oa_pixels_attrs_set...);
 *  2. the engine calls oa_pixels_decide() once, which answers
 *       KEEP    no risk found in the header: Pixel Data passes byte for
 *               byte (nothing allocated, a few string compares);
 *       CLEANED a new Pixel Data value, with the list of rectangles blanked
 *               and the rule that caused each;
 *       REFUSE  a reason naming what was missing (manufacturer, model,
 *               rows x columns, transfer syntax, ...), never a value;
 *       NEEDS_DECODING  risky and compressed in a syntax this module does
 *               not decode (everything but RLE Lossless): the plugin
 *               decodes it to Explicit VR Little Endian (Orthanc's
 *               transcoder) and runs again; the CLI refuses, naming the
 *               transfer syntax (oa_pixels_result.reason says so);
 *  3. on CLEANED the engine writes the new value with oa_pixels_emit()
 *     in place of the old Pixel Data element.
 *
 * In the engine, roughly:
 *
 *     pre-pass handler callbacks:   forward each event to
 *                                   oa_pixels_attrs_handler(attrs)
 *     pre-pass `end` callback:      oa_pixels_decide(attrs, &policy, &res,
 *                                   err)  (values still valid here)
 *     res.verdict == REFUSE:        refuse the instance with res.reason
 *     res.verdict == NEEDS_DECODING: plugin: transcode, run again;
 *                                   CLI: refuse with res.reason
 *     rewrite pass, Pixel Data:     CLEANED ? oa_pixels_emit(&res, el,
 *                                   writer, err) : pass it as today;
 *                                   drop (7FE0,0001/0002) if
 *                                   res.drop_extended_offsets
 *     report:                       res.ops (rectangle + rule label each)
 *
 * Which rectangles: the device rules generated from pydicom/deid's recipe
 * (Resources/Scripts/GeneratePixelRules.py -> rules_table.inc, MIT
 * licence), user rules from the profile (oa_pixels_user_rule_parse), the
 * "keep only the ultrasound regions" recipe (deid.dicom.ultrasound), and,
 * when none covers a risky instance, an OCR hook (oa_pixels_ocr) whose
 * word boxes that match an identifying value of the instance are blanked.
 * With no hook, such an instance is refused.
 *
 * RLE Lossless is decoded and re-encoded natively: a cleaned RLE instance
 * stays RLE (same transfer syntax; one fragment per frame, a rebuilt Basic
 * Offset Table).  The engine must then drop an Extended Offset Table
 * (7FE0,0001)/(7FE0,0002) if the input had one (result.drop_extended_offsets).
 *
 * Thread safety: no global mutable state; each object is used by one
 * thread at a time.  Logs and reasons name tags, offsets and sizes, never
 * values (the identifying values kept for OCR matching never leave the
 * attrs object).
 */
#ifndef OA_PIXELS_H
#define OA_PIXELS_H

#include "../core/core.h"
#include "../dicom/dicom.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cJSON;

/* ------------------------------------------------------------------ */
/* Geometry                                                             */

/* A rectangle in pixels: columns x .. x+w-1, rows y .. y+h-1. */
typedef struct oa_pixels_rect {
    uint32_t x, y, w, h;
} oa_pixels_rect;

/* ------------------------------------------------------------------ */
/* Attributes of one instance                                           */

typedef struct oa_pixels_attrs oa_pixels_attrs;

/*
 * True for the top-level tags the module wants to see: the risk triage
 * (Modality, SOP Class, Image Type, Burned In Annotation, Conversion Type,
 * Series Description, overlay groups 60xx), the pixel layout (Rows,
 * Columns, Bits *, Samples, Photometric, Planar, Frames, palettes), the
 * fields the rules test, the identifying values matched against OCR words
 * (names, IDs, accession number, dates), Sequence of Ultrasound Regions and
 * Pixel Data.  A binary search in a sorted list.
 */
bool oa_pixels_wants_tag(uint32_t tag);

oa_status oa_pixels_attrs_new(oa_pixels_attrs **out, oa_error *err);
void oa_pixels_attrs_free(oa_pixels_attrs *a);
/* Forget everything (keep the allocations) for the next instance. */
void oa_pixels_attrs_reset(oa_pixels_attrs *a);

/*
 * The attributes as a reader handler: forward the pre-pass events to it
 * (begin, element, sequence_begin, item_begin, item_end, sequence_end,
 * fragment), or parse an instance with it directly.  It keeps the wanted
 * top-level elements (string values are copied, up to 1 KiB each), the
 * region bounds of each item of (0018,6011) and the Pixel Data (borrowed:
 * the input must outlive oa_pixels_decide; for a deflated dataset the
 * values live in the parse's inflated buffer, so decide from the `end`
 * callback, before oa_dicom_parse returns).  Its callbacks never return
 * OA_SKIP; an engine that skips (0018,6011) itself loses the regions.  The
 * transfer syntax is taken from `begin`.  Borrowed; valid as long as `a`.
 */
const oa_dicom_handler *oa_pixels_attrs_handler(oa_pixels_attrs *a);

/* The same, call by call.  A string or binary value of a wanted tag: */
oa_status oa_pixels_attrs_set(oa_pixels_attrs *a, uint32_t tag,
                              const uint8_t *value, size_t len,
                              oa_error *err);
/* A numeric value (US/UL/IS attributes such as Rows, Number of Frames). */
oa_status oa_pixels_attrs_set_uint(oa_pixels_attrs *a, uint32_t tag,
                                   uint32_t value, oa_error *err);
/* One ultrasound region, bounds inclusive as in (0018,6018..601E). */
oa_status oa_pixels_attrs_add_us_region(oa_pixels_attrs *a, uint32_t x0,
                                        uint32_t y0, uint32_t x1,
                                        uint32_t y1, oa_error *err);
/* The transfer syntax UID of the dataset (copied). */
oa_status oa_pixels_attrs_set_ts(oa_pixels_attrs *a, const char *uid,
                                 size_t len, oa_error *err);
/* Native Pixel Data (borrowed).  `offset` is the element's offset in the
 * input, for messages; `big_endian` as in oa_element. */
void oa_pixels_attrs_set_native(oa_pixels_attrs *a, const uint8_t *value,
                                size_t len, size_t offset, bool big_endian);
/* Encapsulated Pixel Data: one call per fragment, Basic Offset Table
 * first (borrowed). */
oa_status oa_pixels_attrs_add_fragment(oa_pixels_attrs *a,
                                       const uint8_t *data, size_t len,
                                       size_t offset, oa_error *err);

/* ------------------------------------------------------------------ */
/* Rules                                                                */

/* An operation on the blanking mask, applied in order to every frame. */
typedef struct oa_pixels_op {
    oa_pixels_rect rect;   /* clipped to the image */
    bool keep;             /* true: un-blank (keep) the rectangle */
    const char *label;     /* rule label ("deid: MINDRAY", "user: ...",
                            * "OCR", ...); borrowed from the table, the
                            * policy's user rules, or static */
} oa_pixels_op;

/*
 * A rule from a profile: rectangles for a device.  Manufacturer and model
 * match case-insensitively as substrings of (0008,0070) and (0008,1090);
 * NULL matches anything; rows/columns 0 match any size.
 */
typedef struct oa_pixels_user_rule {
    char *label;
    char *manufacturer;
    char *model;
    uint32_t rows, columns;
    oa_pixels_rect *rects;
    size_t n_rects;
} oa_pixels_user_rule;

#define OA_PIXELS_USER_MAX_RECTS 64u

/*
 * Parse one user rule from JSON:
 *   {"Manufacturer": "...", "Model": "...", "Rows": N, "Columns": N,
 *    "Rectangles": [[x, y, w, h], ...], "Label": "..."}
 * Manufacturer, Model, Rows, Columns and Label are optional (but one of
 * Manufacturer/Model is required); 1..64 rectangles with w, h > 0 and
 * every number in 0..65535.  OA_EINVAL naming the member on error.
 * Dispose with oa_pixels_user_rule_dispose.
 */
oa_status oa_pixels_user_rule_parse(const struct cJSON *json,
                                    oa_pixels_user_rule *out, oa_error *err);
void oa_pixels_user_rule_dispose(oa_pixels_user_rule *r);

/* The generated device rules, for --explain and the REST rule list. */
typedef enum oa_pixels_rule_kind {
    OA_PIXELS_RULE_MASK = 0,  /* graylist with rectangles: blank them */
    OA_PIXELS_RULE_FLAG = 1,  /* graylist/blacklist without rectangles */
    OA_PIXELS_RULE_ALLOW = 2  /* whitelist: deid calls it clean */
} oa_pixels_rule_kind;

typedef struct oa_pixels_rule_info {
    const char *label;      /* "LightSpeed Dose Report" */
    const char *source;     /* "deid.dicom graylist" */
    const char *condition;  /* the filter as written, one line */
    oa_pixels_rule_kind kind;
    size_t n_ops;           /* rectangles (or region operations) */
} oa_pixels_rule_info;

size_t oa_pixels_rule_count(void);
/* NULL past the end. */
const oa_pixels_rule_info *oa_pixels_rule_get(size_t i);
/* Number of deid labels the generator could not translate (listed, with
 * the reason, in the header of rules_table.inc). */
size_t oa_pixels_rules_untranslated(void);

/* ------------------------------------------------------------------ */
/* OCR hook                                                             */

/* One frame as 8-bit grayscale, 0 = black, row-major, no padding. */
typedef struct oa_pixels_gray {
    const uint8_t *pixels;
    uint32_t width, height;
    uint32_t frame;          /* index in the instance */
} oa_pixels_gray;

/* A word found on a frame: its box in frame pixels and its text. */
typedef struct oa_pixels_word {
    oa_pixels_rect box;
    const char *text;        /* UTF-8, NUL-terminated, owned by the hook */
    int confidence;          /* 0..100, or -1 */
} oa_pixels_word;

/*
 * Text detection plugged in by the OCR module (Tesseract).  find_words
 * fills *words / *n_words with an array owned by the hook, valid until
 * `release` is called with it.  A failure (OA_EUNSUPPORTED: no language
 * data, ...) refuses the instance with the hook's message.  The hook
 * never sees patient values; this module matches its words.
 */
typedef struct oa_pixels_ocr {
    oa_status (*find_words)(void *ctx, const oa_pixels_gray *frame,
                            oa_pixels_word **words, size_t *n_words,
                            oa_error *err);
    void (*release)(void *ctx, oa_pixels_word *words, size_t n_words);
    void *ctx;
} oa_pixels_ocr;

/* ------------------------------------------------------------------ */
/* Policy                                                               */

typedef enum oa_pixels_us_regions {
    OA_PIXELS_US_REGIONS_OFF = 0,
    OA_PIXELS_US_REGIONS_FALLBACK = 1, /* when no device/user rule covers */
    OA_PIXELS_US_REGIONS_ALWAYS = 2    /* also on top of device rules */
} oa_pixels_us_regions;

typedef struct oa_pixels_policy {
    const oa_pixels_user_rule *user_rules; /* borrowed */
    size_t n_user_rules;
    bool device_rules;          /* use the deid table (default true) */
    /* A device rule with rectangles that matches makes an instance risky
     * even if the triage found nothing (default true: a known signature
     * of burned-in text, e.g. CT localizers of some scanners). */
    bool device_rules_imply_risk;
    /* A FLAG rule (deid graylist without rectangles, blacklist) makes an
     * instance risky (default false: deid's blacklist flags every derived
     * CT/MR). */
    bool flag_rules_imply_risk;
    oa_pixels_us_regions us_regions;   /* default FALLBACK */
    const oa_pixels_ocr *ocr;          /* NULL: no OCR, uncovered risky
                                        * instances are refused */
    /* Strict OCR: blank every word not on the whitelist, not only the
     * words that match an identifying value. */
    bool ocr_strict;
    const char *const *ocr_whitelist;  /* NULL: built-in clinical terms */
    size_t n_ocr_whitelist;
    unsigned ocr_max_frames;    /* frames OCR'd per instance (default 16) */
    uint32_t ocr_margin;        /* pixels around each word box (default 2) */
    /* With an OCR hook: OCR the cleaned frames again and refuse if an
     * identifying value is still readable (default true). */
    bool verify;
    size_t max_pixel_bytes;     /* decoded pixel data ceiling (1 GiB) */
} oa_pixels_policy;

void oa_pixels_policy_init(oa_pixels_policy *p);

/* ------------------------------------------------------------------ */
/* Decision                                                             */

/* Risk bits found by the triage (oa_pixels_result.risks). */
enum {
    OA_PIXELS_RISK_BURNED_IN = 1u << 0,   /* Burned In Annotation YES */
    OA_PIXELS_RISK_MODALITY = 1u << 1,    /* US, IVUS, XC, ES, OT */
    OA_PIXELS_RISK_SC_CLASS = 1u << 2,    /* a Secondary Capture class */
    OA_PIXELS_RISK_IMAGE_TYPE = 1u << 3,  /* SECONDARY, SCREEN SAVE,
                                           * DERIVED + Conversion Type */
    OA_PIXELS_RISK_DOSE = 1u << 4,        /* Series Description "Dose" */
    OA_PIXELS_RISK_OVERLAY_BITS = 1u << 5,/* overlay in unused pixel bits */
    OA_PIXELS_RISK_DEVICE_RULE = 1u << 6, /* a device rule matched */
    OA_PIXELS_RISK_FLAG_RULE = 1u << 7    /* a flag rule matched */
};

typedef enum oa_pixels_verdict {
    OA_PIXELS_KEEP = 0,
    OA_PIXELS_CLEANED = 1,
    OA_PIXELS_REFUSE = 2,
    OA_PIXELS_NEEDS_DECODING = 3
} oa_pixels_verdict;

/* A fragment of a re-encoded RLE value: bytes [offset, offset+length) of
 * oa_pixels_result.value (even length). */
typedef struct oa_pixels_fragment {
    size_t offset, length;
} oa_pixels_fragment;

typedef struct oa_pixels_result {
    oa_pixels_verdict verdict;
    unsigned risks;                 /* OA_PIXELS_RISK_* */
    /* REFUSE / NEEDS_DECODING: why, naming attributes, sizes, offsets,
     * the transfer syntax; never a value.  KEEP/CLEANED: a summary. */
    char reason[OA_ERROR_MSG_MAX];
    /* CLEANED: what was blanked, in order (also filled for REFUSE and
     * NEEDS_DECODING when the rectangles were known). */
    oa_pixels_op *ops;
    size_t n_ops;
    uint32_t cleared_bits;          /* overlay bit planes zeroed */
    unsigned ocr_frames;            /* frames given to the OCR hook */
    unsigned ocr_words;             /* word boxes blanked */
    /* CLEANED: the new Pixel Data value (owned).  Native: same length as
     * the input value, VR as the input.  RLE (encapsulated): the fragment
     * payloads, Basic Offset Table first, listed in `fragments`. */
    uint8_t *value;
    size_t value_len;
    bool encapsulated;
    oa_pixels_fragment *fragments;
    size_t n_fragments;             /* BOT + one per frame */
    bool drop_extended_offsets;     /* engine drops (7FE0,0001/0002) */
} oa_pixels_result;

void oa_pixels_result_init(oa_pixels_result *r);
void oa_pixels_result_dispose(oa_pixels_result *r);

/*
 * Decide for one instance (see the top of this file).  Returns OA_OK with
 * the verdict in `r` (a refusal is a verdict, not an error); errors are
 * only OA_ENOMEM (allocation) and OA_ELIMIT (more than 65536 boxes).  A
 * KEEP costs the triage and, with device_rules_imply_risk, the device
 * rules (about 4 us, measured by Resources/Scripts/benchmark-pixels.sh):
 * no allocation, the pixels are not read.  `policy` NULL = defaults.
 */
oa_status oa_pixels_decide(const oa_pixels_attrs *a,
                           const oa_pixels_policy *policy,
                           oa_pixels_result *r, oa_error *err);

/*
 * Write a CLEANED result to a handler (the writer) in place of the Pixel
 * Data element `pixel_el` of the input: one `element` event (native), or
 * `sequence_begin`, a `fragment` per fragment and `sequence_end` (RLE).
 */
oa_status oa_pixels_emit(const oa_pixels_result *r,
                         const oa_element *pixel_el,
                         const oa_dicom_handler *out, oa_error *err);

/* "keep", "cleaned", "refuse", "needs decoding". */
const char *oa_pixels_verdict_name(oa_pixels_verdict v);

/* ------------------------------------------------------------------ */
/* Lower level (used by the decision, exposed for tests and tools)      */

/* A native pixel layout. */
typedef struct oa_pixels_layout {
    uint32_t rows, columns, frames;
    uint16_t samples;           /* 1 or 3 */
    uint16_t bits_allocated;    /* 1, 8, 16, 32 */
    uint16_t bits_stored;
    uint16_t high_bit;
    bool is_signed;             /* Pixel Representation 1 */
    bool planar;                /* Planar Configuration 1 */
    bool big_endian;            /* native value in big endian (OW) */
    enum {
        OA_PIXELS_MONOCHROME1, OA_PIXELS_MONOCHROME2, OA_PIXELS_PALETTE,
        OA_PIXELS_RGB, OA_PIXELS_YBR_FULL, OA_PIXELS_YBR_FULL_422,
        OA_PIXELS_YBR_PARTIAL_422
    } photometric;
    uint32_t palette_black;     /* PALETTE COLOR: index that shows black */
} oa_pixels_layout;

/* Bytes of one frame (1-bit: bits rounded up; 422: 2 pixels = 4 samples),
 * and of all frames (1-bit frames are packed without padding).  Return 0
 * and set the sizes, or -1 on overflow / invalid layout. */
int oa_pixels_frame_bytes(const oa_pixels_layout *l, size_t *frame,
                          size_t *total);

/* Check a layout and a value length; on failure write the reason. */
oa_status oa_pixels_layout_check(const oa_pixels_layout *l, size_t len,
                                 size_t max_bytes, oa_error *err);

/*
 * Blank, in place, in every frame of a native value of `len` bytes, the
 * pixels the ops leave blanked (ops in order on a mask that starts all
 * kept), to the value that displays black.  Bits outside the blanked
 * pixels stay bit-identical.  `cleared_bits` (a mask of bit positions) is
 * zeroed in every pixel word.  Checked like oa_pixels_layout_check.
 */
oa_status oa_pixels_blank_native(const oa_pixels_layout *l, uint8_t *value,
                                 size_t len, const oa_pixels_op *ops,
                                 size_t n_ops, uint32_t cleared_bits,
                                 oa_error *err);

/*
 * RLE Lossless (PS3.5 Annex G).  Decode one fragment (one frame) into
 * `out`, `out_len` = rows*columns*samples*bytes, in native little-endian
 * layout with planar configuration 1 (each sample's plane in turn).
 * OA_EPARSE naming the segment and offset for a bad header, a segment
 * that ends early or an offset past the data.
 */
oa_status oa_pixels_rle_decode(const uint8_t *frag, size_t frag_len,
                               uint32_t rows, uint32_t columns,
                               uint16_t samples, uint16_t bytes,
                               uint8_t *out, size_t out_len, oa_error *err);
/* Encode one frame of the same layout; appends an even-length fragment
 * payload (header of 16 offsets, PackBits segments, rows encoded
 * separately) to `out`. */
oa_status oa_pixels_rle_encode(const uint8_t *in, size_t in_len,
                               uint32_t rows, uint32_t columns,
                               uint16_t samples, uint16_t bytes,
                               oa_buf *out, oa_error *err);

#ifdef __cplusplus
}
#endif
#endif /* OA_PIXELS_H */
