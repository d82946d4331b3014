/*
 * The OCR module (ocr.c, Tesseract) as the pixel decision's text
 * detection hook (oa_pixels_ocr in pixels.h): the decision picks the
 * frames, gives each as 8-bit grayscale, and matches the words against the
 * instance's identifying values itself; the hook only reads words.
 */
#include "ocr.h"
#include "pixels.h"

#include <string.h>

/* What one find_words call hands out: the pixel module's words, whose
 * text points into the OCR module's. */
typedef struct hook_words {
    oa_ocr_word *ocr;
    oa_pixels_word words[];
} hook_words;

static oa_status hook_find_words(void *ctx, const oa_pixels_gray *frame,
                                 oa_pixels_word **words, size_t *n_words,
                                 oa_error *err)
{
    oa_ocr_word *found = NULL;
    size_t n = 0;
    hook_words *hw;
    oa_status rc;

    *words = NULL;
    *n_words = 0;
    rc = oa_ocr_words(ctx, frame->pixels, frame->width, frame->height,
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

void oa_ocr_hook(oa_ocr *o, oa_pixels_ocr *hook)
{
    memset(hook, 0, sizeof(*hook));
    hook->find_words = hook_find_words;
    hook->release = hook_release;
    hook->ctx = o;
}
