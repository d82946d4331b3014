'use strict';
/**
 * Browser test of the anonymizer's Orthanc Explorer buttons
 * (Resources/Explorer/explorer.js), in Debian's headless Chromium driven by
 * playwright-core.  Started by test_explorer.py, which runs Orthanc with the
 * plugin and one uploaded study, and passes through the environment:
 *
 *   OA_PLAYWRIGHT    folder of the playwright-core module
 *   OA_CHROMIUM      the browser (/usr/bin/chromium)
 *   OA_BASE_URL      Orthanc as the browser sees it, ending with "/" (a
 *                    reverse proxy at a sub-path, so that any URL that is
 *                    not relative breaks the test)
 *   OA_API_URL       Orthanc itself, for the test's own REST checks
 *   OA_PATIENT, OA_STUDY   the Orthanc ids of the uploaded patient and study
 *   OA_INJECT_EXPLORER     (development only) a file served instead of the
 *                    plugin's ../plugins/explorer.js
 *
 * Prints "PASS name" / "FAIL name: reason" per check and "N passed, M
 * failed"; never a DICOM value (the list's labels are compared, not shown).
 * The checks, the browser and its watch come from browser_common.js.
 */

const fs = require('fs');
const path = require('path');

const { env, BASE, API, check, assert, api, launch, watch, run } =
  require('./browser_common');

const PATIENT = env.OA_PATIENT;
const STUDY = env.OA_STUDY;
const LIST_KEY = 'orthanc-anonymizer.list';
const TIMEOUT = 20000;

async function waitFor(what, fn, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(what + ': not within ' + ms / 1000 + ' s');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function storedList(page) {
  const raw = await page.evaluate((key) => window.localStorage.getItem(key),
                                  LIST_KEY);
  assert(raw !== null, 'localStorage has no "' + LIST_KEY + '"');
  const list = JSON.parse(raw);
  assert(Array.isArray(list), 'the stored list is not a JSON array');
  return list;
}

// Open an Orthanc Explorer page and wait for jQuery Mobile to show it.
async function openPage(page, name, uuid) {
  await page.goto(BASE + 'app/explorer.html#' + name + '?uuid=' + uuid);
  await page.waitForFunction(
    (id) => window.$ && $.mobile && $.mobile.activePage &&
      $.mobile.activePage.attr('id') === id, name, { timeout: TIMEOUT });
}

// After a click on "Anonymize": the job id from the job page's URL, or
// the message the button showed instead (the plugin's error Details).
async function jobIdFromUrl(page, name) {
  const outcome = await page.waitForFunction(
    (name) => {
      if (/#job\?uuid=/.test(window.location.hash)) {
        return 'job';
      }
      const text = $('#oa-' + name + '-status').text();
      return /Anonymization failed/.test(text) ? text : null;
    }, name, { timeout: TIMEOUT });
  const value = await outcome.jsonValue();
  if (value !== 'job') {
    throw new Error('the page says: ' + value);
  }
  const m = /#job\?uuid=([^&]+)/.exec(page.url());
  return decodeURIComponent(m[1]);
}

// Development aid: OA_SCREENSHOTS=folder keeps a picture of each page.
async function screenshot(page, name) {
  if (env.OA_SCREENSHOTS) {
    await page.screenshot({ path: path.join(env.OA_SCREENSHOTS, name + '.png'),
                            fullPage: true });
  }
}

async function main() {
  const browser = await launch();
  try {
    const page = browser.page;
    const { pageErrors, foreign } = watch(page, TIMEOUT);
    if (env.OA_INJECT_EXPLORER) {
      const body = fs.readFileSync(env.OA_INJECT_EXPLORER);
      await page.route('**/plugins/explorer.js', (route) => route.fulfill({
        status: 200, contentType: 'application/javascript', body }));
    }

    // -- patient page ------------------------------------------------------
    const onPatient = await check('patient page shows "Anonymize" and ' +
                                  '"Add to anonymization list"', async () => {
      await openPage(page, 'patient', PATIENT);
      const a = page.locator('#oa-patient-anonymize');
      const b = page.locator('#oa-patient-add-to-list');
      await a.waitFor({ state: 'visible' });
      await b.waitFor({ state: 'visible' });
      assert((await a.innerText()).trim() === 'Anonymize', 'wrong label');
      assert((await b.innerText()).trim() === 'Add to anonymization list',
             'wrong label');
    });

    await check('patient: "Add to anonymization list" stores the entry ' +
                'and says so, with a link to the anonymizer', async () => {
      assert(onPatient, 'no patient page');
      await page.evaluate((key) => window.localStorage.removeItem(key),
                          LIST_KEY);
      await page.click('#oa-patient-add-to-list');
      const status = page.locator('#oa-patient-status');
      await status.waitFor({ state: 'visible' });
      await page.waitForFunction(
        () => /Added to the anonymization list/.test(
          $('#oa-patient-status').text()), null, { timeout: TIMEOUT });
      const list = await storedList(page);
      assert(list.length === 1, list.length + ' entries');
      assert(list[0].Level === 'Patient' && list[0].ID === PATIENT,
             'wrong Level/ID');
      const patient = (await api('/patients/' + PATIENT)).json;
      const label = list[0].Label;
      assert(typeof label === 'string' && label.length > 0 &&
             label.length <= 80, 'no short Label');
      assert(label.indexOf(patient.MainDicomTags.PatientID) >= 0,
             'the Label does not show the patient\'s ID');
      const href = await status.locator('a').getAttribute('href');
      const resolved = await status.locator('a').evaluate((a) => a.href);
      assert(href === '../anonymizer/app/index.html', 'link is not relative');
      await screenshot(page, 'patient');
      assert(resolved === BASE + 'anonymizer/app/index.html', 'link resolves elsewhere');
    });

    await check('patient: adding it again leaves one entry', async () => {
      assert(onPatient, 'no patient page');
      await page.click('#oa-patient-add-to-list');
      await page.waitForFunction(
        () => /Already in the anonymization list/.test(
          $('#oa-patient-status').text()), null, { timeout: TIMEOUT });
      const list = await storedList(page);
      assert(list.length === 1, list.length + ' entries');
    });

    // -- study page --------------------------------------------------------
    const onStudy = await check('study page shows both buttons', async () => {
      await openPage(page, 'study', STUDY);
      await page.locator('#oa-study-anonymize').waitFor({ state: 'visible' });
      await page.locator('#oa-study-add-to-list')
        .waitFor({ state: 'visible' });
      const status = await page.locator('#oa-study-status').isVisible();
      assert(!status, 'a stale message is shown');
    });

    await check('study: "Add to anonymization list" appends a Study entry',
                async () => {
      assert(onStudy, 'no study page');
      await page.click('#oa-study-add-to-list');
      await page.waitForFunction(
        () => /Added to the anonymization list/.test(
          $('#oa-study-status').text()), null, { timeout: TIMEOUT });
      const list = await storedList(page);
      assert(list.length === 2, list.length + ' entries');
      assert(list[0].Level === 'Patient' && list[0].ID === PATIENT,
             'the patient entry changed');
      assert(list[1].Level === 'Study' && list[1].ID === STUDY,
             'wrong Level/ID');
      const study = (await api('/studies/' + STUDY)).json;
      const description = study.MainDicomTags.StudyDescription;
      assert(typeof list[1].Label === 'string' &&
             list[1].Label.indexOf(description) >= 0,
             'the Label does not show the study description');
    });

    let studyJob = null;
    let copyStudy = null;
    await check('study: "Anonymize" starts an Anonymization job and opens ' +
                'its job page', async () => {
      assert(onStudy, 'no study page');
      await page.click('#oa-study-anonymize');
      studyJob = await jobIdFromUrl(page, 'study');
      await page.waitForFunction(
        () => $.mobile.activePage && $.mobile.activePage.attr('id') === 'job',
        null, { timeout: TIMEOUT });
      const job = await api('/jobs/' + encodeURIComponent(studyJob));
      assert(job.status === 200, 'GET /jobs/{id}: HTTP ' + job.status);
      assert(job.json.Type === 'Anonymization', 'job Type ' + job.json.Type);
      const jobs = (await api('/jobs?expand')).json;
      assert(jobs.some((j) => j.ID === studyJob && j.Type === 'Anonymization'),
             'GET /jobs does not list it');
      await page.waitForFunction(
        () => /Anonymization/.test($('#job-info').text()), null,
        { timeout: TIMEOUT });
    });

    await check('study: the job ends Success and an anonymized study ' +
                'appears', async () => {
      assert(studyJob, 'no job');
      const job = await waitFor('the job to end', async () => {
        const j = (await api('/jobs/' + encodeURIComponent(studyJob))).json;
        return j && (j.State === 'Success' || j.State === 'Failure') ? j : null;
      }, 30000);
      assert(job.State === 'Success', 'job State ' + job.State);
      const studies = (job.Content && job.Content.Studies) || [];
      assert(studies.length === 1 && studies[0].Original === STUDY &&
             typeof studies[0].Anonymized === 'string',
             'job content names no anonymized study');
      const anonymized = studies[0].Anonymized;
      copyStudy = anonymized;
      const all = (await api('/studies')).json;
      assert(all.indexOf(anonymized) >= 0 && all.length === 2,
             'not 2 studies in Orthanc');
      const instances = (await api('/studies/' + anonymized + '/instances'))
        .json;
      assert(instances.length > 0, 'the anonymized study is empty');
      const pir = await fetch(API + '/instances/' + instances[0].ID +
                              '/content/0012-0062');
      assert((await pir.text()).replace(/[\s\0]+$/, '') === 'YES',
             'Patient Identity Removed is not YES');
    });

    await check('an anonymized study\'s page says it is a copy (profile, ' +
                'date, a link to the original); "Anonymize" is refused ' +
                'with the same words as the REST 409, "Anonymize again ' +
                'anyway" does it', async () => {
      assert(copyStudy, 'no anonymized study');
      await openPage(page, 'study', copyStudy);
      await page.waitForSelector('#oa-study-copy:visible',
                                 { timeout: TIMEOUT });
      const line = await page.locator('#oa-study-copy').innerText();
      assert(/^An anonymized copy \(profile Default, \d{4}-\d\d-\d\d\) of study /
        .test(line), 'the line says: ' + line.slice(0, 80));
      const href = await page.getAttribute('#oa-study-copy a', 'href');
      assert(href === '#study?uuid=' + STUDY, 'the link is not the original');
      const rest = await api('/anonymizer/studies/' + copyStudy + '/anonymize',
                             { method: 'POST', body: '{}' });
      assert(rest.status === 409, 'REST answers HTTP ' + rest.status);
      await page.click('#oa-study-anonymize');
      await page.waitForSelector('#oa-study-force', { timeout: TIMEOUT });
      const text = await page.locator('#oa-study-status').innerText();
      assert(text.indexOf(rest.json.Details) >= 0 &&
             text.indexOf(STUDY) >= 0,
             'the message is not the 409\'s, naming the original');
      await screenshot(page, 'study-copy');
      await page.click('#oa-study-force');
      const id = await jobIdFromUrl(page, 'study');
      const job = await api('/jobs/' + encodeURIComponent(id));
      assert(job.status === 200 && job.json.Type === 'Anonymization',
             'no Anonymization job after "Anonymize again anyway"');
    });

    await check('a study anonymized by Orthanc itself says so on its page',
                async () => {
      const made = await api('/studies/' + STUDY + '/anonymize',
                             { method: 'POST', body: '{}' });
      assert(made.status === 200 && made.json.ID, 'Orthanc\'s anonymize: ' +
             'HTTP ' + made.status);
      await openPage(page, 'study', made.json.ID);
      await page.waitForSelector('#oa-study-copy:visible',
                                 { timeout: TIMEOUT });
      // The line of the copy opened before may still be shown while this
      // page asks the plugin about the new study: wait for its own words
      // (a timeout is reported by the assertion, with what it says).
      await page.waitForFunction(
        () => /^An anonymized copy made by Orthanc of study/.test(
          (document.querySelector('#oa-study-copy') || {}).innerText || ''),
        null, { timeout: TIMEOUT }).catch(() => {});
      const line = await page.locator('#oa-study-copy').innerText();
      assert(/^An anonymized copy made by Orthanc of study/.test(line),
             'the line says: ' + line.slice(0, 80));
    });

    await check('patient: "Anonymize" starts an Anonymization job too',
                async () => {
      await openPage(page, 'patient', PATIENT);
      await page.click('#oa-patient-anonymize');
      const id = await jobIdFromUrl(page, 'patient');
      assert(id !== studyJob, 'the same job id as before');
      const job = await api('/jobs/' + encodeURIComponent(id));
      assert(job.status === 200 && job.json.Type === 'Anonymization',
             'not an Anonymization job');
    });

    await check('an error shows the Details of the JSON error on the page',
                async () => {
      const unknown = '00000000-00000000-00000000-00000000-00000000';
      const expected = await api('/anonymizer/studies/' + unknown +
                                 '/anonymize', { method: 'POST', body: '{}' });
      assert(expected.status === 404, 'the plugin answers HTTP ' +
             expected.status + ' for an unknown study');
      assert(expected.json && typeof expected.json.Details === 'string' &&
             expected.json.Details !== '', 'no Details in the JSON error');
      await openPage(page, 'study', unknown);
      await page.click('#oa-study-anonymize');
      await page.waitForFunction(
        () => /Anonymization failed/.test($('#oa-study-status').text()), null,
        { timeout: TIMEOUT });
      const text = await page.locator('#oa-study-status').innerText();
      await screenshot(page, 'study-error');
      assert(text.indexOf(expected.json.Details) >= 0,
             'the message does not hold the Details');
      assert(/#study\?uuid=/.test(page.url()), 'the page was left');
    });

    await check('no script error on the pages, and every request stays ' +
                'under Orthanc\'s URL', async () => {
      assert(pageErrors.length === 0, 'page errors: ' + pageErrors.join(' | '));
      assert(foreign.length === 0, 'requests elsewhere: ' + foreign.join(' '));
    });
  } finally {
    await browser.close();
  }
}

run(main);
