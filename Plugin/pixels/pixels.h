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
    unsigned line;           /* words of one text line share this number
                              * (oa_ocr_match reads runs of them) */
} oa_pixels_word;

/*
 * Text detection plugged in by the OCR module (Tesseract).  find_words
 * fills *words / *n_words with an array owned by the hook, valid until
 * `release` is called with it.  A failure (OA_EUNSUPPORTED: no language
 * data, ...) refuses the instance with the hook's message.  The hook
 * never sees patient values; this module matches its words
 * (oa_ocr_match, below).
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
    /* More terms strict mode keeps, on top of the built-in clinical
     * terms (oa_ocr_whitelisted), compared ignoring case. */
    const char *const *ocr_whitelist;
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
 * Frame `frame` of a native value of `len` bytes as 8-bit grayscale
 * (rows * columns bytes, 0 = black, stride = columns): monochrome and
 * palette indices linearly windowed from the frame's minimum and maximum
 * to 0..255 (MONOCHROME1 inverted, so text keeps its polarity on screen;
 * a flat frame is white, black if its value is 0), colour as luma (Y of YBR, Rec. 601 weights of
 * RGB), any bit depth, byte order and planar configuration the layout
 * describes.  OA_EINVAL on a bad layout or a frame past the end,
 * OA_EPARSE when `len` is smaller than the frames.
 */
oa_status oa_pixels_gray8(const oa_pixels_layout *l, const uint8_t *value,
                          size_t len, uint32_t frame, uint8_t *out,
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

/* ------------------------------------------------------------------ */
/* OCR with Tesseract (ocr.c, ocr_hook.c)                               */

/*
 * Text found in pixels with Tesseract (its C API, tesseract/capi.h),
 * matched against the identifying values of an instance.  The decision
 * runs, for an instance no rule covers (and, with `verify`, for the proof
 * pass over the cleaned frames):
 *   1. oa_pixels_gray8() makes the 8-bit grayscale view of a frame;
 *   2. for a cine, an oa_ocr_picker chooses the frames to read (first,
 *      middle, last, and the frames whose text area changed);
 *   3. the hook (oa_pixels_ocr; oa_ocr_hook_init makes the Tesseract one,
 *      with oa_ocr_words()) reads the words of each chosen frame, with
 *      their boxes in the frame's coordinates;
 *   4. oa_ocr_match() keeps the boxes of the words that show an
 *      identifying value (or, strict, every word not on a whitelist of
 *      clinical terms); the decision blanks the union on every frame.
 *
 * Thread safety: an oa_ocr engine is used by one thread at a time
 * (Tesseract's handles are not thread-safe): create one per worker thread
 * and keep it, since creating one loads the language data (~0.1 s);
 * engines are created one at a time (a lock).  The other functions are
 * pure and thread-safe.  Debian's libtesseract uses OpenMP, whose
 * threads spin: run the process with OMP_THREAD_LIMIT=1 (read by libgomp
 * when it is loaded, so in the environment of Orthanc or the CLI); one
 * core measured 4.4 frames/s with it, 1.2 without.  Nothing here logs a
 * word that was read: words may be patient data.
 */

/* ------------------------------------------------------------------ */
/* The engine                                                           */

typedef struct oa_ocr oa_ocr;

/* Bytes of a word's text, NUL included; longer words are cut at a UTF-8
 * character boundary. */
#define OA_OCR_TEXT_MAX 64
/* Ceiling on the words of one image (more fail with OA_ELIMIT). */
#define OA_OCR_WORDS_MAX 4096
/* Images narrower than this are scaled x2 before reading. */
#define OA_OCR_UPSCALE_BELOW 640
/* Ceiling on the sides of an image read by OCR. */
#define OA_OCR_SIDE_MAX 8192
/* Default ceiling on the time Tesseract may take over one pass. */
#define OA_OCR_DEADLINE_MS 20000

/* A word read from an image. */
typedef struct oa_ocr_word {
    oa_pixels_rect box;     /* in the input image, padded by 2 px, clipped */
    float confidence;    /* Tesseract's, 0..100 */
    unsigned line;       /* words of one text line share this number */
    char text[OA_OCR_TEXT_MAX];  /* UTF-8, NUL-terminated */
} oa_ocr_word;

/*
 * Create an engine with English language data from `datapath` (the folder
 * holding eng.traineddata; NULL = Tesseract's default: $TESSDATA_PREFIX,
 * else Debian's /usr/share/tesseract-ocr/5/tessdata).  Missing or
 * unreadable language data is OA_EUNSUPPORTED, with a message that says
 * what is missing; nothing else fails but memory (OA_ENOMEM).
 */
oa_status oa_ocr_new(oa_ocr **out, const char *datapath, oa_error *err);

/* Release an engine. NULL-safe. */
void oa_ocr_free(oa_ocr *o);

/*
 * Whether OCR works with the default language data (an engine can be
 * created).  Tried once per process, then remembered; thread-safe.  For
 * GET /anonymizer/info.
 */
bool oa_ocr_available(void);

/* Tesseract's version string ("5.3.0"). */
const char *oa_ocr_version(void);

/*
 * Read the words of an 8-bit grayscale image (`stride` bytes a row).
 * By default (OA_OCR_READ_DEFAULT below) the image is read once as
 * sparse text, inverted when its background is dark (overlays are
 * usually light text on a dark background, which Tesseract reads badly),
 * scaled x2 when narrower than OA_OCR_UPSCALE_BELOW (small overlay
 * fonts), speckle cells filled with the background first, inside a margin
 * of background; then the text lines that pass missed are read one by
 * one.  Boxes are in the input's coordinates; a word read twice may
 * appear twice.  *words (free with oa_ocr_words_free) and *count
 * are set on success; an image with no text gives 0 words.  OA_ELIMIT
 * when a side exceeds OA_OCR_SIDE_MAX, there are more than
 * OA_OCR_WORDS_MAX words, or a pass takes longer than the deadline
 * (partial words are not returned: the caller refuses the image);
 * OA_EIO when Tesseract fails otherwise.
 */
oa_status oa_ocr_words(oa_ocr *o, const uint8_t *gray8, unsigned width,
                       unsigned height, size_t stride, oa_ocr_word **words,
                       size_t *count, oa_error *err);

/*
 * How oa_ocr_words reads an image (a mask; 0 = OA_OCR_READ_DEFAULT), for
 * the benchmark and the tests:
 *  - PLAIN, INVERTED: read the image as it is, inverted, or both;
 *  - POLARITY: instead, read it once, inverted when its background (the
 *    median) is dark, so that text is dark on light as Tesseract wants,
 *    and let Tesseract retry inverted the lines it doubts (mixed
 *    polarity);
 *  - UPSCALE: scale images narrower than OA_OCR_UPSCALE_BELOW by 2
 *    (measured: x2 triples the time of a 640x480 frame and reads no more
 *    of 13 px text, so 640 px wide frames are read as they are);
 *  - DESPECKLE: before reading, fill with the background the 16x16 cells
 *    that are texture rather than text (more than half of their pixels
 *    mid-gray, 48..160): ultrasound speckle is what makes Tesseract slow
 *    and noisy.  Text drawn over such texture is then not read;
 *  - LAYOUT: after the sparse text pass (Tesseract's PSM_SPARSE_TEXT,
 *    which finds the words next to the image), let Tesseract's page
 *    layout (PSM_AUTO, no recognition) find the text lines, and read
 *    alone each line the words read do not cover: lines set close
 *    together are merged and misread by sparse text ("DOE, JOHN" above
 *    "MON GENERAL HOSPITAL" in dcm4che's YBR_FULL-RLE ultrasound).
 */
#define OA_OCR_READ_PLAIN 1u
#define OA_OCR_READ_INVERTED 2u
#define OA_OCR_READ_UPSCALE 4u
#define OA_OCR_READ_POLARITY 8u
#define OA_OCR_READ_DESPECKLE 16u
#define OA_OCR_READ_LAYOUT 32u
#define OA_OCR_READ_DEFAULT \
    (OA_OCR_READ_POLARITY | OA_OCR_READ_UPSCALE | OA_OCR_READ_DESPECKLE | \
     OA_OCR_READ_LAYOUT)
void oa_ocr_set_read(oa_ocr *o, unsigned how);

/* The ceiling on the time of one pass of oa_ocr_words, in milliseconds
 * (default OA_OCR_DEADLINE_MS; 0 = the default). */
void oa_ocr_set_deadline(oa_ocr *o, unsigned ms);

/* Free the words of oa_ocr_words. NULL-safe. */
void oa_ocr_words_free(oa_ocr_word *words);

/* ------------------------------------------------------------------ */
/* Matching                                                             */

/*
 * The identifying values of one instance, as UTF-8 strings (NULL entries
 * and empty strings are skipped):
 *  - names: PN values ("Test^Belle", "Doe^John^^Dr"); every component
 *    (split at '^', '=', spaces, ',') of 2 characters or more is looked for;
 *  - ids: Patient ID, Other Patient IDs, Accession Number, Study ID...;
 *    IDs shorter than 3 characters are ignored (they would match every
 *    label);
 *  - dates: DA values (YYYYMMDD), looked for in the usual spellings
 *    (19570412, 12/04/1957, 04/12/1957, 12.04.1957, 1957-04-12,
 *    1957/04/12, 12-Apr-1957, 12 Apr 1957, Apr 12 1957, 12 April 1957,
 *    12/04/57, 4/12/1957 ...);
 *  - texts: other values shown in overlays (institution, physician's
 *    department...): each word of 4 characters or more is looked for.
 */
typedef struct oa_ocr_needles {
    const char *const *names;
    size_t n_names;
    const char *const *ids;
    size_t n_ids;
    const char *const *dates;
    size_t n_dates;
    const char *const *texts;
    size_t n_texts;
} oa_ocr_needles;

/*
 * The boxes to blank among `words` (one image or the words of several
 * frames of one cine).  Comparisons ignore case, punctuation and spaces,
 * fold accented Latin letters to their base letter, and count the usual
 * OCR confusions as one character: O/0, I/l/1/|, S/5, B/8, Z/2.  Beyond
 * those, a reading may differ from a value by one edit (insertion,
 * deletion, substitution) for names and text words of 5 characters or
 * more, IDs of 6 or more and 8-character date spellings, and by two edits
 * for IDs of 12 or more (in one word; a run of words must spell the value
 * exactly): a misread character must not let a value through, and a near
 * value blanked costs little.
 *  - A name component matches a word one of whose parts (split at
 *    punctuation) is that component, or whose letters contain it (4
 *    characters or more: "TestBelle" when the comma was lost).
 *  - An ID or a date spelling matches a word that contains it, or a run
 *    of up to 4 consecutive words of one line that spells it from its
 *    first word to its last ("CL-285BT-" "1811492"; "12" "Apr" "1957");
 *    an ID also matches a word or run that is part of it: one of its
 *    pieces between punctuation of 3 characters or more, or any 5
 *    consecutive characters.  Date spellings of fewer than 6 characters
 *    ("1/1/88") match a whole word only.
 *  - A text word matches a word one of whose parts is that word.
 * With `strict`, every word that is not on the whitelist of clinical
 * terms (units, modes, probe and measurement words, short numbers; see
 * oa_ocr_whitelisted) is blanked too.
 * *rects (free with oa_free) gets one box per blanked word (the boxes of
 * one word read twice, that overlap by 80% or more, merged into one),
 * *n_rects their number (0 and NULL when none).  OA_ENOMEM only.
 */
oa_status oa_ocr_match(const oa_ocr_word *words, size_t count,
                       const oa_ocr_needles *needles, bool strict,
                       oa_pixels_rect **rects, size_t *n_rects, oa_error *err);

/*
 * Whether strict mode keeps `text` (one OCR word): a clinical term of the
 * whitelist (cm, mm, Hz, MHz, dB, fps, B, PW, Gain, Depth...), a number of
 * at most 3 digits before an optional decimal part ("29", "0.76", "100%"),
 * such a number with a whitelisted unit or one-letter label ("8.5M",
 * "G52", "0.27cm"), or a word with no letter or digit ("-", "+").
 */
bool oa_ocr_whitelisted(const char *text);

/* ------------------------------------------------------------------ */
/* Frames of a cine                                                     */

typedef struct oa_ocr_picker oa_ocr_picker;

/*
 * A picker for a cine of `frames` frames of width x height: feed it the
 * grayscale view of every frame in order and OCR the frames it picks.  It
 * picks the first, middle and last frames, and a frame whose text area
 * changed since the last picked frame.  The change measure: a "glyph
 * edge" is a pixel of 160 or more next to one darker by 80 or more, on
 * its row or its column (the strokes of overlay text; rare in speckle);
 * the frame is cut into 16x16 cells, and it changed when, in a cell, the
 * pixels that are an edge in one frame and not in the other are 6 or
 * more and a quarter of the cell's edges or more (a digit of a clock
 * that turns).  At most `max_picks` frames are picked: one more change
 * fails oa_ocr_picker_feed with OA_ELIMIT (the caller then reads every
 * frame or refuses the instance).
 */
oa_status oa_ocr_picker_new(oa_ocr_picker **out, unsigned width,
                            unsigned height, size_t frames, size_t max_picks,
                            oa_error *err);

/*
 * Feed frame `index` (0, 1, 2 ... in order; OA_EINVAL otherwise): *pick
 * says whether to OCR it.
 */
oa_status oa_ocr_picker_feed(oa_ocr_picker *p, size_t index,
                             const uint8_t *gray8, size_t stride, bool *pick,
                             oa_error *err);

/* Frames picked so far. */
size_t oa_ocr_picker_count(const oa_ocr_picker *p);

/* Release a picker. NULL-safe. */
void oa_ocr_picker_free(oa_ocr_picker *p);

/*
 * The pixel decision's text detection hook (oa_pixels_ocr, pixels.h):
 * find_words reads a frame with oa_ocr_words() on an engine of its own,
 * created at the first frame (`datapath` as oa_ocr_new; NULL: Tesseract's
 * default).  If the engine cannot be made (no language data), every
 * find_words fails with that reason, so risky images are refused.  One
 * hook per thread.  Dispose with oa_ocr_hook_dispose (NULL-safe).
 */
oa_status oa_ocr_hook_init(oa_pixels_ocr *hook, const char *datapath,
                           oa_error *err);
void oa_ocr_hook_dispose(oa_pixels_ocr *hook);

#ifdef __cplusplus
}
#endif
#endif /* OA_PIXELS_H */
