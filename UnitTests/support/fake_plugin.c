/*
 * The plugin on the fake host (fake_plugin.h).  start/stop follow
 * Plugin/Plugin.c step by step; keep them in line with it.
 */
#define _POSIX_C_SOURCE 200809L

#include "fake_plugin.h"

#include "dicom_bytes.h"

#include "config/config.h"
#include "export/export.h"
#include "services/services.h"
#include "jobs/jobs.h"
#include "rest/rest.h"
#include "store/store.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* As Plugin.c. */
#define OA_STORE_FIRST_PROPERTY 100000

static bool started;

static void on_change(oa_host_change change, const char *id)
{
    if (change == OA_CHANGE_STABLE_STUDY)
        oa_auto_stable_study(id);
    else if (change == OA_CHANGE_ORTHANC_STOPPED)
        oa_jobs_close(10000);
}

/* setup_service() of Plugin.c, on the fake host (its global properties
 * hold the store). */
static oa_status setup_service(oa_error *err)
{
    static const oa_service_host host = {
        oa_host_get_configuration, oa_host_get_property, oa_host_set_property,
    };
    oa_service *service = NULL;
    oa_status rc;

    rc = oa_service_setup(&host, 2, &service, err);
    if (rc != OA_OK)
        return rc;
    return oa_auto_start(service, err);
}

oa_status fake_plugin_start(const char *config, oa_error *err)
{
    oa_status rc;

    fake_host_reset();
    fake_host_set_configuration(config);
    oa_host_init(NULL);
    oa_log_set_sink(oa_host_log);
    started = true;
    if (!oa_host_check_version())
        return oa_error_set(err, OA_EUNSUPPORTED, "host too old");
    oa_export_orthanc_set_host(oa_jobs_export_host());
    rc = setup_service(err);
    if (rc != OA_OK)
        return rc;
    rc = oa_rest_register(err);
    if (rc != OA_OK)
        return rc;
    oa_jobs_register();
    oa_host_register_on_change(on_change);
    return OA_OK;
}

void fake_plugin_stop(void)
{
    if (!started)
        return;
    started = false;
    oa_auto_stop();
    oa_rest_unregister();
    oa_export_orthanc_set_host(NULL);
    /* Orthanc stops its jobs engine before it unloads the plugin: the
     * jobs (which hold the service) go first. */
    fake_host_reset();
    oa_service_free(oa_service_current());
    oa_log_set_sink(NULL);
    oa_host_finalize();
}

/* ------------------------------------------------------------------ */
/* DICOM                                                                */

#define T(g, e) ((uint32_t)(0x##g##u << 16 | 0x##e##u))
#define CT_IMAGE "1.2.840.10008.5.1.4.1.1.2"
#define TS_EXPLICIT_LE "1.2.840.10008.1.2.1"

static void str_el(tb *t, uint32_t tag, const char *vr, const char *v)
{
    char padded[256];
    size_t n;

    if (v == NULL)
        return;
    n = strlen(v);
    if (n >= sizeof(padded) - 1)
        n = sizeof(padded) - 2;
    memcpy(padded, v, n);
    if (n % 2 == 1)
        padded[n++] = ' ';
    padded[n] = '\0';
    tb_str(t, tag, vr, padded);
}

static void int_el(tb *t, uint32_t tag, int v)
{
    char s[16];

    if (v < 0)
        return;
    snprintf(s, sizeof(s), "%d", v);
    str_el(t, tag, "IS", s);
}

static void us_el(tb *t, uint32_t tag, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v & 0xff), (uint8_t)(v >> 8)};

    tb_el(t, tag, "US", b, 2);
}

void fake_dicom_build(oa_buf *out, const fake_instance *s)
{
    static const uint8_t pixels[8] = {1, 0, 2, 0, 3, 0, 4, 0};
    tb t;

    tb_init(&t, true, false);
    tb_meta(&t, TS_EXPLICIT_LE, true);
    str_el(&t, T(0008, 0005), "CS", "ISO_IR 100");
    tb_uid(&t, T(0008, 0016), CT_IMAGE);
    if (s->sop_uid != NULL)
        tb_uid(&t, T(0008, 0018), s->sop_uid);
    str_el(&t, T(0008, 0020), "DA", s->study_date);
    str_el(&t, T(0008, 0030), "TM", "101500");
    str_el(&t, T(0008, 0050), "SH", s->accession);
    str_el(&t, T(0008, 0060), "CS", s->modality);
    str_el(&t, T(0008, 0080), "LO", s->institution);
    str_el(&t, T(0008, 1030), "LO", s->study_desc);
    str_el(&t, T(0008, 103E), "LO", s->series_desc);
    str_el(&t, T(0010, 0010), "PN", s->patient_name);
    str_el(&t, T(0010, 0020), "LO", s->patient_id);
    str_el(&t, T(0010, 0030), "DA", s->birth_date);
    str_el(&t, T(0010, 0040), "CS", s->sex);
    if (s->study_uid != NULL)
        tb_uid(&t, T(0020, 000D), s->study_uid);
    if (s->series_uid != NULL)
        tb_uid(&t, T(0020, 000E), s->series_uid);
    str_el(&t, T(0020, 0010), "SH", "1");
    int_el(&t, T(0020, 0011), s->series_number);
    int_el(&t, T(0020, 0013), s->instance_number);
    us_el(&t, T(0028, 0002), 1);
    str_el(&t, T(0028, 0004), "CS", "MONOCHROME2");
    us_el(&t, T(0028, 0010), 2);
    us_el(&t, T(0028, 0011), 2);
    us_el(&t, T(0028, 0100), 16);
    us_el(&t, T(0028, 0101), 12);
    us_el(&t, T(0028, 0102), 11);
    us_el(&t, T(0028, 0103), 0);
    tb_el(&t, T(7FE0, 0010), "OW", pixels, sizeof(pixels));
    oa_buf_init(out, (size_t)1 << 24);
    (void)oa_buf_append(out, tb_data(&t), tb_len(&t));
    tb_dispose(&t);
}

uint16_t fake_dicom_store(const fake_instance *spec, char id[FAKE_ID_SIZE])
{
    oa_buf b;
    uint16_t status;

    fake_dicom_build(&b, spec);
    status = fake_host_store(oa_buf_data(&b), b.len, id);
    oa_buf_dispose(&b);
    return status;
}

void fake_dicom_study(const char *patient_id, const char *patient_name,
                      const char *study_uid, unsigned series,
                      unsigned instances, char study_id[FAKE_ID_SIZE])
{
    unsigned s, i;

    for (s = 1; s <= series; s++) {
        char series_uid[80];

        snprintf(series_uid, sizeof(series_uid), "%s.%u", study_uid, s);
        for (i = 1; i <= instances; i++) {
            char sop_uid[96];
            fake_instance in;

            snprintf(sop_uid, sizeof(sop_uid), "%s.%u", series_uid, i);
            memset(&in, 0, sizeof(in));
            in.patient_id = patient_id;
            in.patient_name = patient_name;
            in.birth_date = "19650412";
            in.sex = "F";
            in.study_uid = study_uid;
            in.study_date = "20240301";
            in.study_desc = "CHEST CT";
            in.accession = "ACC12345";
            in.series_uid = series_uid;
            in.modality = "CT";
            in.series_desc = "AXIAL";
            in.series_number = (int)s;
            in.sop_uid = sop_uid;
            in.instance_number = (int)i;
            in.institution = "St Elsewhere Hospital";
            (void)fake_dicom_store(&in, NULL);
        }
    }
    if (study_id != NULL) {
        const char *uids[2] = {patient_id, study_uid};

        fake_host_orthanc_id(study_id, uids, 2);
    }
}

/* ------------------------------------------------------------------ */
/* Files                                                                */

void fake_remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d == NULL) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[1024];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        fake_remove_tree(sub);
    }
    closedir(d);
    rmdir(path);
}

size_t fake_count_names(const char *path, const char *suffix, bool dirs_too)
{
    DIR *d = opendir(path);
    struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char sub[1024];
        struct stat st;
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        bool dir, match;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (stat(sub, &st) != 0)
            continue;
        dir = S_ISDIR(st.st_mode);
        match = len >= sl && strcmp(e->d_name + len - sl, suffix) == 0;
        if (match && (dirs_too || !dir))
            n++;
        if (dir)
            n += fake_count_names(sub, suffix, dirs_too);
    }
    closedir(d);
    return n;
}
