/*
 * The data dictionary.  The table is generated from PS3.6 by
 * Resources/Scripts/GenerateDictionary.py into dict_table.inc; exact tags
 * are found by binary search, repeating groups (50xx, 60xx, ...) by a scan
 * of the few masked entries.
 */
#include "dicom.h"

#include <stdlib.h>
#include <string.h>

#include "dict_table.inc"

const char oa_dict_edition[] = OA_DICT_EDITION;

static const oa_dict_entry group_length_entry = {
    0, 0x0000FFFF, OA_VR_UL, 0, 0, "GroupLength", "1"};
static const oa_dict_entry private_creator_entry = {
    0x00000010, 0x0001FF00, OA_VR_LO, 0, 0, "PrivateCreator", "1"};

static int compare_tag(const void *key, const void *elem)
{
    uint32_t tag = *(const uint32_t *)key;
    const oa_dict_entry *e = elem;

    return tag < e->tag ? -1 : tag > e->tag ? 1 : 0;
}

const oa_dict_entry *oa_dict_lookup(uint32_t tag)
{
    const oa_dict_entry *e;
    uint16_t group = OA_TAG_GROUP(tag), element = OA_TAG_ELEMENT(tag);
    size_t i;

    if (element == 0x0000)
        return &group_length_entry;
    if (group & 1) {
        if (element >= 0x0010 && element <= 0x00FF)
            return &private_creator_entry;
        return NULL;
    }
    e = bsearch(&tag, dict_exact, OA_DICT_EXACT_COUNT, sizeof(dict_exact[0]),
                compare_tag);
    if (e != NULL)
        return e;
    for (i = 0; i < OA_DICT_WILD_COUNT; i++) {
        if ((tag & dict_wild[i].mask) == dict_wild[i].tag)
            return &dict_wild[i];
    }
    return NULL;
}

int oa_dict_find_keyword(const char *keyword, uint32_t *tag)
{
    size_t i;

    if (keyword == NULL)
        return -1;
    for (i = 0; i < OA_DICT_EXACT_COUNT; i++) {
        if (strcmp(dict_exact[i].keyword, keyword) == 0) {
            *tag = dict_exact[i].tag;
            return 0;
        }
    }
    return -1;
}

oa_vr oa_dict_vr(uint32_t tag)
{
    const oa_dict_entry *e = oa_dict_lookup(tag);

    return e ? e->vr : OA_VR_UN;
}
