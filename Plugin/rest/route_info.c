/*
 * GET /anonymizer/info: what this plugin is and what it can do, so that
 * the web page, Lua scripts and other systems can discover it
 * (doc/rest-api.md, "Discovery").
 */
#include "rest_int.h"

#include "../anonymizer/anonymizer.h"
#include "../dicom/dicom.h"
#include "../export/export.h"
#include "../pixels/pixels.h"
#include "../services/services.h"

#include <oa_version.h>

oa_status oa_rest_get_info(oa_host_output *out, const oa_rest_request *req,
                           oa_error *err)
{
    oa_service *svc = oa_rest_service(err);
    cJSON *info, *list = NULL;
    oa_status status;

    (void)req;
    if (svc == NULL)
        return err->code;
    info = cJSON_CreateObject();
    if (info == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory (info)");
    if (cJSON_AddStringToObject(info, "Version", OA_VERSION) == NULL ||
        cJSON_AddStringToObject(info, "PS315Edition", oa_ps315_edition()) ==
            NULL ||
        cJSON_AddStringToObject(info, "DictionaryEdition",
                                oa_dict_edition) == NULL) {
        status = oa_error_set(err, OA_ENOMEM, "out of memory (info)");
        goto out;
    }
    status = oa_service_profile_names(svc, &list, err);
    if (status != OA_OK)
        goto out;
    if (!cJSON_AddItemToObject(info, "Profiles", list)) {
        cJSON_Delete(list);
        status = oa_error_set(err, OA_ENOMEM, "out of memory (info)");
        goto out;
    }
    {
        const char *names[16];
        size_t n = oa_export_backend_names(names, 14);
        cJSON *backends;

        names[n++] = oa_export_backend_dicom.name;
        names[n++] = oa_export_backend_peer.name;
        backends = cJSON_CreateStringArray(names, (int)n);
        if (backends == NULL ||
            !cJSON_AddItemToObject(info, "Backends", backends)) {
            cJSON_Delete(backends);
            status = oa_error_set(err, OA_ENOMEM, "out of memory (info)");
            goto out;
        }
    }
    {
        /* Burned-in text: whether OCR can run here (Tesseract and its
         * English data); without it risky images no rule covers fail. */
        cJSON *px = cJSON_AddObjectToObject(info, "Pixels");
        bool ocr = oa_ocr_available();

        if (px == NULL || cJSON_AddBoolToObject(px, "OCR", ocr) == NULL ||
            cJSON_AddStringToObject(px, "OcrVersion",
                                    ocr ? oa_ocr_version() : "") == NULL ||
            cJSON_AddNumberToObject(px, "DeviceRules",
                                    (double)oa_pixels_rule_count()) ==
                NULL) {
            status = oa_error_set(err, OA_ENOMEM, "out of memory (info)");
            goto out;
        }
    }
    status = oa_rest_answer_json(out, 200, info, err);

out:
    cJSON_Delete(info);
    return status;
}
