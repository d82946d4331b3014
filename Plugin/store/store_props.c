/*
 * The global-property store: state in Orthanc's own database, for a
 * single server.
 *
 * Orthanc's global properties are numbered strings.  Every value lives
 * in a property of its own; which key is in which property is kept in a
 * journal, so that adding an entry writes the value and one bounded page
 * of the journal, whatever the number of entries (issue 12, defect 11:
 * the catalog of version 1 was rewritten whole for every new report):
 *
 *   first          {"Version": 2, "Journal": 100001}      written once
 *   journal page   {"Lines": [["+", ns, key, number, microseconds],
 *                             ["-", ns, key], ...],
 *                   "Next": 100042}                        at most
 *                                                          PAGE_LINES lines
 *
 * Pages form a chain from "Journal"; only the last one grows.  Start-up
 * replays the chain into an in-memory hash table (store_index.c) and, when
 * removed entries make up most of it, writes a compact chain and points
 * the root at it.  A catalog of version 1 ({"Next", "Namespaces"}) is
 * migrated the same way on first use.
 *
 * The journal is read once (lazily: the database is not open during the
 * plugin's Initialize); this process is the only writer (Orthanc keeps
 * plugin properties per server), so one mutex is all the concurrency
 * control needed.
 *
 * Order of writes, so that a crash leaves nothing inconsistent: a new
 * value is written before the journal names it, a new page before the
 * page that links to it, a compact chain before the root; a removal is
 * journaled before its value is cleared.  At worst a property is
 * orphaned (and reused: numbers restart after the highest one named).
 */
#define _POSIX_C_SOURCE 200809L

#include "store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#define PAGE_LINES 64
#define MAX_PAGES (1u << 22) /* 268 M lines: a loop guard */

typedef struct props_store {
    oa_store base;
    oa_store_prop_get get;
    oa_store_prop_set set;
    int32_t first;
    pthread_mutex_t lock;
    bool loaded;
    oa_store_index index;
    int32_t next; /* next free property number */
    int32_t page; /* the last page of the journal */
    oa_buf text;   /* its lines, serialized and comma-separated: a new
                      line is appended, never the page printed again */
    size_t nlines; /* how many */
    bool have_page;
    size_t dead;  /* journal lines that no longer name an entry */
} props_store;

static oa_status damaged(props_store *p, oa_error *err)
{
    return oa_error_set(err, OA_EPARSE,
                        "the anonymizer's catalog in global property %d is "
                        "damaged",
                        (int)p->first);
}

static bool number_ok(const props_store *p, const cJSON *n)
{
    return cJSON_IsNumber(n) && n->valuedouble > p->first &&
           n->valuedouble < INT32_MAX &&
           n->valuedouble == (double)(int32_t)n->valuedouble;
}

/* A number for a new property. */
static oa_status take_number(props_store *p, int32_t *n, oa_error *err)
{
    if (p->next >= INT32_MAX)
        return oa_error_set(err, OA_ELIMIT, "no global property left");
    *n = p->next++;
    return OA_OK;
}

static oa_status write_json(props_store *p, int32_t n, const cJSON *json,
                            oa_error *err)
{
    char *text = cJSON_PrintUnformatted(json);
    oa_status rc;

    if (text == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    rc = p->set(n, text, err);
    cJSON_free(text);
    return rc;
}

/* A page {"Lines": [lines], "Next": next (if > 0)} written to `n`;
 * `lines` is the serialized lines without the brackets. */
static oa_status write_page(props_store *p, int32_t n, const char *lines,
                            size_t len, int32_t next, oa_error *err)
{
    oa_buf page;
    oa_status rc;

    oa_buf_init(&page, (size_t)4 << 20);
    rc = oa_buf_append(&page, (const uint8_t *)"{\"Lines\":[", 10);
    if (rc == OA_OK && len > 0)
        rc = oa_buf_append(&page, (const uint8_t *)lines, len);
    if (rc == OA_OK)
        rc = oa_buf_append(&page, (const uint8_t *)"]", 1);
    if (rc == OA_OK && next > 0)
        rc = oa_buf_printf(&page, ",\"Next\":%ld", (long)next);
    if (rc == OA_OK)
        rc = oa_buf_append(&page, (const uint8_t *)"}", 1);
    if (rc != OA_OK)
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
    else
        rc = p->set(n, oa_buf_cstr(&page), err);
    oa_buf_dispose(&page);
    return rc;
}

/* Make `lines` (a JSON array) the last page's text. */
static oa_status set_last_page(props_store *p, const cJSON *lines,
                               oa_error *err)
{
    char *text = cJSON_PrintUnformatted(lines);
    size_t n = text != NULL ? strlen(text) : 0;
    oa_status rc;

    if (text == NULL || n < 2)
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
    else {
        oa_buf_reset(&p->text);
        rc = oa_buf_append(&p->text, (const uint8_t *)text + 1, n - 2);
        if (rc != OA_OK)
            rc = oa_error_set(err, rc, "journal page too large");
    }
    cJSON_free(text);
    if (rc == OA_OK) {
        p->nlines = (size_t)cJSON_GetArraySize(lines);
        p->have_page = true;
    }
    return rc;
}

static cJSON *add_line(const props_store *p, const oa_store_entry *e)
{
    cJSON *line = cJSON_CreateArray();

    (void)p;
    if (line == NULL)
        return NULL;
    cJSON_AddItemToArray(line, cJSON_CreateString("+"));
    cJSON_AddItemToArray(line, cJSON_CreateString(e->ns));
    cJSON_AddItemToArray(line, cJSON_CreateString(e->key));
    cJSON_AddItemToArray(line, cJSON_CreateNumber(e->number));
    cJSON_AddItemToArray(line, cJSON_CreateNumber((double)e->written));
    if (cJSON_GetArraySize(line) != 5) {
        cJSON_Delete(line);
        return NULL;
    }
    return line;
}

/*
 * Write the whole index as a fresh chain, then the root pointing at it
 * (the switch), then clear the pages of the old chain `old` (may be
 * NULL).  Under the lock; on failure the old chain stays in force.
 */
static oa_status write_chain(props_store *p, const int32_t *old, size_t nold,
                             oa_error *err)
{
    size_t total = p->index.count, npages, i, k = 0;
    int32_t base;
    cJSON *pages = NULL, *root = NULL;
    oa_status rc = OA_OK;

    npages = total / PAGE_LINES + 1; /* the last one has room */
    if (npages > MAX_PAGES || (int64_t)p->next + (int64_t)npages >= INT32_MAX)
        return oa_error_set(err, OA_ELIMIT, "no global property left");
    base = p->next;
    p->next += (int32_t)npages;
    pages = cJSON_CreateArray();
    for (i = 0; pages != NULL && i < npages; i++)
        cJSON_AddItemToArray(pages, cJSON_CreateArray());
    if (pages == NULL || (size_t)cJSON_GetArraySize(pages) != npages) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < p->index.nbuckets; i++) {
        const oa_store_entry *e;

        for (e = p->index.buckets[i]; e != NULL; e = e->next) {
            cJSON *line = add_line(p, e);

            if (line == NULL) {
                rc = oa_error_set(err, OA_ENOMEM, "out of memory");
                goto out;
            }
            cJSON_AddItemToArray(cJSON_GetArrayItem(pages,
                                                    (int)(k / PAGE_LINES)),
                                 line);
            k++;
        }
    }
    for (i = 0; i < npages && rc == OA_OK; i++) {
        char *text = cJSON_PrintUnformatted(cJSON_GetArrayItem(pages, (int)i));

        if (text == NULL || strlen(text) < 2) {
            cJSON_free(text);
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
            break;
        }
        rc = write_page(p, base + (int32_t)i, text + 1, strlen(text) - 2,
                        i + 1 < npages ? base + (int32_t)i + 1 : 0, err);
        cJSON_free(text);
    }
    if (rc != OA_OK)
        goto out;
    root = cJSON_CreateObject();
    if (root == NULL || cJSON_AddNumberToObject(root, "Version", 2) == NULL ||
        cJSON_AddNumberToObject(root, "Journal", base) == NULL) {
        rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        goto out;
    }
    rc = write_json(p, p->first, root, err);
    if (rc != OA_OK)
        goto out;
    for (i = 0; i < nold; i++)
        p->set(old[i], "", NULL); /* not needed any more */
    rc = set_last_page(p, cJSON_GetArrayItem(pages, (int)npages - 1), err);
    if (rc != OA_OK)
        goto out;
    p->page = base + (int32_t)npages - 1;
    p->dead = 0;
out:
    cJSON_Delete(pages);
    cJSON_Delete(root);
    return rc;
}

/* Replay one journal line into the index. */
static oa_status replay(props_store *p, const cJSON *line, int32_t *max,
                        oa_error *err)
{
    const cJSON *op = cJSON_GetArrayItem(line, 0);
    const cJSON *ns = cJSON_GetArrayItem(line, 1);
    const cJSON *key = cJSON_GetArrayItem(line, 2);
    oa_store_entry *e;

    if (!cJSON_IsString(op) || !cJSON_IsString(ns) || !cJSON_IsString(key) ||
        !oa_store_key_is_valid(ns->valuestring) ||
        !oa_store_key_is_valid(key->valuestring))
        return damaged(p, err);
    if (strcmp(op->valuestring, "-") == 0) {
        if (oa_store_index_remove(&p->index, ns->valuestring,
                                  key->valuestring))
            p->dead++; /* its "+" line */
        p->dead++;
        return OA_OK;
    }
    if (strcmp(op->valuestring, "+") != 0 ||
        !number_ok(p, cJSON_GetArrayItem(line, 3)) ||
        !cJSON_IsNumber(cJSON_GetArrayItem(line, 4)))
        return damaged(p, err);
    e = oa_store_index_find(&p->index, ns->valuestring, key->valuestring);
    if (e != NULL)
        p->dead++; /* a re-add (not written by us; tolerated) */
    else if ((e = oa_store_index_add(&p->index, ns->valuestring,
                                     key->valuestring)) == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    e->number = (int32_t)cJSON_GetArrayItem(line, 3)->valuedouble;
    e->written = (int64_t)cJSON_GetArrayItem(line, 4)->valuedouble;
    if (e->number > *max)
        *max = e->number;
    return OA_OK;
}

/* Version 1: {"Next": n, "Namespaces": {ns: {key: number}}}. */
static oa_status load_v1(props_store *p, cJSON *cat, oa_error *err)
{
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(cat, "Next");
    const cJSON *spaces = cJSON_GetObjectItemCaseSensitive(cat, "Namespaces");
    const cJSON *space, *num;
    int64_t now = oa_store_now_us();

    if (!cJSON_IsNumber(next) || !cJSON_IsObject(spaces) ||
        next->valuedouble <= p->first || next->valuedouble > INT32_MAX)
        return damaged(p, err);
    p->next = (int32_t)next->valuedouble;
    cJSON_ArrayForEach(space, spaces) {
        cJSON_ArrayForEach(num, space) {
            oa_store_entry *e;

            if (!number_ok(p, num) || !oa_store_key_is_valid(space->string) ||
                !oa_store_key_is_valid(num->string))
                return damaged(p, err);
            e = oa_store_index_add(&p->index, space->string, num->string);
            if (e == NULL)
                return oa_error_set(err, OA_ENOMEM, "out of memory");
            e->number = (int32_t)num->valuedouble;
            e->written = now;
        }
    }
    return write_chain(p, NULL, 0, err);
}

/* Version 2: replay the chain. */
static oa_status load_v2(props_store *p, const cJSON *root, oa_error *err)
{
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(root, "Journal");
    int32_t page, max = p->first, *chain = NULL;
    size_t npages = 0, cap = 0;
    oa_status rc = OA_OK;

    if (!number_ok(p, first))
        return damaged(p, err);
    page = (int32_t)first->valuedouble;
    for (;;) {
        char *text = NULL;
        cJSON *json, *lines, *line, *next;

        if (npages >= MAX_PAGES) {
            rc = damaged(p, err);
            break;
        }
        if (npages == cap) {
            int32_t *c =
                oa_realloc(chain, (cap ? cap * 2 : 16) * sizeof(*chain));

            if (c == NULL) {
                rc = oa_error_set(err, OA_ENOMEM, "out of memory");
                break;
            }
            chain = c;
            cap = cap ? cap * 2 : 16;
        }
        chain[npages++] = page;
        if (page > max)
            max = page;
        rc = p->get(page, &text, err);
        if (rc != OA_OK)
            break;
        json = text != NULL ? cJSON_Parse(text) : NULL;
        oa_free(text);
        lines = cJSON_GetObjectItemCaseSensitive(json, "Lines");
        if (!cJSON_IsArray(lines)) {
            cJSON_Delete(json);
            rc = damaged(p, err);
            break;
        }
        cJSON_ArrayForEach(line, lines) {
            rc = replay(p, line, &max, err);
            if (rc != OA_OK)
                break;
        }
        next = cJSON_GetObjectItemCaseSensitive(json, "Next");
        if (rc != OA_OK || next == NULL) {
            if (rc == OA_OK) { /* the last page: the one that grows */
                rc = set_last_page(p, lines, err);
                p->page = page;
            }
            cJSON_Delete(json);
            break;
        }
        if (!number_ok(p, next) || next->valuedouble <= page) {
            cJSON_Delete(json);
            rc = damaged(p, err); /* pages only ever link forwards */
            break;
        }
        page = (int32_t)next->valuedouble;
        cJSON_Delete(json);
    }
    if (rc == OA_OK) {
        p->next = max + 1;
        /* Mostly removed entries (retention): compact once, now. */
        if (p->dead > p->index.count + PAGE_LINES &&
            write_chain(p, chain, npages, NULL) != OA_OK)
            oa_log(OA_LOG_WARNING,
                   "the anonymizer's store journal could "
                   "not be compacted; it will be at the next start");
    }
    oa_free(chain);
    return rc;
}

/* Under the lock: the index, loaded on first use. */
static oa_status load(props_store *p, oa_error *err)
{
    char *text = NULL;
    cJSON *root;
    oa_status rc;

    if (p->loaded)
        return OA_OK;
    rc = p->get(p->first, &text, err);
    if (rc != OA_OK)
        return rc;
    oa_store_index_dispose(&p->index);
    oa_buf_reset(&p->text);
    p->nlines = 0;
    p->have_page = false;
    p->dead = 0;
    if (text == NULL) { /* a new store: an empty journal */
        p->next = p->first + 1;
        rc = write_chain(p, NULL, 0, err);
    } else {
        root = cJSON_Parse(text);
        oa_free(text);
        if (!cJSON_IsObject(root))
            rc = damaged(p, err);
        else if (cJSON_GetObjectItemCaseSensitive(root, "Version") == NULL)
            rc = load_v1(p, root, err);
        else if (cJSON_IsNumber(
                     cJSON_GetObjectItemCaseSensitive(root, "Version")) &&
                 cJSON_GetObjectItemCaseSensitive(root, "Version")
                         ->valuedouble == 2)
            rc = load_v2(p, root, err);
        else
            rc = oa_error_set(err, OA_EUNSUPPORTED,
                              "the anonymizer's catalog in global property "
                              "%d was written by a newer plugin",
                              (int)p->first);
        cJSON_Delete(root);
    }
    if (rc == OA_OK && !p->have_page)
        rc = damaged(p, err);
    if (rc != OA_OK) {
        oa_store_index_dispose(&p->index);
        oa_buf_reset(&p->text);
        p->have_page = false;
        return rc;
    }
    p->loaded = true;
    return OA_OK;
}

/* Forget the cache after a failed journal write: the next call reloads
 * what the database holds. */
static void forget(props_store *p)
{
    p->loaded = false;
}

/*
 * Append one line to the journal: rewrite the last page (at most
 * PAGE_LINES lines), or start a new page and link the full one to it.
 * Under the lock; takes `line`.
 */
static oa_status journal(props_store *p, cJSON *line, oa_error *err)
{
    char *text = line != NULL ? cJSON_PrintUnformatted(line) : NULL;
    size_t n = text != NULL ? strlen(text) : 0, old = p->text.len;
    oa_status rc;
    int32_t fresh = 0;

    cJSON_Delete(line);
    if (text == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    if (p->nlines < PAGE_LINES) {
        rc = p->nlines > 0 ? oa_buf_append(&p->text, (const uint8_t *)",", 1)
                           : OA_OK;
        if (rc == OA_OK)
            rc = oa_buf_append(&p->text, (const uint8_t *)text, n);
        if (rc != OA_OK)
            rc = oa_error_set(err, rc, "journal page too large");
        else
            rc = write_page(p, p->page, (const char *)oa_buf_data(&p->text),
                            p->text.len, 0, err);
        if (rc == OA_OK)
            p->nlines++;
        else
            p->text.len = old;   /* as the database has it */
        cJSON_free(text);
        return rc;
    }
    rc = take_number(p, &fresh, err);
    if (rc == OA_OK)
        rc = write_page(p, fresh, text, n, 0, err);
    if (rc == OA_OK) /* the link: the new page is now in force */
        rc = write_page(p, p->page, (const char *)oa_buf_data(&p->text),
                        p->text.len, fresh, err);
    if (rc == OA_OK) {
        oa_buf_reset(&p->text);
        rc = oa_buf_append(&p->text, (const uint8_t *)text, n);
        p->nlines = 1;
        p->page = fresh;
        if (rc != OA_OK) {   /* cannot happen: one line fits */
            p->loaded = false;
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
        }
    }
    cJSON_free(text);
    return rc;
}

static oa_status props_get_locked(props_store *p, const char *ns,
                                  const char *key, char **value,
                                  oa_error *err)
{
    oa_status rc = load(p, err);
    oa_store_entry *e;

    if (rc != OA_OK)
        return rc;
    e = oa_store_index_find(&p->index, ns, key);
    if (e == NULL)
        return oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    rc = p->get(e->number, value, err);
    if (rc == OA_OK && *value == NULL)
        return oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
    return rc;
}

static oa_status props_get(oa_store *s, const char *ns, const char *key,
                           char **value, oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;

    pthread_mutex_lock(&p->lock);
    rc = props_get_locked(p, ns, key, value, err);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_put_locked(props_store *p, const char *ns,
                                  const char *key, const char *value,
                                  oa_error *err)
{
    oa_store_entry tmp, *e;
    oa_status rc = load(p, err);
    int32_t n = 0;

    if (rc != OA_OK)
        return rc;
    e = oa_store_index_find(&p->index, ns, key);
    if (e != NULL)
        return p->set(e->number, value, err); /* in place */

    rc = take_number(p, &n, err);
    if (rc == OA_OK)
        rc = p->set(n, value, err);
    if (rc != OA_OK)
        return rc;
    memset(&tmp, 0, sizeof(tmp));
    tmp.ns = (char *)ns;
    tmp.key = (char *)key;
    tmp.number = n;
    tmp.written = oa_store_now_us();
    rc = journal(p, add_line(p, &tmp), err);
    if (rc != OA_OK) {
        forget(p);
        return rc;
    }
    e = oa_store_index_add(&p->index, ns, key);
    if (e == NULL) {
        forget(p);
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    e->number = n;
    e->written = tmp.written;
    return OA_OK;
}

static oa_status props_put(oa_store *s, const char *ns, const char *key,
                           const char *value, oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;

    pthread_mutex_lock(&p->lock);
    rc = props_put_locked(p, ns, key, value, err);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_put_if_absent(oa_store *s, const char *ns,
                                     const char *key, const char *value,
                                     char **stored, oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;

    pthread_mutex_lock(&p->lock);
    rc = props_get_locked(p, ns, key, stored, err);
    if (rc == OA_ENOTFOUND) {
        oa_error_clear(err);
        rc = props_put_locked(p, ns, key, value, err);
        if (rc == OA_OK && (*stored = oa_strdup(value)) == NULL)
            rc = oa_error_set(err, OA_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_remove(oa_store *s, const char *ns, const char *key,
                              oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_store_entry *e;
    cJSON *line;
    oa_status rc;
    int32_t n = 0;

    pthread_mutex_lock(&p->lock);
    rc = load(p, err);
    if (rc != OA_OK)
        goto out;
    e = oa_store_index_find(&p->index, ns, key);
    if (e == NULL) {
        rc = oa_error_set(err, OA_ENOTFOUND, "no %s named %s", ns, key);
        goto out;
    }
    n = e->number;
    line = cJSON_CreateArray();
    if (line != NULL) {
        cJSON_AddItemToArray(line, cJSON_CreateString("-"));
        cJSON_AddItemToArray(line, cJSON_CreateString(ns));
        cJSON_AddItemToArray(line, cJSON_CreateString(key));
    }
    rc = journal(p, line, err);
    if (rc != OA_OK) {
        forget(p);
        goto out;
    }
    oa_store_index_remove(&p->index, ns, key);
    p->dead += 2;
    rc = p->set(n, "", err); /* the value itself: not needed any more */
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static oa_status props_list(oa_store *s, const char *ns, char ***keys,
                            int64_t **times, size_t *count, oa_error *err)
{
    props_store *p = (props_store *)s;
    oa_status rc;

    pthread_mutex_lock(&p->lock);
    rc = load(p, err);
    if (rc == OA_OK)
        rc = oa_store_index_list(&p->index, ns, keys, times, count, err);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void props_free(oa_store *s)
{
    props_store *p = (props_store *)s;

    oa_store_index_dispose(&p->index);
    oa_buf_dispose(&p->text);
    pthread_mutex_destroy(&p->lock);
    oa_free(p);
}

static const oa_store_ops props_ops = {
    "props",      props_get,  props_put,  props_put_if_absent,
    props_remove, props_list, props_free,
};

oa_status oa_store_props_new(oa_store **out, oa_store_prop_get get,
                             oa_store_prop_set set, int32_t first,
                             oa_error *err)
{
    props_store *p;

    *out = NULL;
    if (get == NULL || set == NULL || first <= 0 || first == INT32_MAX)
        return oa_error_set(err, OA_EINVAL, "bad property store arguments");
    p = oa_calloc(1, sizeof(*p));
    if (p == NULL)
        return oa_error_set(err, OA_ENOMEM, "out of memory");
    p->base.ops = &props_ops;
    p->get = get;
    p->set = set;
    p->first = first;
    pthread_mutex_init(&p->lock, NULL);
    oa_store_index_init(&p->index);
    oa_buf_init(&p->text, (size_t)4 << 20);
    *out = &p->base;
    return OA_OK;
}
