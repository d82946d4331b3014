/*
 * pixels/ocr: text found in pixels with Tesseract (its C API,
 * tesseract/capi.h), matched against the identifying values of an
 * instance, and the choice of frames to read in a cine.
 *
 * (A temporary header of the pixels module: its declarations move into
 * pixels/pixels.h when the module is merged.)
 *
 * The pipeline of one instance:
 *   1. oa_ocr_gray8() makes an 8-bit grayscale view of a frame from its
 *      native layout (monochrome 1/8/16 bits windowed to its min/max,
 *      MONOCHROME1 inverted, RGB/YBR luma, planar 0/1);
 *   2. for a cine, an oa_ocr_picker chooses the frames to read (first,
 *      middle, last, and the frames whose text area changed);
 *   3. oa_ocr_words() reads the words of each chosen frame, with their
 *      boxes in the frame's coordinates;
 *   4. oa_ocr_match() keeps the boxes of the words that show an
 *      identifying value (or, strict, every word not on a whitelist of
 *      clinical terms); the caller blanks the union on every frame.
 *
 * This module knows nothing of Orthanc or DICOM parsing: the caller hands
 * it pixel buffers, their layout, and the values to look for.
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
#ifndef OA_PIXELS_OCR_H
#define OA_PIXELS_OCR_H

#include "../core/core.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Grayscale views                                                      */

/* A rectangle in pixels, x/y of the top-left corner. */
typedef struct oa_ocr_rect {
    unsigned x, y, w, h;
} oa_ocr_rect;

typedef enum oa_ocr_photometric {
    OA_OCR_MONOCHROME1,   /* 0 = white: inverted for OCR */
    OA_OCR_MONOCHROME2,
    OA_OCR_RGB,
    OA_OCR_YBR_FULL,      /* luma = the Y sample */
    OA_OCR_YBR_FULL_422   /* Y0 Y1 Cb Cr per pair of pixels */
} oa_ocr_photometric;

/*
 * One frame in its native (uncompressed) layout.  `data` holds at least
 * the bytes of one frame (checked against `size`); 16-bit samples are
 * little endian.  Monochrome samples are `bits_stored` bits of a word of
 * `bits_allocated` (1, 8 or 16) bits, low bits first (high bit =
 * bits_stored - 1), signed when `is_signed`; colour is 8 bits a sample
 * with `samples` = 3, `planar` 0 (R G B R G B ...) or 1 (R...R G...G
 * B...B).  1-bit frames are packed little-endian bit first and may start
 * at bit `bit_offset` of data[0] (1-bit frames of a cine do not start on
 * a byte).
 */
typedef struct oa_ocr_frame {
    const uint8_t *data;
    size_t size;
    unsigned width, height;
    unsigned samples;          /* 1 or 3 */
    unsigned bits_allocated;   /* 1, 8 or 16 */
    unsigned bits_stored;      /* 1..bits_allocated */
    bool is_signed;
    unsigned planar;           /* 0 or 1, colour only */
    unsigned bit_offset;       /* 0..7, 1-bit frames only */
    oa_ocr_photometric photometric;
} oa_ocr_frame;

/* Bytes of one frame in this layout (0 on a bad layout or overflow). */
size_t oa_ocr_frame_bytes(const oa_ocr_frame *f);

/*
 * Write the 8-bit grayscale view of `f` into `out` (width * height bytes,
 * stride = width): monochrome values linearly windowed from the frame's
 * minimum and maximum to 0..255 (MONOCHROME1 inverted, so text keeps its
 * polarity on screen), colour as luma (Y of YBR, Rec. 601 weights of RGB).
 * OA_EINVAL on a layout we do not describe, OA_EPARSE when `size` is
 * smaller than the frame.
 */
oa_status oa_ocr_gray8(const oa_ocr_frame *f, uint8_t *out, oa_error *err);

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
    oa_ocr_rect box;     /* in the input image, padded by 2 px, clipped */
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
                       oa_ocr_rect **rects, size_t *n_rects, oa_error *err);

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
struct oa_pixels_ocr;
oa_status oa_ocr_hook_init(struct oa_pixels_ocr *hook, const char *datapath,
                           oa_error *err);
void oa_ocr_hook_dispose(struct oa_pixels_ocr *hook);

#ifdef __cplusplus
}
#endif

#endif /* OA_PIXELS_OCR_H */
