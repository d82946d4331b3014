/*
 * The OCR module (ocr.c, Tesseract) as the pixel decision's text
 * detection hook (oa_pixels_ocr in pixels.h): the decision picks the
 * frames, gives each as 8-bit grayscale, and matches the words against the
 * instance's identifying values (oa_ocr_match); the hook only reads words.
 *
 * The Tesseract engine is created at the first frame to read, not with
 * the hook: starting it costs about 0.1 s of CPU, which a job of CT images
 * without burned-in text risk should not pay.
 */
#include "pixels.h"

#include <stdio.h>
#include <string.h>

/* The hook's context: the engine once made, or why it could not be. */
typedef struct hook_ctx {
    oa_ocr *ocr;
    bool failed;
    oa_status why_code;
    char why[OA_ERROR_MSG_MAX];
    char datapath[1024];
} hook_ctx;

/* What one find_words call hands out: the pixel module's words, whose
 * text points into the OCR module's. */
typedef struct hook_words {
    oa_ocr_word *ocr;
    oa_pixels_word words[];
} hook_words;

static oa_status engine(hook_ctx *c, oa_error *err)
{
    oa_error e;

    if (c->ocr != NULL)
        return OA_OK;
    if (!c->failed) {
        oa_error_clear(&e);
        if (oa_ocr_new(&c->ocr, c->datapath[0] ? c->datapath : NULL, &e) ==
            OA_OK)
            return OA_OK;
        c->failed = true;
        c->why_code = e.code;
        snprintf(c->why, sizeof(c->why), "%s", e.msg);
    }
    return oa_error_set(err, c->why_code, "%s", c->why);
}

static oa_status hook_find_words(void *ctx, const oa_pixels_gray *frame,
                                 oa_pixels_word **words, size_t *n_words,
                                 oa_error *err)
{
    hook_ctx *c = ctx;
    oa_ocr_word *found = NULL;
    size_t n = 0;
    hook_words *hw;
    oa_status rc;

    *words = NULL;
    *n_words = 0;
    rc = engine(c, err);
    if (rc != OA_OK)
        return rc;
    rc = oa_ocr_words(c->ocr, frame->pixels, frame->width, frame->height,
                      frame->width, &found, &n, err);
    if (rc != OA_OK)
        return rc;
    hw = oa_calloc(1, sizeof(*hw) + (n ? n : 1) * sizeof(oa_pixels_word));
    if (hw == NULL) {
        oa_ocr_words_free(found);
        return oa_error_set(err, OA_ENOMEM, "out of memory (OCR words)");
    }
    hw->ocr = found;
    for (size_t i = 0; i < n; i++) {
        hw->words[i].box.x = found[i].box.x;
        hw->words[i].box.y = found[i].box.y;
        hw->words[i].box.w = found[i].box.w;
        hw->words[i].box.h = found[i].box.h;
        hw->words[i].text = found[i].text;
        hw->words[i].confidence = (int)found[i].confidence;
        hw->words[i].line = found[i].line;
    }
    *words = hw->words;
    *n_words = n;
    return OA_OK;
}

static void hook_release(void *ctx, oa_pixels_word *words, size_t n_words)
{
    hook_words *hw;

    (void)ctx;
    (void)n_words;
    if (words == NULL)
        return;
    hw = (hook_words *)(void *)((char *)words - offsetof(hook_words, words));
    oa_ocr_words_free(hw->ocr);
    oa_free(hw);
}

oa_status oa_ocr_hook_init(oa_pixels_ocr *hook, const char *datapath,
                           oa_error *err)
{
    hook_ctx *c;

    memset(hook, 0, sizeof(*hook));
    c = oa_calloc(1, sizeof(*c));
    if (c == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory (OCR)");
    if (datapath != NULL)
        snprintf(c->datapath, sizeof(c->datapath), "%s", datapath);
    hook->find_words = hook_find_words;
    hook->release = hook_release;
    hook->ctx = c;
    return OA_OK;
}

void oa_ocr_hook_dispose(oa_pixels_ocr *hook)
{
    hook_ctx *c;

    if (hook == NULL || hook->ctx == NULL)
        return;
    c = hook->ctx;
    oa_ocr_free(c->ocr);
    oa_free(c);
    memset(hook, 0, sizeof(*hook));
}
