/*
 * oa-anonymize: the plugin's engine on files.
 *
 *   oa-anonymize --profile P IN... -o OUTDIR anonymize (P: Default, Full,
 *                                            Research or a profile
 *                                            FILE.json)
 *   oa-anonymize --explain --profile P       the effective rule table
 *   oa-anonymize --copy IN... -o OUTDIR      identity round trip
 *   oa-anonymize --check IN...               parse only
 *
 * One output file per input, under the same base name.  A file that
 * cannot be read is reported (tag and offset, never a value) and the others
 * go on; the exit status is 1 if any file failed, 2 on a usage error.
 * `--tsv FILE` writes one line per input: path, status, defects, message.
 */
#define _POSIX_C_SOURCE 200809L
#include "anonymizer/anonymizer.h"
#include "dicom/dicom.h"
#include "export/export.h"
#include "pixels/pixels.h"
#include "oa_version.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef enum mode {
    MODE_NONE, MODE_COPY, MODE_CHECK, MODE_DUMP, MODE_ANON, MODE_EXPLAIN
} mode;

typedef struct options {
    mode mode;
    const char *outdir;
    const char *tsv;
    bool quiet;
    bool stats;
    oa_reader_opts reader;
    const char *profile;
    const char *secret;
    const char *uid_root;
    oa_anon_identity identity;
    bool explain;
    bool dicomdir;
    bool no_ocr;
    const char *ocr_data;
    char **inputs;
    int n_inputs;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: oa-anonymize --profile Default|Full|Research|FILE.json [--secret S]"
            " [--new-name N] [--new-id I] IN... -o OUTDIR\n"
            "       oa-anonymize --explain --profile Default|Full|Research|FILE.json\n"
            "       oa-anonymize --copy IN... -o OUTDIR\n"
            "       oa-anonymize --check IN...\n"
            "       oa-anonymize --dump IN...   structure only: tags, VRs,"
            " lengths, offsets (no values)\n"
            "options:\n"
            "  -o, --output DIR   folder for the output files (created)\n"
            "  --dicomdir         write OUTDIR as a File-set for CD/USB media:"
            " the files\n"
            "                     under DICOM/P.../S.../S.../I... and a "
            "DICOMDIR beside\n"
            "  --tsv FILE         one line per input: path, status, defects,"
            " message\n"
            "  --strict           refuse files with repairable defects\n"
            "  --max-depth N      sequence nesting limit (default %u)\n"
            "  --secret S         site secret keying UIDs and pseudonyms "
            "(default: $OA_SECRET;\n"
            "                     without one, a random secret: UIDs differ"
            " from other runs)\n"
            "  --new-name N, --new-id I, --new-study-description D\n"
            "                     new identity (default: generated from the "
            "secret)\n"
            "  --uid-root R       root of new UIDs (default 2.25)\n"
            "  --no-ocr           no OCR of burned-in text: risky images that"
            " no pixel rule\n"
            "                     covers are refused\n"
            "  --ocr-data DIR     Tesseract's language data (default: its "
            "own)\n"
            "  --stats            print bytes and MB/s\n"
            "  -q, --quiet        print only failures\n"
            "  --version\n",
            OA_READER_DEFAULT_MAX_DEPTH);
}

static int parse_args(int argc, char **argv, options *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->inputs = calloc((size_t)argc, sizeof(char *));
    if (o->inputs == NULL)
        return -1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--copy") == 0) {
            o->mode = MODE_COPY;
        } else if (strcmp(a, "--check") == 0) {
            o->mode = MODE_CHECK;
        } else if (strcmp(a, "--profile") == 0 && i + 1 < argc) {
            o->profile = argv[++i];
        } else if (strcmp(a, "--explain") == 0) {
            o->explain = true;
        } else if (strcmp(a, "--secret") == 0 && i + 1 < argc) {
            o->secret = argv[++i];
        } else if (strcmp(a, "--uid-root") == 0 && i + 1 < argc) {
            o->uid_root = argv[++i];
        } else if (strcmp(a, "--new-name") == 0 && i + 1 < argc) {
            o->identity.new_patient_name = argv[++i];
        } else if (strcmp(a, "--new-id") == 0 && i + 1 < argc) {
            o->identity.new_patient_id = argv[++i];
        } else if (strcmp(a, "--new-study-description") == 0 &&
                   i + 1 < argc) {
            o->identity.new_study_description = argv[++i];
        } else if (strcmp(a, "--dump") == 0) {
            o->mode = MODE_DUMP;
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) &&
                   i + 1 < argc) {
            o->outdir = argv[++i];
        } else if (strcmp(a, "--tsv") == 0 && i + 1 < argc) {
            o->tsv = argv[++i];
        } else if (strcmp(a, "--dicomdir") == 0) {
            o->dicomdir = true;
        } else if (strcmp(a, "--strict") == 0) {
            o->reader.strict = true;
        } else if (strcmp(a, "--max-depth") == 0 && i + 1 < argc) {
            char *end;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || v == 0 || v > 10000) {
                fprintf(stderr, "oa-anonymize: --max-depth takes 1..10000\n");
                return -1;
            }
            o->reader.max_depth = (unsigned)v;
        } else if (strcmp(a, "--no-ocr") == 0) {
            o->no_ocr = true;
        } else if (strcmp(a, "--ocr-data") == 0 && i + 1 < argc) {
            o->ocr_data = argv[++i];
        } else if (strcmp(a, "--stats") == 0) {
            o->stats = true;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else if (strcmp(a, "--version") == 0) {
            printf("oa-anonymize %s (dictionary %s)\n", OA_VERSION,
                   oa_dict_edition);
            exit(0);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "oa-anonymize: unknown option %s\n", a);
            return -1;
        } else {
            o->inputs[o->n_inputs++] = argv[i];
        }
    }
    if (o->mode == MODE_NONE && o->profile != NULL)
        o->mode = o->explain ? MODE_EXPLAIN : MODE_ANON;
    if (o->mode == MODE_EXPLAIN)
        return 0;
    if (o->mode == MODE_NONE || o->n_inputs == 0 ||
        ((o->mode == MODE_COPY || o->mode == MODE_ANON) &&
         o->outdir == NULL)) {
        usage(stderr);
        return -1;
    }
    if (o->dicomdir && o->mode != MODE_COPY && o->mode != MODE_ANON) {
        fprintf(stderr, "oa-anonymize: --dicomdir goes with --copy or "
                        "--profile, and -o\n");
        return -1;
    }
    return 0;
}

/* --dicomdir: the folder of a File ID ("DICOM/P0000001/..."), made. */
static oa_status make_parents(const char *root, const char *file_id,
                              oa_error *err)
{
    char path[4096];
    const char *slash = strrchr(file_id, '/');
    int n;

    if (slash == NULL)
        return OA_OK;
    n = snprintf(path, sizeof(path), "%s/%.*s", root,
                 (int)(slash - file_id), file_id);
    if (n < 0 || (size_t)n >= sizeof(path))
        return oa_error_set(err, OA_EINVAL, "output path too long");
    return oa_export_mkdirs(path, err);
}

/* --dump: the structure of a file, never its values (they may be PHI). */
static void dump_indent(unsigned depth)
{
    unsigned i;
    for (i = 0; i < depth; i++)
        fputs("  ", stdout);
}

static oa_status dump_element(void *user, const oa_element *el, oa_error *err)
{
    char tag[12], vr[3];
    const oa_dict_entry *d = oa_dict_lookup(el->tag);

    (void)user;
    (void)err;
    oa_tag_format(el->tag, tag);
    oa_vr_str(el->vr, vr);
    dump_indent(el->depth);
    printf("%s %s %u @%zu %s\n", tag, vr, el->length, el->offset,
           d ? d->keyword : "");
    return OA_OK;
}

static oa_status dump_sequence(void *user, const oa_element *el,
                               oa_error *err)
{
    char tag[12], vr[3];
    const oa_dict_entry *d = oa_dict_lookup(el->tag);

    (void)user;
    (void)err;
    oa_tag_format(el->tag, tag);
    oa_vr_str(el->vr, vr);
    dump_indent(el->depth);
    printf("%s %s %s @%zu %s\n", tag, vr,
           el->undefined_length ? "undefined" : "defined", el->offset,
           d ? d->keyword : "");
    return OA_OK;
}

static oa_status dump_item(void *user, const oa_item *it, oa_error *err)
{
    (void)user;
    (void)err;
    dump_indent(it->depth - 1);
    printf("(FFFE,E000) item %s %u @%zu\n",
           it->undefined_length ? "undefined" : "defined", it->length,
           it->offset);
    return OA_OK;
}

static oa_status dump_fragment(void *user, const oa_item *it,
                               const uint8_t *data, oa_error *err)
{
    (void)user;
    (void)err;
    (void)data;
    dump_indent(it->depth - 1);
    printf("(FFFE,E000) fragment %u @%zu\n", it->length, it->offset);
    return OA_OK;
}

static const oa_dicom_handler dump_handler = {
    NULL, dump_element, dump_sequence, dump_item, NULL, NULL,
    dump_fragment, NULL, NULL};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* TSV field: the path, with tabs and newlines replaced. */
static void tsv_path(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' ? ' ' : *s, f);
}

/* Default, Full, Research, or a JSON file named after its base name. */
static oa_status load_profile(const char *arg, oa_profile **out,
                              oa_error *err)
{
    oa_buf text;
    oa_status rc;
    char name[65];
    const char *base;
    size_t n;

    if (oa_profile_is_builtin_name(arg))
        return oa_profile_builtin(out, arg, err);
    oa_buf_init(&text, (size_t)1 << 24);
    rc = oa_file_read(arg, &text, err);
    if (rc == OA_OK) {
        base = base_name(arg);
        n = strcspn(base, ".");
        snprintf(name, sizeof(name), "%.*s", (int)(n < 64 ? n : 64), base);
        rc = oa_profile_parse(out, name, (const char *)oa_buf_data(&text),
                              text.len, err);
    }
    oa_buf_dispose(&text);
    return rc;
}

/* The pixel rules of a profile: its option, its own rules, the device
 * rules generated from pydicom/deid's recipe. */
static void explain_pixels(const oa_profile *p)
{
    const oa_pixels_user_rule *user;
    size_t n, i, j;

    printf("# pixels: BurnedInText %s; OCR %s\n",
           oa_opt_value_name(oa_profile_options(p)->burned_in_text),
           oa_ocr_available() ? "available" : "not available");
    printf("# pixel rule\tsource\tcondition\taction\n");
    user = oa_profile_pixel_rules(p, &n);
    for (i = 0; i < n; i++) {
        printf("%s\tprofile\t", user[i].label ? user[i].label : "user");
        printf("Manufacturer %s, Model %s, %ux%u", 
               user[i].manufacturer ? user[i].manufacturer : "*",
               user[i].model ? user[i].model : "*", (unsigned)user[i].rows,
               (unsigned)user[i].columns);
        printf("\tblank");
        for (j = 0; j < user[i].n_rects; j++)
            printf(" [%u,%u,%u,%u]", (unsigned)user[i].rects[j].x,
                   (unsigned)user[i].rects[j].y, (unsigned)user[i].rects[j].w,
                   (unsigned)user[i].rects[j].h);
        printf("\n");
    }
    for (i = 0; i < oa_pixels_rule_count(); i++) {
        const oa_pixels_rule_info *r = oa_pixels_rule_get(i);
        printf("%s\t%s\t%s\t%s (%zu)\n", r->label, r->source, r->condition,
               r->kind == OA_PIXELS_RULE_MASK   ? "blank"
               : r->kind == OA_PIXELS_RULE_FLAG ? "flag as risky"
                                                 : "clean as is",
               r->n_ops);
    }
}

static int explain(const oa_profile *p)
{
    oa_rule_row *rows = NULL;
    size_t count = 0, i;
    oa_error err;
    char why[192];

    oa_error_clear(&err);
    if (oa_rules_explain(&rows, &count, p, &err) != OA_OK) {
        fprintf(stderr, "oa-anonymize: %s\n", err.msg);
        return 1;
    }
    printf("# profile %s (base %s), PS3.15 %s\n",
           oa_profile_name(p)[0] ? oa_profile_name(p) : "inline",
           oa_profile_base_name(oa_profile_get_base(p)), oa_ps315_edition());
    printf("# tag\tname\taction\treason\tsource\n");
    for (i = 0; i < count; i++) {
        oa_rule_describe(&rows[i].rule, why, sizeof(why));
        printf("%s\t%s\t%s\t%s%s%s%s%s\t%s\n", rows[i].tag,
               rows[i].keyword && rows[i].keyword[0] ? rows[i].keyword
                                                     : rows[i].name,
               oa_action_name(rows[i].rule.action), why,
               rows[i].creator ? " " : "",
               rows[i].creator ? rows[i].creator : "",
               rows[i].path ? " at " : "", rows[i].path ? rows[i].path : "",
               oa_rule_source_name(rows[i].rule.source,
                                   rows[i].rule.column));
    }
    oa_free(rows);
    explain_pixels(p);
    return 0;
}

/*
 * Debian's libtesseract runs its inner loops with OpenMP threads that spin
 * while they wait: OCR then costs 3-4 times its CPU.  libgomp reads
 * OMP_THREAD_LIMIT when it is loaded, before main(), so the tool sets it
 * and starts itself again (once: the variable is then set).
 */
static void one_openmp_thread(char **argv)
{
    char self[4096];
    ssize_t n;

    if (getenv("OMP_THREAD_LIMIT") != NULL)
        return;
    /* this program's own path (readlink, which valgrind and the like
     * answer for the program they run) */
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0 || (size_t)n >= sizeof(self) - 1)
        return;
    self[n] = '\0';
    if (setenv("OMP_THREAD_LIMIT", "1", 1) != 0)
        return;
    execv(self, argv);
    /* not possible here: go on with OpenMP's default */
}

int main(int argc, char **argv)
{
    options o;
    oa_buf in;
    oa_writer *w = NULL;
    oa_profile *profile = NULL;
    oa_anonymizer *anon = NULL;
    oa_dicomdir *dicomdir = NULL;
    oa_pixels_ocr ocr_hook;
    bool have_hook = false;
    int dropped = 0, cleaned = 0;
    oa_error err;
    FILE *tsv = NULL;
    int i, failed = 0, written = 0;
    uint64_t bytes_in = 0;
    double t0;
    char msg[OA_ERROR_MSG_MAX + 64];

    one_openmp_thread(argv);
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (o.outdir != NULL && mkdir(o.outdir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "oa-anonymize: cannot create %s: %s\n", o.outdir,
                strerror(errno));
        return 2;
    }
    if (o.tsv != NULL && (tsv = fopen(o.tsv, "w")) == NULL) {
        fprintf(stderr, "oa-anonymize: cannot write %s\n", o.tsv);
        return 2;
    }
    oa_buf_init(&in, (size_t)1 << 32);
    oa_error_clear(&err);
    if (o.profile != NULL) {
        oa_anonymizer_opts ao;
        uint8_t random_secret[32];

        if (load_profile(o.profile, &profile, &err) != OA_OK) {
            fprintf(stderr, "oa-anonymize: profile %s: %s\n", o.profile,
                    err.msg);
            return 2;
        }
        if (o.mode == MODE_EXPLAIN) {
            int erc = explain(profile);
            oa_profile_free(profile);
            free(o.inputs);
            return erc;
        }
        memset(&ao, 0, sizeof(ao));
        if (o.secret == NULL)
            o.secret = getenv("OA_SECRET");
        if (o.secret != NULL && o.secret[0] != '\0') {
            ao.secret = (const uint8_t *)o.secret;
            ao.secret_len = strlen(o.secret);
        } else {
            if (RAND_bytes(random_secret, sizeof(random_secret)) != 1) {
                fprintf(stderr, "oa-anonymize: no random source\n");
                return 2;
            }
            fprintf(stderr, "oa-anonymize: no --secret or $OA_SECRET: a "
                            "random one is used, so UIDs and pseudonyms "
                            "will not match other runs\n");
            ao.secret = random_secret;
            ao.secret_len = sizeof(random_secret);
        }
        ao.uid_root = o.uid_root;
        ao.reader = o.reader;
        if (!o.no_ocr &&
            oa_profile_options(profile)->burned_in_text != OA_OPT_KEEP) {
            if (oa_ocr_hook_init(&ocr_hook, o.ocr_data, &err) == OA_OK) {
                ao.ocr = &ocr_hook;
                have_hook = true;
            }
            oa_error_clear(&err);
        }
        if (oa_anonymizer_new(&anon, profile, &ao, &err) != OA_OK) {
            fprintf(stderr, "oa-anonymize: %s\n", err.msg);
            return 2;
        }
    }
    if (oa_writer_new(&w, NULL, &err) != OA_OK) {
        fprintf(stderr, "oa-anonymize: %s\n", err.msg);
        return 2;
    }

    t0 = now_seconds();
    for (i = 0; i < o.n_inputs; i++) {
        const char *path = o.inputs[i];
        char note[96] = "";
        const uint8_t *out = NULL;
        size_t out_len = 0;
        oa_parse_info info;
        oa_status rc;

        oa_error_clear(&err);
        memset(&info, 0, sizeof(info));
        rc = oa_file_read(path, &in, &err);
        if (rc == OA_OK) {
            bytes_in += in.len;
            oa_writer_reset(w);
            if (o.mode == MODE_ANON) {
                oa_anon_result res;
                rc = oa_anonymizer_run(anon, &o.identity, oa_buf_data(&in),
                                       in.len, &res, &err);
                info.defects = res.defects;
                out = res.data;
                out_len = res.len;
                if (rc == OA_OK && res.pixels.verdict == OA_PIXELS_CLEANED) {
                    cleaned++;
                    snprintf(note, sizeof(note),
                             "pixels cleaned: %zu box(es), %u OCR word(s)",
                             res.pixels.n_boxes, res.pixels.ocr_words);
                }
                if (rc == OA_OK && res.dropped) {
                    dropped++;
                    if (tsv) {
                        tsv_path(tsv, path);
                        fprintf(tsv, "\tdropped\t%u\tdropped by the "
                                     "profile (SOP class)\n",
                                info.defects);
                    }
                    continue;
                }
            } else if (o.mode == MODE_CHECK || o.mode == MODE_DUMP)
                rc = oa_dicom_parse(oa_buf_data(&in), in.len, &o.reader,
                                    o.mode == MODE_DUMP ? &dump_handler
                                                        : NULL,
                                    &info, &err);
            else
                rc = oa_dicom_copy(w, oa_buf_data(&in), in.len, &o.reader,
                                   &out, &out_len, &info, &err);
        }
        if (rc == OA_OK && (o.mode == MODE_COPY || o.mode == MODE_ANON)) {
            char dst[4096], file_id[OA_DICOMDIR_FILE_ID_MAX];
            int n;

            if (o.dicomdir) {
                /* its place in the File-set, from its own UIDs */
                if (dicomdir == NULL)
                    rc = oa_dicomdir_new(&dicomdir);
                if (rc == OA_OK)
                    rc = oa_dicomdir_add(dicomdir, NULL, out, out_len,
                                         file_id, &err);
                if (rc == OA_OK)
                    rc = make_parents(o.outdir, file_id, &err);
            }
            n = snprintf(dst, sizeof(dst), "%s/%s", o.outdir,
                         o.dicomdir ? file_id : base_name(path));
            if (rc != OA_OK)
                ;
            else if (n < 0 || (size_t)n >= sizeof(dst))
                rc = oa_error_set(&err, OA_EINVAL, "output path too long");
            else
                rc = oa_file_write(dst, out, out_len, &err);
        }
        if (rc == OA_OK) {
            written++;
            if (tsv) {
                tsv_path(tsv, path);
                fprintf(tsv, "\tok\t%u\t%s\n", info.defects, note);
            }
        } else {
            failed++;
            oa_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "oa-anonymize: %s: %s\n", path, msg);
            if (tsv) {
                tsv_path(tsv, path);
                fprintf(tsv, "\t%s\t%u\t%s\n", oa_status_str(rc),
                        info.defects, msg);
            }
        }
    }
    if (o.dicomdir && dicomdir != NULL) {
        oa_buf dd;
        char dst[4096];

        oa_buf_init(&dd, (size_t)1 << 32);
        oa_error_clear(&err);
        snprintf(dst, sizeof(dst), "%s/DICOMDIR", o.outdir);
        if (oa_dicomdir_write(dicomdir, "ANONYMIZED", &dd, &err) != OA_OK ||
            oa_file_write(dst, oa_buf_data(&dd), dd.len, &err) != OA_OK) {
            oa_error_format(&err, msg, sizeof(msg));
            fprintf(stderr, "oa-anonymize: DICOMDIR: %s\n", msg);
            failed++;
        } else if (!o.quiet) {
            printf("DICOMDIR: %zu records\n", oa_dicomdir_count(dicomdir));
        }
        oa_buf_dispose(&dd);
    }
    oa_dicomdir_free(dicomdir);
    if (o.stats) {
        double dt = now_seconds() - t0;
        printf("%d files, %llu bytes in %.3f s: %.1f MB/s\n", o.n_inputs,
               (unsigned long long)bytes_in, dt,
               dt > 0 ? (double)bytes_in / dt / 1e6 : 0.0);
    }
    if (!o.quiet && o.mode == MODE_ANON)
        printf("%d files: %d written (%d with pixels cleaned), %d dropped, "
               "%d refused\n",
               o.n_inputs, written, cleaned, dropped, failed);
    else if (!o.quiet)
        printf("%d files: %d %s, %d refused\n", o.n_inputs, written,
               o.mode == MODE_CHECK ? "read" : "written", failed);
    if (tsv)
        fclose(tsv);
    oa_writer_free(w);
    oa_anonymizer_free(anon);
    if (have_hook)
        oa_ocr_hook_dispose(&ocr_hook);
    oa_profile_free(profile);
    oa_buf_dispose(&in);
    free(o.inputs);
    return failed ? 1 : 0;
}
