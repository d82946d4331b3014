/*
 * OCR benchmark (Resources/Scripts/benchmark-ocr.sh builds and runs it):
 * frames per second of oa_ocr_words + oa_ocr_match on one 8-bit PGM
 * frame, for each way of reading (plain, inverted, both; x2 or not), and
 * how many words and identifying boxes (the name, ID and birth date
 * drawn by make_images.py) each way found.
 *
 * Usage: benchmark-ocr FRAME.pgm SECONDS [--words]
 */
#include "pixels/pixels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint8_t *read_pgm(const char *path, unsigned *w, unsigned *h)
{
    FILE *f = fopen(path, "rb");
    unsigned maxv;
    uint8_t *px;

    if (f == NULL || fscanf(f, "P5 %u %u %u", w, h, &maxv) != 3 ||
        maxv != 255 || fgetc(f) == EOF) {
        if (f)
            fclose(f);
        return NULL;
    }
    px = malloc((size_t)*w * *h);
    if (px && fread(px, 1, (size_t)*w * *h, f) != (size_t)*w * *h) {
        free(px);
        px = NULL;
    }
    fclose(f);
    return px;
}

/* CPU time of the process: one core (taskset, OMP_THREAD_LIMIT=1), and
 * not the waits of a loaded machine. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static const struct { unsigned how; const char *name; } modes[] = {
        {OA_OCR_READ_DEFAULT, "default"},
        {OA_OCR_READ_DEFAULT & ~OA_OCR_READ_LAYOUT, "default, sparse text only"},
        {OA_OCR_READ_POLARITY | OA_OCR_READ_UPSCALE, "polarity, no despeckle"},
        {OA_OCR_READ_PLAIN | OA_OCR_READ_INVERTED | OA_OCR_READ_UPSCALE |
             OA_OCR_READ_DESPECKLE, "plain+inverted, despeckle"},
        {OA_OCR_READ_PLAIN | OA_OCR_READ_INVERTED | OA_OCR_READ_UPSCALE,
         "plain+inverted"},
        {OA_OCR_READ_INVERTED | OA_OCR_READ_UPSCALE, "inverted only"},
        {OA_OCR_READ_PLAIN | OA_OCR_READ_UPSCALE, "plain only"},
        {OA_OCR_READ_DEFAULT & ~OA_OCR_READ_UPSCALE, "default, never x2"},
    };
    const char *names[] = {"Test^Belle"}, *ids[] = {"CL-285BT-1811492"};
    const char *dates[] = {"19880101"};
    oa_ocr_needles nd = {names, 1, ids, 1, dates, 1, NULL, 0};
    unsigned w, h;
    oa_ocr *o = NULL;
    oa_error err;
    double secs;
    bool show = argc > 3 && strcmp(argv[3], "--words") == 0;

    if (argc < 3) {
        fprintf(stderr, "usage: %s FRAME.pgm SECONDS [--words]\n", argv[0]);
        return 2;
    }
    secs = atof(argv[2]);
    uint8_t *px = read_pgm(argv[1], &w, &h);
    if (px == NULL) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    if (oa_ocr_new(&o, NULL, &err) != OA_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("Tesseract %s, frame %ux%u, %.0f s a mode\n", oa_ocr_version(),
           w, h, secs);
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        oa_ocr_set_read(o, modes[m].how);
        size_t frames = 0, nw = 0, nr = 0;
        double t0 = now(), c0 = cpu(), t;
        do {
            oa_ocr_word *words;
            oa_pixels_rect *rects;
            if (oa_ocr_words(o, px, w, h, w, &words, &nw, &err) != OA_OK ||
                oa_ocr_match(words, nw, &nd, false, &rects, &nr, &err) !=
                    OA_OK) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
            if (show && frames == 0)
                for (size_t i = 0; i < nw; i++)
                    printf("    %-24s %3u,%3u %3ux%-3u conf %.0f line %u\n",
                           words[i].text, words[i].box.x, words[i].box.y,
                           words[i].box.w, words[i].box.h,
                           (double)words[i].confidence, words[i].line);
            oa_ocr_words_free(words);
            oa_free(rects);
            frames++;
            t = now() - t0;
        } while (t < secs);
        double c = cpu() - c0;
        printf("%-27s %6.2f frames/s CPU %6.2f wall  (%zu words, %zu "
               "identifying)\n", modes[m].name, (double)frames / c,
               (double)frames / t, nw, nr);
    }
    oa_ocr_free(o);
    free(px);
    return 0;
}
