/*
 * Test support: the plugin started on the fake host (fake_host.h) the way
 * Plugin/Plugin.c starts it in Orthanc, and DICOM instances to feed it.
 */
#ifndef OA_TEST_FAKE_PLUGIN_H
#define OA_TEST_FAKE_PLUGIN_H

#include "fake_host.h"

#include "core/core.h"

/*
 * Reset the fake, give it `config` as Orthanc's configuration, and do
 * what OrthancPluginInitialize and setup_service() of Plugin.c do: route
 * the log to the host, parse the "Anonymizer" section, check AutoAnonymize
 * and the Destinations, open the store in the fake's global properties
 * (as a single server does), wire the export backends to the fake,
 * install the service,
 * register the routes, the jobs' unserializer and the change callback.
 * Returns what the start-up returned (a wrong option refuses it, with the
 * message in `err`).
 */
oa_status fake_plugin_start(const char *config, oa_error *err);

/* OrthancPluginFinalize, after the jobs engine has stopped (jobs are
 * finalized), then fake_host_reset().  Safe if the start failed. */
void fake_plugin_stop(void);

/* One instance: any field may be NULL (not written), numbers < 0 too. */
typedef struct fake_instance {
    const char *patient_id, *patient_name, *birth_date, *sex;
    const char *study_uid, *study_date, *study_desc, *accession;
    const char *series_uid, *modality, *series_desc;
    int series_number;
    const char *sop_uid;
    int instance_number;
    const char *institution;   /* (0008,0080) */
} fake_instance;

/* A Part 10 file (explicit VR little endian, CT Image Storage, a 2 x 2
 * pixel image) in `out` (initialized here; dispose it). */
void fake_dicom_build(oa_buf *out, const fake_instance *spec);

/* Build and store it (POST /instances); the HTTP status, `id` (may be
 * NULL) the instance's Orthanc ID. */
uint16_t fake_dicom_store(const fake_instance *spec, char id[FAKE_ID_SIZE]);

/*
 * Store a study of `series` series of `instances` instances each, for
 * patient (patient_id, patient_name), UIDs derived from `study_uid`
 * (series "<study_uid>.<s>", instances "<study_uid>.<s>.<i>").  `study_id`
 * (may be NULL) receives the study's Orthanc ID.
 */
void fake_dicom_study(const char *patient_id, const char *patient_name,
                      const char *study_uid, unsigned series,
                      unsigned instances, char study_id[FAKE_ID_SIZE]);

/* Remove a file or a folder and everything below it. */
void fake_remove_tree(const char *path);

/* Names under `path`, recursively, that end with `suffix`: files only, or
 * files and folders (`dirs_too`). */
size_t fake_count_names(const char *path, const char *suffix, bool dirs_too);

#endif
