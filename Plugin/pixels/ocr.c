/*
 * pixels/ocr: Tesseract's words, matching them against identifying
 * values, and the frames of a cine worth reading.  See pixels.h, "OCR
 * with Tesseract".
 */
#define _POSIX_C_SOURCE 200809L
#include "pixels.h"

#include <tesseract/capi.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------------ */
/* The engine                                                           */

struct oa_ocr {
    TessBaseAPI *api;
    uint8_t *img;       /* the image handed to Tesseract */
    size_t img_cap;
    uint8_t *work;      /* the input, despeckled */
    size_t work_cap;
    unsigned read;      /* OA_OCR_READ_* */
    unsigned deadline;  /* ms a pass */
    ETEXT_DESC *monitor;
};

void oa_ocr_set_deadline(oa_ocr *o, unsigned ms)
{
    if (o != NULL)
        o->deadline = ms != 0 ? ms : OA_OCR_DEADLINE_MS;
}

void oa_ocr_set_read(oa_ocr *o, unsigned how)
{
    if (o != NULL)
        o->read = how != 0 ? how : OA_OCR_READ_DEFAULT;
}

/* Default language data when neither the caller nor TESSDATA_PREFIX says. */
#define OA_OCR_DEBIAN_TESSDATA "/usr/share/tesseract-ocr/5/tessdata"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static bool init_done;

static bool readable_file(const char *dir, const char *name)
{
    char path[4096];
    FILE *fp;
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= sizeof path)
        return false;
    fp = fopen(path, "rb");
    if (fp == NULL)
        return false;
    fclose(fp);
    return true;
}

oa_status oa_ocr_new(oa_ocr **out, const char *datapath, oa_error *err)
{
    const char *where = datapath;
    oa_ocr *o;

    if (out == NULL)
        return oa_error_set(err, OA_EINVAL, "OCR: no output");
    *out = NULL;
    if (where == NULL || where[0] == '\0') {
        const char *env = getenv("TESSDATA_PREFIX");
        where = env != NULL && env[0] != '\0' ? env : OA_OCR_DEBIAN_TESSDATA;
        datapath = NULL;   /* let Tesseract resolve the same way */
    }
    /* Check first: Tesseract's own failure is a line on stderr. */
    if (!readable_file(where, "eng.traineddata"))
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "OCR unavailable: no Tesseract language data "
                            "eng.traineddata in %s (Debian package "
                            "tesseract-ocr-eng)", where);
    o = oa_calloc(1, sizeof *o);
    if (o == NULL)
        return oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
    /* Engines are created one at a time: Tesseract's global parameters
     * (debug_file) are written once, by the first. */
    pthread_mutex_lock(&init_lock);
    if (!init_done) {
        /* Tesseract's notes ("Estimating resolution as ...") go to
         * stderr, the plugin's log: not there. */
        TessBaseAPI *first = TessBaseAPICreate();
        if (first != NULL) {
            TessBaseAPISetVariable(first, "debug_file", "/dev/null");
            TessBaseAPIDelete(first);
            init_done = true;
        }
    }
    o->api = TessBaseAPICreate();
    if (o->api == NULL) {
        pthread_mutex_unlock(&init_lock);
        oa_free(o);
        return oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
    }
    /* Variables that must be set at initialisation: no dictionary
     * corrections (IDs and names are not English words). */
    char n0[] = "load_system_dawg", n1[] = "load_freq_dawg", zero[] = "0";
    char *names[] = {n0, n1};
    char *values[] = {zero, zero};
    if (TessBaseAPIInit4(o->api, datapath, "eng", OEM_LSTM_ONLY, NULL, 0,
                         names, values, 2, 0) != 0) {
        pthread_mutex_unlock(&init_lock);
        TessBaseAPIDelete(o->api);
        oa_free(o);
        return oa_error_set(err, OA_EUNSUPPORTED,
                            "OCR unavailable: Tesseract could not load the "
                            "language data eng.traineddata from %s", where);
    }
    pthread_mutex_unlock(&init_lock);
    o->read = OA_OCR_READ_DEFAULT;
    o->deadline = OA_OCR_DEADLINE_MS;
    o->monitor = TessMonitorCreate();
    if (o->monitor == NULL) {
        oa_ocr_free(o);
        return oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
    }
    *out = o;
    return OA_OK;
}

void oa_ocr_free(oa_ocr *o)
{
    if (o == NULL)
        return;
    TessBaseAPIEnd(o->api);
    TessBaseAPIDelete(o->api);
    if (o->monitor != NULL)
        TessMonitorDelete(o->monitor);
    oa_free(o->img);
    oa_free(o->work);
    oa_free(o);
}

static pthread_once_t available_once = PTHREAD_ONCE_INIT;
static bool available_result;

static void probe_available(void)
{
    oa_ocr *o = NULL;

    available_result = oa_ocr_new(&o, NULL, NULL) == OA_OK;
    oa_ocr_free(o);
}

bool oa_ocr_available(void)
{
    pthread_once(&available_once, probe_available);
    return available_result;
}

const char *oa_ocr_version(void)
{
    const char *v = TessVersion();
    return v != NULL ? v : "unknown";
}

void oa_ocr_words_free(oa_ocr_word *words)
{
    oa_free(words);
}

/* Copy at most OA_OCR_TEXT_MAX - 1 bytes of `s`, cut on a UTF-8 boundary,
 * without the spaces Tesseract may leave around a word. */
static void copy_text(char *dst, const char *s)
{
    size_t n, len;

    while (*s == ' ' || *s == '\n' || *s == '\t')
        s++;
    len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\n' ||
                       s[len - 1] == '\t'))
        len--;
    n = len < OA_OCR_TEXT_MAX - 1 ? len : OA_OCR_TEXT_MAX - 1;
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Bilinear x2 (scale 2) or a copy (scale 1) of the input (w x h, stride
 * `stride`) into dst (stride dw). */
static void fill_image(uint8_t *dst, size_t dw, const uint8_t *src,
                       unsigned w, unsigned h, size_t stride, unsigned scale)
{
    unsigned x, y;

    if (scale == 1) {
        for (y = 0; y < h; y++)
            memcpy(dst + (size_t)y * dw, src + (size_t)y * stride, w);
        return;
    }
    for (y = 0; y < h; y++) {
        const uint8_t *r0 = src + (size_t)y * stride;
        const uint8_t *r1 = y + 1 < h ? r0 + stride : r0;
        uint8_t *d0 = dst + (size_t)(2 * y) * dw, *d1 = d0 + dw;
        for (x = 0; x < w; x++) {
            unsigned x1 = x + 1 < w ? x + 1 : x;
            unsigned a = r0[x], b = r0[x1], c = r1[x], d = r1[x1];
            d0[2 * x] = (uint8_t)a;
            d0[2 * x + 1] = (uint8_t)((a + b + 1) / 2);
            d1[2 * x] = (uint8_t)((a + c + 1) / 2);
            d1[2 * x + 1] = (uint8_t)((a + b + c + d + 2) / 4);
        }
    }
}

/* Background added around the image handed to Tesseract, in its pixels:
 * Tesseract misses text that touches the border ("DOE, JOHN" 3 px from
 * the top of dcm4che's YBR_FULL-RLE ultrasound). */
#define OCR_MARGIN 16

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One Tesseract pass over o->img (or the rectangle `rect` of it: left,
 * top, width, height); words appended to *words. */
static oa_status read_pass(oa_ocr *o, unsigned sw, unsigned sh,
                           unsigned scale, unsigned w, unsigned h,
                           const int *rect, unsigned line_base,
                           unsigned *lines, oa_ocr_word **words,
                           size_t *count, size_t *cap, oa_error *err)
{
    TessResultIterator *it;
    oa_status st = OA_OK;
    unsigned line = line_base;
    bool first = true;

    TessBaseAPISetImage(o->api, o->img, (int)sw, (int)sh, 1, (int)sw);
    TessBaseAPISetSourceResolution(o->api, 100 * (int)scale);
    if (rect != NULL)
        TessBaseAPISetRectangle(o->api, rect[0], rect[1], rect[2], rect[3]);
    /* The deadline counts from now (Tesseract's ETEXT_DESC). */
    TessMonitorSetDeadlineMSecs(o->monitor, (int)o->deadline);
    double t0 = seconds();
    if (TessBaseAPIRecognize(o->api, o->monitor) != 0) {
        double spent = seconds() - t0;
        TessBaseAPIClear(o->api);
        if (spent * 1000.0 >= o->deadline)
            return oa_error_set(err, OA_ELIMIT, "OCR: reading an image of "
                                "%ux%u took more than %u ms", w, h,
                                o->deadline);
        return oa_error_set(err, OA_EIO, "OCR: Tesseract failed to read "
                            "an image of %ux%u", w, h);
    }
    it = TessBaseAPIGetIterator(o->api);
    if (it == NULL) {          /* no text at all */
        TessBaseAPIClear(o->api);
        *lines = line;
        return OA_OK;
    }
    const TessPageIterator *pit = TessResultIteratorGetPageIteratorConst(it);
    do {
        int l, t, r, b;
        char *text;

        if (!TessPageIteratorBoundingBox(pit, RIL_WORD, &l, &t, &r, &b))
            continue;
        if (!first && TessPageIteratorIsAtBeginningOf(pit, RIL_TEXTLINE))
            line++;
        first = false;
        text = TessResultIteratorGetUTF8Text(it, RIL_WORD);
        if (text == NULL)
            continue;
        if (text[0] == '\0' || text[strspn(text, " \t\n")] == '\0') {
            TessDeleteText(text);
            continue;
        }
        if (*count == OA_OCR_WORDS_MAX) {
            TessDeleteText(text);
            st = oa_error_set(err, OA_ELIMIT, "OCR: more than %d words in "
                              "an image of %ux%u", OA_OCR_WORDS_MAX, w, h);
            break;
        }
        if (*count == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64;
            oa_ocr_word *nw = oa_realloc(*words, ncap * sizeof *nw);
            if (nw == NULL) {
                TessDeleteText(text);
                st = oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
                break;
            }
            *words = nw;
            *cap = ncap;
        }
        oa_ocr_word *wd = &(*words)[(*count)++];
        memset(wd, 0, sizeof *wd);
        copy_text(wd->text, text);
        TessDeleteText(text);
        wd->confidence = TessResultIteratorConfidence(it, RIL_WORD);
        wd->line = line;
        /* Back to input coordinates, padded by 2 px, clipped. */
        long m = OCR_MARGIN;
        long x0 = (l - m) / (long)scale - 2, y0 = (t - m) / (long)scale - 2;
        long x1 = (r - m + (long)scale - 1) / (long)scale + 2;
        long y1 = (b - m + (long)scale - 1) / (long)scale + 2;
        if (x0 < 0)
            x0 = 0;
        if (y0 < 0)
            y0 = 0;
        if (x1 > (long)w)
            x1 = (long)w;
        if (y1 > (long)h)
            y1 = (long)h;
        if (x1 <= x0 || y1 <= y0) {
            (*count)--;
            continue;
        }
        wd->box.x = (unsigned)x0;
        wd->box.y = (unsigned)y0;
        wd->box.w = (unsigned)(x1 - x0);
        wd->box.h = (unsigned)(y1 - y0);
    } while (TessResultIteratorNext(it, RIL_WORD));
    TessResultIteratorDelete(it);
    TessBaseAPIClear(o->api);
    *lines = line + 1;
    return st;
}

/* Ceiling on the text lines of the layout pass re-read one by one. */
#define LAYOUT_LINES_MAX 1024

/*
 * The layout pass: Tesseract's page layout (PSM_AUTO, no recognition)
 * finds the text lines; a line with 6 or more columns of ink that no word
 * read covers is read alone (PSM_SINGLE_LINE).  Lines set close
 * together are what sparse text merges and misreads; reading only the
 * lines it missed costs a fraction of a second full pass.
 */
static oa_status layout_pass(oa_ocr *o, unsigned sw, unsigned sh,
                             unsigned scale, unsigned w, unsigned h,
                             unsigned bg, unsigned *lines,
                             oa_ocr_word **words, size_t *count,
                             size_t *cap, oa_error *err)
{
    int box[LAYOUT_LINES_MAX][4];
    uint8_t cov[OA_OCR_SIDE_MAX];
    size_t nl = 0, i, k;
    oa_status st = OA_OK;

    TessBaseAPISetPageSegMode(o->api, PSM_AUTO);
    TessBaseAPISetImage(o->api, o->img, (int)sw, (int)sh, 1, (int)sw);
    TessBaseAPISetSourceResolution(o->api, 100 * (int)scale);
    TessPageIterator *pit = TessBaseAPIAnalyseLayout(o->api);
    if (pit != NULL) {
        do {
            int l, t, r, b;
            if (!TessPageIteratorBoundingBox(pit, RIL_TEXTLINE, &l, &t, &r,
                                             &b) || r <= l || b <= t)
                continue;
            if (nl == LAYOUT_LINES_MAX) {
                st = oa_error_set(err, OA_ELIMIT, "OCR: more than %d text "
                                  "lines in an image of %ux%u",
                                  LAYOUT_LINES_MAX, w, h);
                break;
            }
            box[nl][0] = l;
            box[nl][1] = t;
            box[nl][2] = r;
            box[nl][3] = b;
            nl++;
        } while (TessPageIteratorNext(pit, RIL_TEXTLINE));
        TessPageIteratorDelete(pit);
    }
    TessBaseAPIClear(o->api);
    TessBaseAPISetPageSegMode(o->api, PSM_SINGLE_LINE);
    size_t before = *count;
    for (i = 0; i < nl && st == OA_OK; i++) {
        /* The line in input coordinates, as the words are. */
        long m = OCR_MARGIN;
        long x0 = (box[i][0] - m) / (long)scale;
        long x1 = (box[i][2] - m + (long)scale - 1) / (long)scale;
        long y0 = (box[i][1] - m) / (long)scale;
        long y1 = (box[i][3] - m + (long)scale - 1) / (long)scale;
        if (x0 < 0)
            x0 = 0;
        if (y0 < 0)
            y0 = 0;
        if (x1 > (long)w)
            x1 = (long)w;
        if (y1 > (long)h)
            y1 = (long)h;
        if (x1 <= x0 || y1 <= y0)
            continue;
        /* The columns of the line that hold ink (differ from the
         * background by 64 or more) and no word read: the gaps between
         * words do not count. */
        memset(cov, 0, (size_t)(x1 - x0));
        for (k = 0; k < before; k++) {
            const oa_pixels_rect *wb = &(*words)[k].box;
            long cy = (long)wb->y + (long)wb->h / 2;
            if (cy < y0 || cy >= y1)
                continue;
            for (long x = (long)wb->x; x < (long)(wb->x + wb->w); x++)
                if (x >= x0 && x < x1)
                    cov[x - x0] = 1;
        }
        long missed = 0;
        for (long x = x0; x < x1; x++) {
            if (cov[x - x0])
                continue;
            for (long y = y0; y < y1; y++) {
                unsigned v = o->work[(size_t)y * w + (size_t)x];
                if ((v > bg ? v - bg : bg - v) >= 64) {
                    missed++;
                    break;
                }
            }
        }
        if (missed < 6)
            continue;
        int pad = 4 * (int)scale;
        int rect[4];
        rect[0] = box[i][0] - pad > 0 ? box[i][0] - pad : 0;
        rect[1] = box[i][1] - pad > 0 ? box[i][1] - pad : 0;
        rect[2] = (box[i][2] + pad < (int)sw ? box[i][2] + pad : (int)sw) -
                  rect[0];
        rect[3] = (box[i][3] + pad < (int)sh ? box[i][3] + pad : (int)sh) -
                  rect[1];
        st = read_pass(o, sw, sh, scale, w, h, rect, *lines, lines, words,
                       count, cap, err);
    }
    TessBaseAPISetPageSegMode(o->api, PSM_SPARSE_TEXT);
    return st;
}

/* Grow *buf to at least `n` bytes. */
static oa_status reserve(uint8_t **buf, size_t *cap, size_t n, oa_error *err)
{
    if (n <= *cap)
        return OA_OK;
    uint8_t *nb = oa_realloc(*buf, n);
    if (nb == NULL)
        return oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
    *buf = nb;
    *cap = n;
    return OA_OK;
}

/* The median of a w x h image (stride w). */
static unsigned median(const uint8_t *g, size_t px)
{
    size_t hist[256] = {0}, i, acc = 0;

    for (i = 0; i < px; i++)
        hist[g[i]]++;
    for (i = 0; i < 256; i++) {
        acc += hist[i];
        if (2 * acc >= px)
            return (unsigned)i;
    }
    return 255;
}

#define DESPECKLE_CELL 16
#define MID_LO 48
#define MID_HI 160

/* Fill with `bg` the cells of `g` (w x h, stride w) more than half of
 * whose pixels are mid-gray: texture, not text on a flat background. */
static void despeckle(uint8_t *g, unsigned w, unsigned h, uint8_t bg)
{
    unsigned cx, cy, x, y;

    for (cy = 0; cy < h; cy += DESPECKLE_CELL)
        for (cx = 0; cx < w; cx += DESPECKLE_CELL) {
            unsigned x1 = cx + DESPECKLE_CELL < w ? cx + DESPECKLE_CELL : w;
            unsigned y1 = cy + DESPECKLE_CELL < h ? cy + DESPECKLE_CELL : h;
            unsigned mid = 0, all = (x1 - cx) * (y1 - cy);
            for (y = cy; y < y1; y++) {
                const uint8_t *r = g + (size_t)y * w;
                for (x = cx; x < x1; x++)
                    mid += r[x] > MID_LO && r[x] < MID_HI;
            }
            if (2 * mid <= all)
                continue;
            for (y = cy; y < y1; y++)
                memset(g + (size_t)y * w + cx, bg, x1 - cx);
        }
}

oa_status oa_ocr_words(oa_ocr *o, const uint8_t *gray8, unsigned width,
                       unsigned height, size_t stride, oa_ocr_word **words,
                       size_t *count, oa_error *err)
{
    oa_ocr_word *list = NULL;
    size_t n = 0, cap = 0, px, i;
    unsigned scale, sw, sh, lines = 0;
    oa_status st;

    if (words == NULL || count == NULL)
        return oa_error_set(err, OA_EINVAL, "OCR: no output");
    *words = NULL;
    *count = 0;
    if (o == NULL || gray8 == NULL || width == 0 || height == 0 ||
        stride < width)
        return oa_error_set(err, OA_EINVAL, "OCR: bad image (%ux%u, "
                            "stride %zu)", width, height, stride);
    if (width > OA_OCR_SIDE_MAX || height > OA_OCR_SIDE_MAX)
        return oa_error_set(err, OA_ELIMIT, "OCR: image of %ux%u exceeds "
                            "%d pixels a side", width, height,
                            OA_OCR_SIDE_MAX);
    /* Tesseract needs a few pixels to lay out a page. */
    if (width < 8 || height < 8)
        return OA_OK;
    scale = width < OA_OCR_UPSCALE_BELOW && (o->read & OA_OCR_READ_UPSCALE) ? 2
                                                                     : 1;
    sw = width * scale + 2 * OCR_MARGIN;
    sh = height * scale + 2 * OCR_MARGIN;
    px = (size_t)sw * sh;
    st = reserve(&o->img, &o->img_cap, px, err);
    if (st == OA_OK)
        st = reserve(&o->work, &o->work_cap, (size_t)width * height, err);
    if (st != OA_OK)
        return st;
    for (i = 0; i < height; i++)
        memcpy(o->work + i * width, gray8 + i * stride, width);
    unsigned bg = median(o->work, (size_t)width * height);
    if (o->read & OA_OCR_READ_DESPECKLE)
        despeckle(o->work, width, height, (uint8_t)bg);
    memset(o->img, (int)bg, px);
    fill_image(o->img + (size_t)OCR_MARGIN * sw + OCR_MARGIN, sw, o->work,
               width, height, width, scale);
    unsigned passes = o->read & (OA_OCR_READ_PLAIN | OA_OCR_READ_INVERTED);
    if (o->read & OA_OCR_READ_POLARITY)
        passes = bg < 128 ? OA_OCR_READ_INVERTED : OA_OCR_READ_PLAIN;
    TessBaseAPISetVariable(o->api, "tessedit_do_invert",
                           (o->read & OA_OCR_READ_POLARITY) ? "1" : "0");
    for (unsigned pol = 0; pol < 2 && st == OA_OK; pol++) {
        unsigned want = pol == 0 ? OA_OCR_READ_PLAIN : OA_OCR_READ_INVERTED;
        if (!(passes & want))
            continue;
        if (pol == 1)
            for (i = 0; i < px; i++)
                o->img[i] = (uint8_t)(255 - o->img[i]);
        TessBaseAPISetPageSegMode(o->api, PSM_SPARSE_TEXT);
        st = read_pass(o, sw, sh, scale, width, height, NULL, lines, &lines,
                       &list, &n, &cap, err);
        if (st == OA_OK && (o->read & OA_OCR_READ_LAYOUT))
            st = layout_pass(o, sw, sh, scale, width, height, bg, &lines,
                             &list, &n, &cap, err);
    }
    if (st != OA_OK) {
        oa_free(list);
        return st;
    }
    *words = list;
    *count = n;
    return OA_OK;
}

/* ------------------------------------------------------------------ */
/* Folding: what "the same text" means here                             */

/* Longest folded string we compare (words are shorter). */
#define FOLD_MAX (OA_OCR_TEXT_MAX * 2)

/* Base letter of U+00C0..U+00FF ('\0' = not a letter). */
static const char latin1_base[64] = {
    'a', 'a', 'a', 'a', 'a', 'a', 'a', 'c', 'e', 'e', 'e', 'e', 'i', 'i',
    'i', 'i', 'd', 'n', 'o', 'o', 'o', 'o', 'o', 0,   'o', 'u', 'u', 'u',
    'u', 'y', 0,   's', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'c', 'e', 'e',
    'e', 'e', 'i', 'i', 'i', 'i', 'd', 'n', 'o', 'o', 'o', 'o', 'o', 0,
    'o', 'u', 'u', 'u', 'u', 'y', 0,   'y'};

/* One character folded: lower case, OCR confusions merged. */
static char fold_char(char c)
{
    c = (char)tolower((unsigned char)c);
    switch (c) {
    case 'o': return '0';
    case 'i': case 'l': case '|': return '1';
    case 's': return '5';
    case 'b': return '8';
    case 'z': return '2';
    default: return c;
    }
}

/*
 * Decode the next character of UTF-8 `s` as ASCII: a letter or digit
 * (accents dropped, '|' kept as the confusable 1), or ' ' for anything
 * else (punctuation, spaces, other scripts).  Returns bytes consumed.
 */
static size_t next_ascii(const char *s, char *out)
{
    unsigned char c = (unsigned char)s[0];

    if (c < 0x80) {
        *out = (isalnum(c) || c == '|') ? (char)c : ' ';
        return 1;
    }
    if ((c == 0xC3) && ((unsigned char)s[1] & 0xC0) == 0x80) {
        unsigned cp = 0xC0 + ((unsigned char)s[1] & 0x3F);
        char b = latin1_base[cp - 0xC0];
        *out = b ? b : ' ';
        return 2;
    }
    if (c == 0xC2 && ((unsigned char)s[1] == 0xB2 ||
                      (unsigned char)s[1] == 0xB3)) {   /* superscript 2/3 */
        *out = (unsigned char)s[1] == 0xB2 ? '2' : '3';
        return 2;
    }
    /* Skip one whole multi-byte character (or one stray byte). */
    size_t n = 1;
    while (s[n] != '\0' && ((unsigned char)s[n] & 0xC0) == 0x80 && n < 4)
        n++;
    *out = ' ';
    return n;
}

/* Fold `s` into `out`: its letters and digits only, folded (lower case,
 * OCR confusions merged); returns the folded length. */
static size_t fold(const char *s, char *out, size_t out_size)
{
    size_t n = 0;

    while (*s != '\0' && n + 1 < out_size) {
        char c;
        s += next_ascii(s, &c);
        if (c != ' ')
            out[n++] = fold_char(c);
    }
    out[n] = '\0';
    return n;
}

/* The parts of `s` split at non-alphanumerics, folded; at most `max`. */
static size_t fold_parts(const char *s, char parts[][FOLD_MAX], size_t max)
{
    size_t np = 0, n = 0;

    while (np < max) {
        char c = ' ';
        bool end = *s == '\0';
        if (!end)
            s += next_ascii(s, &c);
        if (c != ' ') {
            if (n + 1 < FOLD_MAX)
                parts[np][n++] = fold_char(c);
            continue;
        }
        if (n > 0) {
            parts[np][n] = '\0';
            np++;
            n = 0;
        }
        if (end)
            break;
    }
    return np;
}

/* Levenshtein distance of a and b, stopping above `limit`. */
static size_t edit_distance(const char *a, size_t la, const char *b,
                            size_t lb, size_t limit)
{
    size_t prev[FOLD_MAX + 1], cur[FOLD_MAX + 1], i, j;

    if (la > FOLD_MAX || lb > FOLD_MAX)
        return limit + 1;
    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        size_t best;
        cur[0] = i;
        best = cur[0];
        for (j = 1; j <= lb; j++) {
            size_t d = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            cur[j] = d;
            if (d < best)
                best = d;
        }
        if (best > limit)
            return limit + 1;
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

/* Edits tolerated between a needle of `len` characters and a reading. */
static size_t tolerance(size_t len)
{
    return len >= 12 ? 2 : len >= 6 ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* Needles                                                              */

typedef enum needle_kind {
    N_NAME,      /* a name component: equal part, or contained (>= 4) */
    N_ID,        /* a whole ID: contained in a word or a run */
    N_ID_PIECE,  /* a piece of an ID: equal part / word */
    N_DATE,      /* a date spelling: contained (>= 6) or equal */
    N_TEXT       /* a word of a free text: equal part */
} needle_kind;

typedef struct needle {
    needle_kind kind;
    size_t len;
    char s[FOLD_MAX];
} needle;

typedef struct needle_set {
    needle *v;
    size_t n, cap;
} needle_set;

/* Ceiling on the needles of one instance. */
#define NEEDLES_MAX 4096

static oa_status add_needle(needle_set *set, needle_kind kind,
                            const char *folded, size_t len, oa_error *err)
{
    size_t i;

    if (len == 0 || len >= FOLD_MAX)
        return OA_OK;
    for (i = 0; i < set->n; i++)
        if (set->v[i].kind == kind && strcmp(set->v[i].s, folded) == 0)
            return OA_OK;
    if (set->n == NEEDLES_MAX)
        return oa_error_set(err, OA_ELIMIT, "OCR: more than %d values to "
                            "look for", NEEDLES_MAX);
    if (set->n == set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 32;
        needle *nv = oa_realloc(set->v, ncap * sizeof *nv);
        if (nv == NULL)
            return oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
        set->v = nv;
        set->cap = ncap;
    }
    needle *nd = &set->v[set->n++];
    nd->kind = kind;
    nd->len = len;
    memcpy(nd->s, folded, len + 1);
    return OA_OK;
}

/* Fold a raw spelling and add it. */
static oa_status add_spelling(needle_set *set, needle_kind kind,
                              const char *raw, oa_error *err)
{
    char f[FOLD_MAX];
    size_t len = fold(raw, f, sizeof f);
    return add_needle(set, kind, f, len, err);
}

/* Add every part (split at punctuation, '^', '=', spaces) of `value`
 * that has at least `min_len` folded characters. */
static oa_status add_parts(needle_set *set, needle_kind kind,
                           const char *value, size_t min_len, oa_error *err)
{
    char parts[32][FOLD_MAX];
    size_t np, i;
    oa_status st;

    np = fold_parts(value, parts, 32);
    for (i = 0; i < np; i++) {
        size_t len = strlen(parts[i]);
        if (len < min_len)
            continue;
        st = add_needle(set, kind, parts[i], len, err);
        if (st != OA_OK)
            return st;
    }
    return OA_OK;
}

static const char *const month_abbr[12] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const month_full[12] = {
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December"};

/* The spellings of a DA value (the first 8 digits of `da`). */
static oa_status add_date(needle_set *set, const char *da, oa_error *err)
{
    char d8[9], buf[64];
    size_t n = 0;
    oa_status st = OA_OK;

    for (; *da != '\0' && n < 8; da++)
        if (isdigit((unsigned char)*da))
            d8[n++] = *da;
        else if (*da != '.' && *da != ' ')   /* ACR-NEMA 1957.04.12 */
            break;
    if (n != 8)
        return OA_OK;
    d8[8] = '\0';
    unsigned y = (unsigned)(d8[0] - '0') * 1000u +
                 (unsigned)(d8[1] - '0') * 100u +
                 (unsigned)(d8[2] - '0') * 10u + (unsigned)(d8[3] - '0');
    int m = (d8[4] - '0') * 10 + (d8[5] - '0');
    int d = (d8[6] - '0') * 10 + (d8[7] - '0');
    if (m < 1 || m > 12 || d < 1 || d > 31)
        return OA_OK;
    const char *ab = month_abbr[m - 1], *fu = month_full[m - 1];
    char dd[2][4], mm[2][4], yy[2][12];
    snprintf(dd[0], sizeof dd[0], "%02d", d);
    snprintf(dd[1], sizeof dd[1], "%d", d);
    snprintf(mm[0], sizeof mm[0], "%02d", m);
    snprintf(mm[1], sizeof mm[1], "%d", m);
    snprintf(yy[0], sizeof yy[0], "%04u", y);
    snprintf(yy[1], sizeof yy[1], "%02u", y % 100);
    /* Numeric: D M Y, M D Y, Y M D; padded or not; 4- or 2-digit year.
     * Separators do not matter once folded (/ . - and spaces). */
    for (int a = 0; a < 2 && st == OA_OK; a++)
        for (int b = 0; b < 2 && st == OA_OK; b++)
            for (int c = 0; c < 2 && st == OA_OK; c++) {
                snprintf(buf, sizeof buf, "%s/%s/%s", dd[a], mm[b], yy[c]);
                st = add_spelling(set, N_DATE, buf, err);
                if (st == OA_OK) {
                    snprintf(buf, sizeof buf, "%s/%s/%s", mm[b], dd[a],
                             yy[c]);
                    st = add_spelling(set, N_DATE, buf, err);
                }
                if (st == OA_OK) {
                    snprintf(buf, sizeof buf, "%s-%s-%s", yy[c], mm[b],
                             dd[a]);
                    st = add_spelling(set, N_DATE, buf, err);
                }
            }
    /* With the month's name: 12-Apr-1957, 12 April 1957, Apr 12 1957,
     * April 12, 1957, 1957-Apr-12. */
    for (int a = 0; a < 2 && st == OA_OK; a++)
        for (int c = 0; c < 2 && st == OA_OK; c++)
            for (int k = 0; k < 2 && st == OA_OK; k++) {
                const char *mo = k == 0 ? ab : fu;
                snprintf(buf, sizeof buf, "%s-%s-%s", dd[a], mo, yy[c]);
                st = add_spelling(set, N_DATE, buf, err);
                if (st == OA_OK) {
                    snprintf(buf, sizeof buf, "%s %s, %s", mo, dd[a], yy[c]);
                    st = add_spelling(set, N_DATE, buf, err);
                }
                if (st == OA_OK) {
                    snprintf(buf, sizeof buf, "%s-%s-%s", yy[c], mo, dd[a]);
                    st = add_spelling(set, N_DATE, buf, err);
                }
            }
    return st;
}

static oa_status build_needles(const oa_ocr_needles *nd, needle_set *set,
                               oa_error *err)
{
    size_t i;
    oa_status st = OA_OK;

    if (nd == NULL)
        return OA_OK;
    for (i = 0; i < nd->n_names && st == OA_OK; i++)
        if (nd->names[i] != NULL)
            st = add_parts(set, N_NAME, nd->names[i], 2, err);
    for (i = 0; i < nd->n_ids && st == OA_OK; i++) {
        char f[FOLD_MAX];
        size_t len;
        if (nd->ids[i] == NULL)
            continue;
        len = fold(nd->ids[i], f, sizeof f);
        if (len < 3)
            continue;
        st = add_needle(set, N_ID, f, len, err);
        if (st == OA_OK)
            st = add_parts(set, N_ID_PIECE, nd->ids[i], 3, err);
    }
    for (i = 0; i < nd->n_dates && st == OA_OK; i++)
        if (nd->dates[i] != NULL)
            st = add_date(set, nd->dates[i], err);
    for (i = 0; i < nd->n_texts && st == OA_OK; i++)
        if (nd->texts[i] != NULL)
            st = add_parts(set, N_TEXT, nd->texts[i], 4, err);
    return st;
}

/* ------------------------------------------------------------------ */
/* Matching                                                             */

/*
 * Whether `n` occurs in the run `s` (len characters) in an occurrence that
 * starts in its first word (`first` characters) and ends in its last
 * (`last` characters): a longer run would blank its neighbours too.
 */
static bool occurs_spanning(const char *s, size_t len, size_t first,
                            size_t last, const needle *n)
{
    const char *p = s;

    while ((p = strstr(p, n->s)) != NULL) {
        size_t at = (size_t)(p - s);
        if (at < first && at + n->len > len - last)
            return true;
        if (at >= first)
            return false;
        p++;
    }
    return false;
}

/* Whether the folded string `s` (one word, or a run whose first and last
 * words have `first` and `last` characters) shows needle `n`. */
static bool run_matches(const needle *n, const char *s, size_t len,
                        bool single, size_t first, size_t last)
{
    switch (n->kind) {
    case N_NAME:
        if (!single)
            return false;
        return n->len >= 4 && strstr(s, n->s) != NULL;
    case N_ID:
        if (single ? strstr(s, n->s) != NULL
                   : occurs_spanning(s, len, first, last, n))
            return true;
        /* A part of the ID: 5 consecutive characters or more. */
        if (len >= 5 && len < n->len && strstr(n->s, s) != NULL)
            return true;
        /* Misread characters: in one word only (a run one word too long
         * would be within the tolerance too). */
        return single &&
               edit_distance(s, len, n->s, n->len, tolerance(n->len)) <=
                   tolerance(n->len);
    case N_DATE:
        if (n->len < 6)
            return len == n->len && strcmp(s, n->s) == 0;
        if (single ? strstr(s, n->s) != NULL
                   : occurs_spanning(s, len, first, last, n))
            return true;
        return single && len >= 6 &&
               edit_distance(s, len, n->s, n->len, n->len >= 8 ? 1 : 0) <=
                   (n->len >= 8 ? 1u : 0u);
    case N_ID_PIECE:
    case N_TEXT:
        return false;
    }
    return false;
}

/* Whether a part of a word (folded, split at punctuation) shows `n`. */
static bool part_matches(const needle *n, const char *part, size_t len)
{
    switch (n->kind) {
    case N_NAME:
    case N_TEXT:
        if (len == n->len && strcmp(part, n->s) == 0)
            return true;
        return n->len >= 5 && edit_distance(part, len, n->s, n->len, 1) <= 1;
    case N_ID_PIECE:
        return len == n->len && strcmp(part, n->s) == 0;
    case N_ID:
    case N_DATE:
        return false;
    }
    return false;
}

static bool word_matches(const needle_set *set, const oa_ocr_word *w)
{
    char whole[FOLD_MAX], parts[16][FOLD_MAX];
    size_t len = fold(w->text, whole, sizeof whole), np, i, k;

    if (len == 0)
        return false;
    np = fold_parts(w->text, parts, 16);
    for (k = 0; k < set->n; k++) {
        const needle *n = &set->v[k];
        if (run_matches(n, whole, len, true, len, len))
            return true;
        for (i = 0; i < np; i++)
            if (part_matches(n, parts[i], strlen(parts[i])))
                return true;
    }
    return false;
}

/* Longest run of consecutive words of a line tried as one text. */
#define RUN_MAX 4

static oa_status add_rect(oa_pixels_rect **rects, size_t *n, size_t *cap,
                          oa_pixels_rect r, oa_error *err)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        oa_pixels_rect *q = &(*rects)[i];
        unsigned ix0 = r.x > q->x ? r.x : q->x, iy0 = r.y > q->y ? r.y : q->y;
        unsigned ix1 = r.x + r.w < q->x + q->w ? r.x + r.w : q->x + q->w;
        unsigned iy1 = r.y + r.h < q->y + q->h ? r.y + r.h : q->y + q->h;
        if (ix1 <= ix0 || iy1 <= iy0)
            continue;
        uint64_t inter = (uint64_t)(ix1 - ix0) * (iy1 - iy0);
        uint64_t ar = (uint64_t)r.w * r.h, aq = (uint64_t)q->w * q->h;
        if (inter * 5 < 4 * (ar < aq ? ar : aq))
            continue;
        /* The same word read twice: one box, their union. */
        unsigned x1 = r.x + r.w > q->x + q->w ? r.x + r.w : q->x + q->w;
        unsigned y1 = r.y + r.h > q->y + q->h ? r.y + r.h : q->y + q->h;
        q->x = r.x < q->x ? r.x : q->x;
        q->y = r.y < q->y ? r.y : q->y;
        q->w = x1 - q->x;
        q->h = y1 - q->y;
        return OA_OK;
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        oa_pixels_rect *nr = oa_realloc(*rects, ncap * sizeof *nr);
        if (nr == NULL)
            return oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
        *rects = nr;
        *cap = ncap;
    }
    (*rects)[(*n)++] = r;
    return OA_OK;
}

oa_status oa_ocr_match(const oa_ocr_word *words, size_t count,
                       const oa_ocr_needles *needles, bool strict,
                       oa_pixels_rect **rects, size_t *n_rects, oa_error *err)
{
    needle_set set = {0};
    bool *hit = NULL;
    oa_pixels_rect *out = NULL;
    size_t n = 0, cap = 0, i, j, k;
    oa_status st;

    if (rects == NULL || n_rects == NULL)
        return oa_error_set(err, OA_EINVAL, "OCR: no output");
    *rects = NULL;
    *n_rects = 0;
    if (count == 0)
        return OA_OK;
    if (words == NULL)
        return oa_error_set(err, OA_EINVAL, "OCR: no words");
    st = build_needles(needles, &set, err);
    if (st != OA_OK)
        goto done;
    hit = oa_calloc(count, sizeof *hit);
    if (hit == NULL) {
        st = oa_error_set(err, OA_ENOMEM, "OCR: out of memory");
        goto done;
    }
    for (i = 0; i < count; i++) {
        if (!hit[i])
            hit[i] = word_matches(&set, &words[i]) ||
                     (strict && !oa_ocr_whitelisted(words[i].text));
        /* Runs of 2..RUN_MAX words of one line read as one text. */
        char run[FOLD_MAX];
        size_t len = fold(words[i].text, run, sizeof run), first = len;
        for (j = i + 1; j < count && j < i + RUN_MAX; j++) {
            if (words[j].line != words[i].line)
                break;
            size_t last = fold(words[j].text, run + len, sizeof run - len);
            len += last;
            if (len + 1 >= sizeof run)
                break;
            if (first == 0 || last == 0)
                continue;
            for (k = 0; k < set.n; k++)
                if (run_matches(&set.v[k], run, len, false, first, last))
                    break;
            if (k < set.n)
                for (size_t m = i; m <= j; m++)
                    hit[m] = true;
        }
    }
    for (i = 0; i < count && st == OA_OK; i++)
        if (hit[i])
            st = add_rect(&out, &n, &cap, words[i].box, err);
    if (st != OA_OK) {
        oa_free(out);
        goto done;
    }
    *rects = out;
    *n_rects = n;
done:
    oa_free(hit);
    oa_free(set.v);
    return st;
}

/* ------------------------------------------------------------------ */
/* Strict mode's whitelist                                              */

/*
 * Clinical terms shown on ultrasound, endoscopy and screen captures that
 * identify nobody: units, modes, controls, probe and measurement words,
 * sides.  Lower case, compared without punctuation.
 */
static const char *const clinical_terms[] = {
    /* units */
    "m", "cm", "mm", "um", "km", "s", "ms", "us", "min", "h", "hz", "khz",
    "mhz", "db", "fps", "bpm", "ml", "cc", "l", "g", "kg", "mmhg", "cm2",
    "cm3", "mm2", "mm3", "m2", "cms", "mms", "ms2", "deg", "mv", "kv",
    "kvp", "ma", "mas", "mgy", "gy", "cgy", "mgycm", "dlp", "ctdi",
    "ctdivol", "msv", "sv", "bq", "mbq", "mci", "suv", "hu", "ww", "wl",
    "wc", "c", "w", "x",
    /* modes and controls */
    "b", "2d", "3d", "4d", "mode", "pw", "cw", "cf", "cfm", "pd", "pdi",
    "color", "colour", "doppler", "power", "pwr", "gain", "gn", "depth",
    "dep", "freq", "frq", "frequency", "focus", "zoom", "dr", "dyn",
    "dynamic", "range", "fr", "frame", "rate", "persist", "persistence",
    "map", "mi", "ti", "tis", "tib", "tic", "ap", "prf", "wf", "wall",
    "filter", "sv", "angle", "res", "gen", "pen", "thi", "harmonic",
    "harm", "compound", "iclear", "ibeam", "speckle", "tissue", "flow",
    "scale", "baseline", "invert", "live", "frozen", "freeze", "cine",
    "elasto", "elastography", "contrast", "bmode", "mmode", "ratio",
    "auto", "iq", "opt", "preset", "probe", "lin", "linear", "convex",
    "phased", "array", "sector", "tv", "ev", "tr", "te", "tl", "fov",
    "slice", "thk", "thickness", "spacing", "pitch", "kernel", "series",
    "image", "img", "im", "se", "ser", "acq", "ax", "sag", "cor",
    "axial", "sagittal", "coronal", "oblique", "trans", "long", "transverse",
    "longitudinal",
    /* exams and anatomy */
    "abd", "abdomen", "ob", "gyn", "obgyn", "cardiac", "card", "echo",
    "vascular", "vasc", "thyroid", "breast", "msk", "renal", "kidney",
    "liver", "bladder", "uterus", "ovary", "follicle", "carotid", "cca",
    "ica", "eca", "prostate", "testis", "heart", "lv", "rv", "la", "ra",
    "av", "mv", "pv", "ivc", "aorta", "endo", "fetal", "fetus", "head",
    "neck", "chest", "pelvis", "spine", "knee", "hip", "shoulder", "hand",
    "foot", "arm", "leg", "lung", "uro",
    /* sides and positions */
    "rt", "lt", "right", "left", "r", "a", "p", "f", "hf", "ff", "sup",
    "inf", "ant", "post", "lat", "med", "prox", "dist", "mid", "upper",
    "lower", "top", "bottom", "supine", "prone",
    /* measurements */
    "vol", "volume", "area", "circ", "length", "len", "width", "height",
    "diam", "dia", "d", "md", "hr", "ef", "fs", "avg", "mean", "max", "min",
    "peak", "vel", "velocity", "pi", "ri", "psv", "edv", "tamax", "tamean",
    "vti", "ga", "edd", "bpd", "hc", "ac", "fl", "crl", "efw", "afi",
    "dist", "dst", "calc", "measure", "meas", "report", "total", "sd",
    "std", "no", "nr", "of", "to", "and", "at", "in", "on", "by", "per",
    "z", "t", "v", "e", "n", "k", "y"};

static bool clinical_term(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof clinical_terms / sizeof clinical_terms[0]; i++)
        if (strlen(clinical_terms[i]) == len &&
            memcmp(clinical_terms[i], s, len) == 0)
            return true;
    return false;
}

/* A letters-only label: a clinical term or one letter. */
static bool label_ok(const char *s, size_t len)
{
    return len == 1 || clinical_term(s, len);
}

bool oa_ocr_whitelisted(const char *text)
{
    char t[FOLD_MAX];
    size_t n = 0, i = 0, a, digits, frac;
    const char *s = text;

    if (text == NULL)
        return true;
    /* Lower case; keep the characters a number may hold ('.', ',', '%',
     * '+', '-') and drop the rest of the punctuation. */
    while (*s != '\0' && n + 1 < sizeof t) {
        char c;
        unsigned char raw = (unsigned char)*s;
        size_t used = next_ascii(s, &c);
        if (c == '|')
            c = ' ';
        if (c == ' ' && raw < 0x80 &&
            (raw == '.' || raw == ',' || raw == '%' || raw == '+' ||
             raw == '-'))
            c = (char)raw;
        s += used;
        if (c != ' ')
            t[n++] = (char)tolower((unsigned char)c);
    }
    t[n] = '\0';
    /* Trailing and leading punctuation of a word ("cm,", "(R)"). */
    while (n > 0 && (t[n - 1] == '.' || t[n - 1] == ',' || t[n - 1] == '-'))
        t[--n] = '\0';
    size_t start = 0;
    while (start < n && (t[start] == '.' || t[start] == ','))
        start++;
    bool alnum = false;
    for (i = start; i < n; i++)
        if (isalnum((unsigned char)t[i]))
            alnum = true;
    if (!alnum)
        return true;           /* no letter nor digit: shows nothing */
    i = start;
    /* [label][number][unit] */
    a = i;
    while (i < n && isalpha((unsigned char)t[i]))
        i++;
    size_t pre = i - a;
    if (pre > 0 && !label_ok(t + a, pre)) {
        /* "Follicle1" read "Folliclel": a final l or i for a 1. */
        if (pre > 2 && i == n && (t[i - 1] == 'l' || t[i - 1] == 'i') &&
            clinical_term(t + a, pre - 1))
            return true;
        return false;
    }
    if (i == n)
        return pre > 0;
    if (t[i] == '+' || t[i] == '-')
        i++;
    digits = 0;
    while (i < n && isdigit((unsigned char)t[i]))
        i++, digits++;
    if (digits == 0 || digits > 3)
        return false;
    if (i < n && (t[i] == '.' || t[i] == ',')) {
        i++;
        frac = 0;
        while (i < n && isdigit((unsigned char)t[i]))
            i++, frac++;
        if (frac == 0 || frac > 2)
            return false;
    }
    if (i < n && t[i] == '%')
        i++;
    a = i;
    while (i < n && isalpha((unsigned char)t[i]))
        i++;
    if (i != n)
        return false;
    return i == a || label_ok(t + a, i - a);
}

/* ------------------------------------------------------------------ */
/* Frames of a cine                                                     */

#define CELL 16
#define EDGE_BRIGHT 160
#define EDGE_STEP 80
#define CHANGE_MIN 6

struct oa_ocr_picker {
    unsigned width, height;
    size_t frames, max_picks, picks, next;
    bool have_ref;
    uint8_t *ref;       /* glyph edges of the last picked frame (0/1) */
    uint8_t *cur;       /* glyph edges of the frame fed */
};

oa_status oa_ocr_picker_new(oa_ocr_picker **out, unsigned width,
                            unsigned height, size_t frames, size_t max_picks,
                            oa_error *err)
{
    oa_ocr_picker *p;
    size_t cells;

    if (out == NULL)
        return oa_error_set(err, OA_EINVAL, "OCR frames: no output");
    *out = NULL;
    if (width == 0 || height == 0 || frames == 0 ||
        width > OA_OCR_SIDE_MAX || height > OA_OCR_SIDE_MAX)
        return oa_error_set(err, OA_EINVAL, "OCR frames: bad cine (%ux%u, "
                            "%zu frames)", width, height, frames);
    if (max_picks < (frames < 3 ? frames : 3))
        return oa_error_set(err, OA_EINVAL, "OCR frames: at least 3 frames "
                            "must be allowed, not %zu", max_picks);
    p = oa_calloc(1, sizeof *p);
    if (p == NULL)
        return oa_error_set(err, OA_ENOMEM, "OCR frames: out of memory");
    p->width = width;
    p->height = height;
    p->frames = frames;
    p->max_picks = max_picks;
    cells = (size_t)width * height;
    p->ref = oa_calloc(cells, 1);
    p->cur = oa_calloc(cells, 1);
    if (p->ref == NULL || p->cur == NULL) {
        oa_ocr_picker_free(p);
        return oa_error_set(err, OA_ENOMEM, "OCR frames: out of memory");
    }
    *out = p;
    return OA_OK;
}

void oa_ocr_picker_free(oa_ocr_picker *p)
{
    if (p == NULL)
        return;
    oa_free(p->ref);
    oa_free(p->cur);
    oa_free(p);
}

size_t oa_ocr_picker_count(const oa_ocr_picker *p)
{
    return p != NULL ? p->picks : 0;
}

/* A glyph edge between two neighbours: one bright, the other much darker. */
static inline bool glyph_edge(unsigned a, unsigned b)
{
    unsigned hi = a > b ? a : b, lo = a > b ? b : a;
    return hi >= EDGE_BRIGHT && hi - lo >= EDGE_STEP;
}

static void edge_map(const oa_ocr_picker *p, const uint8_t *g,
                     size_t stride, uint8_t *map)
{
    unsigned x, y;

    for (y = 0; y < p->height; y++) {
        const uint8_t *r = g + (size_t)y * stride;
        const uint8_t *below = y + 1 < p->height ? r + stride : NULL;
        uint8_t *m = map + (size_t)y * p->width;
        for (x = 0; x < p->width; x++)
            m[x] = (x + 1 < p->width && glyph_edge(r[x], r[x + 1])) ||
                   (below != NULL && glyph_edge(r[x], below[x]));
    }
}

/* Whether a cell's glyph edges moved: the edges present in one frame and
 * not the other are CHANGE_MIN or more, and a quarter of the cell's
 * edges or more. */
static bool changed(const oa_ocr_picker *p)
{
    unsigned cx, cy, x, y;

    for (cy = 0; cy < p->height; cy += CELL)
        for (cx = 0; cx < p->width; cx += CELL) {
            unsigned x1 = cx + CELL < p->width ? cx + CELL : p->width;
            unsigned y1 = cy + CELL < p->height ? cy + CELL : p->height;
            unsigned a = 0, b = 0, d = 0;
            for (y = cy; y < y1; y++) {
                const uint8_t *r = p->ref + (size_t)y * p->width;
                const uint8_t *c = p->cur + (size_t)y * p->width;
                for (x = cx; x < x1; x++) {
                    a += r[x];
                    b += c[x];
                    d += r[x] != c[x];
                }
            }
            unsigned m = a > b ? a : b;
            if (d >= CHANGE_MIN && 4 * d >= m)
                return true;
        }
    return false;
}

oa_status oa_ocr_picker_feed(oa_ocr_picker *p, size_t index,
                             const uint8_t *gray8, size_t stride, bool *pick,
                             oa_error *err)
{
    bool must;

    if (pick == NULL || p == NULL)
        return oa_error_set(err, OA_EINVAL, "OCR frames: no picker");
    *pick = false;
    if (gray8 == NULL || stride < p->width)
        return oa_error_set(err, OA_EINVAL, "OCR frames: bad frame %zu",
                            index);
    if (index != p->next || index >= p->frames)
        return oa_error_set(err, OA_EINVAL, "OCR frames: frame %zu fed, "
                            "%zu expected", index, p->next);
    p->next++;
    edge_map(p, gray8, stride, p->cur);
    must = index == 0 || index == p->frames / 2 || index + 1 == p->frames;
    if (!must && !(p->have_ref && changed(p)))
        return OA_OK;
    if (p->picks == p->max_picks)
        return oa_error_set(err, OA_ELIMIT, "OCR frames: the text area "
                            "changes in more than %zu of %zu frames",
                            p->max_picks, p->frames);
    p->picks++;
    uint8_t *t = p->ref;
    p->ref = p->cur;
    p->cur = t;
    p->have_ref = true;
    *pick = true;
    return OA_OK;
}
