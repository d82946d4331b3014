'use strict';
/**
 * Browser test of the plugin's web page (WebApp/, /anonymizer/app/) in
 * Debian's headless Chromium driven by playwright-core.  Started by
 * test_webapp.py, which runs Orthanc with the plugin and three generated
 * patients, and passes through the environment:
 *
 *   OA_PLAYWRIGHT     folder of the playwright-core module
 *   OA_CHROMIUM       the browser (/usr/bin/chromium)
 *   OA_BASE_URL       Orthanc as the browser sees it, ending with "/" (a
 *                     reverse proxy at a sub-path: a URL that is not
 *                     relative breaks the test)
 *   OA_API_URL        Orthanc itself, for the test's own REST checks
 *   OA_IDS            {"A", "B", "Evil"}: Orthanc ids of the patients
 *   OA_DOWNLOADS      where the downloaded ZIP and CSV are saved
 *                     (export.zip, report.csv: test_webapp.py checks them)
 *   OA_SCREENSHOTS    where the screenshots of each tab are written
 *   OA_TYPED_NAME, OA_TYPED_ID   what is typed as patient A's new name/ID
 *   OA_EVIL_NAME, OA_EVIL_DESCRIPTION, OA_EVIL_PATIENT_ID   the malicious
 *                     patient (compared, never printed)
 *   OA_SEARCH_NAME    a part of the names of A and B (not of Evil)
 *   OA_CLOSED_PORT    a loopback port where nothing listens
 *   OA_WAYOUT_NAME, OA_WAYOUT_ID   patient A's new name/ID on the way
 *                     out (wayout.zip: test_webapp.py checks it)
 *   OA_US_DEVICE      {"Manufacturer", "Model", "Rows", "Columns"} of the
 *                     ultrasound image of patient "US" (Burned In
 *                     Annotation YES)
 *
 * Prints "PASS name" / "FAIL name: reason" per check, "RESULT key value"
 * for test_webapp.py, and "N passed, M failed"; never a DICOM value.
 * The checks, the browser and its watch come from browser_common.js.
 */

const fs = require('fs');
const path = require('path');

const { env, BASE, check, must, assert, api, launch, watch, run } =
  require('./browser_common');

const PAGE = BASE + 'anonymizer/app/index.html';
const IDS = JSON.parse(env.OA_IDS);
const SHOTS = env.OA_SCREENSHOTS;
const DOWNLOADS = env.OA_DOWNLOADS;
const LIST_KEY = 'orthanc-anonymizer.list';
const PROFILE = 'web-research';
const PIXEL_PROFILE = 'web-pixels';
const REFUSE_PROFILE = 'web-refuse';
const AGES_PROFILE = 'web-ages';
const US_DEVICE = JSON.parse(env.OA_US_DEVICE);
const PIXEL_LABEL = 'WebSonic banner';
const PIXEL_RECTS = [[0, 0, 64, 8], [40, 38, 24, 10]];
const TIMEOUT = 15000;
const JOB_TIMEOUT = 60000;

async function ready(page) {
  await page.waitForSelector('body[data-ready="1"]', { timeout: TIMEOUT });
}

async function tab(page, name) {
  await page.click('#tab-' + name);
  await page.waitForSelector('#panel-' + name + ':not([hidden])');
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

// Waits for the newest job card of `kind` to end; returns its job id.
// The jobs already waited for: a new job's card is told from older
// cards of the same kind by its job ID, not by its place in the list.
const seenJobs = new Set();

async function waitJob(page, kind) {
  const id = await waitJobEnd(page, kind);
  const card = page.locator('li.job[data-job="' + id + '"]');
  const state = await card.getAttribute('data-state');
  if (state !== 'Success') {
    const words = await card.locator('.job-result').innerText();
    throw new Error('the job ended ' + state + ': ' + words.slice(0, 300));
  }
  const value = await card.locator('progress').evaluate((p) => p.value);
  assert(value === 100, 'the progress bar is at ' + value);
  return id;
}

// The same, whatever the job's end (Success or Failure).
async function waitJobEnd(page, kind) {
  const handle = await page.waitForFunction(([kind, seen]) => {
    const cards = document.querySelectorAll('li.job[data-kind="' + kind + '"]');
    for (const li of cards) {
      const id = li.getAttribute('data-job');
      if (!id || seen.includes(id)) {
        continue;
      }
      const done = li.dataset.state === 'Success' ||
        li.dataset.state === 'Failure' || li.dataset.state === 'Unknown';
      return done ? id : null;   // the new card, finished or not yet
    }
    return null;
  }, [kind, Array.from(seenJobs)], { timeout: JOB_TIMEOUT });
  const id = await handle.jsonValue();
  seenJobs.add(id);
  return id;
}

// The anonymization list holds only `entries` (as Orthanc Explorer
// writes them), shown after a reload on the Anonymize tab.
async function listOnly(page, entries) {
  await tab(page, 'anonymize');
  await page.evaluate(([key, list]) => {
    localStorage.setItem(key, JSON.stringify(list));
  }, [LIST_KEY, entries]);
  await page.reload();
  await ready(page);
  const n = await page.locator('#list-body li.entry').count();
  assert(n === entries.length, 'the list has ' + n + ' entries');
}

// The Setup tab, its profiles read (a profile shown as the current one).
async function setupTab(page) {
  if (await page.isHidden('#panel-setup')) {
    await tab(page, 'setup');
  }
  await page.waitForSelector('#profile-list button[aria-current="true"]');
}

// A profile's button in Setup, its form shown.
async function openSetupProfile(page, name) {
  await setupTab(page);
  await page.click('#profile-list button[data-name="' + name + '"]');
  await page.waitForSelector('#profile-list button[data-name="' + name +
                             '"][aria-current="true"]');
  await page.waitForFunction((n) => document.getElementById('profile-title')
    .textContent === 'Profile ' + n, name);
}

// Every form control has a label a screen reader can read.
async function unlabelled(page) {
  return page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden') {
        continue;
      }
      const ok = (el.labels && el.labels.length > 0) ||
        el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!ok) {
        out.push(el.id || el.name || el.tagName);
      }
    }
    return out;
  });
}

async function noHorizontalScroll(page) {
  const [scroll, width] = await page.evaluate(
    () => [document.documentElement.scrollWidth, window.innerWidth]);
  assert(scroll <= width, 'the page is ' + scroll + ' px wide in a ' +
         width + ' px window');
}

// Tab until the focus is on `selector`; every stop must show it (the
// ones that do not are added to `invisible`).
async function tabUntil(page, selector, invisible, max) {
  for (let i = 0; i < (max || 80); i++) {
    await page.keyboard.press('Tab');
    const st = await page.evaluate((sel) => {
      const el = document.activeElement;
      const cs = getComputedStyle(el);
      return { hit: el.matches(sel),
               // what the page draws around it (its :focus-visible
               // outline; a date field shows it while one of its parts
               // is being typed)
               visible: el === document.body ||
                 (cs.outlineStyle !== 'none' &&
                  parseFloat(cs.outlineWidth) >= 2),
               what: el.id || el.className || el.tagName };
    }, selector);
    if (!st.visible) {
      invisible.push(st.what);
    }
    if (st.hit) {
      return;
    }
  }
  throw new Error('Tab never reached ' + selector);
}

async function download(page, click, file) {
  const [d] = await Promise.all([page.waitForEvent('download',
                                                   { timeout: TIMEOUT }),
                                 click()]);
  const failure = await d.failure();
  assert(!failure, 'the download failed: ' + failure);
  await d.saveAs(path.join(DOWNLOADS, file));
  return d.suggestedFilename();
}

async function main() {
  const browser = await launch({
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    args: ['--disable-quic'],
  });
  const consoleErrors = [];
  let job = null;
  let exportJob = null;
  let pixelJob = null;
  let wayoutJob = null;
  try {
    const page = browser.page;
    const { pageErrors, foreign, dialogs } = watch(page, TIMEOUT);
    page.on('console', (m) => {
      // A CSP violation is reported as a console error.  The answers the
      // test provokes (404, 409, 400 of a refused profile, 502) are not.
      // (403: the refused preview; ERR_FAILED: Orthanc made unreachable.)
      if (m.type() === 'error' &&
          !/status of 40[0349]|status of 50[02]|ERR_FAILED/.test(m.text())) {
        consoleErrors.push(m.text().split('\n')[0].slice(0, 200));
      }
    });

    await must('the page opens through a reverse proxy at a sub-path',
      async () => {
        const response = await page.goto(PAGE);
        assert(response.status() === 200, 'HTTP ' + response.status());
        await ready(page);
        const selected = await page.getAttribute('#tab-anonymize',
                                                 'aria-selected');
        assert(selected === 'true', 'the Anonymize tab is not selected');
      });

    await must('search by name (Enter in the search bar) finds the two ' +
               'patients, grouped with their studies', async () => {
      await page.fill('#search-name', env.OA_SEARCH_NAME);
      await page.press('#search-name', 'Enter');
      await page.waitForSelector('#results tbody.patient-group');
      const groups = await page.$$eval('#results tbody.patient-group',
        (bodies) => bodies.map((b) => [b.dataset.patient,
          b.querySelectorAll('tr.study-row').length]));
      const got = Object.fromEntries(groups);
      assert(groups.length === 2, groups.length + ' patients found');
      assert(got[IDS.A] === 1 && got[IDS.B] === 2,
             'not patients A (1 study) and B (2 studies)');
      await page.waitForFunction(() => Array.from(
        document.querySelectorAll('#results td.modalities'))
        .every((td) => td.textContent !== '…'));
    });

    await check('search by modality and by study date range', async () => {
      await page.click('#search-reset');
      await page.fill('#search-modality', 'MR');
      await page.click('#search-button');
      await page.waitForFunction(() => document.querySelectorAll(
        '#results tr.study-row').length === 1 &&
        /1 study/.test(document.getElementById('search-status').textContent));
      const patients = await page.$$eval('#results tbody.patient-group',
        (b) => b.map((x) => x.dataset.patient));
      assert(patients.length === 1 && patients[0] === IDS.B,
             'MR: not B\'s one study');
      await page.fill('#search-modality', '');
      await page.fill('#search-from', '2024-01-01');
      await page.fill('#search-to', '2024-01-31');
      await page.click('#search-button');
      // The results change from B's study to A's (or the wait fails).
      await page.waitForFunction((a) => {
        const groups = document.querySelectorAll('#results tbody.patient-group');
        return groups.length === 1 && groups[0].dataset.patient === a &&
          groups[0].querySelectorAll('tr.study-row').length === 1;
      }, IDS.A).catch(() => {
        throw new Error('January 2024: not A\'s one study');
      });
    });

    await check('a malicious patient name and study description are shown ' +
                'as text', async () => {
      await page.click('#search-reset');
      await page.fill('#search-id', env.OA_EVIL_PATIENT_ID);
      await page.click('#search-button');
      await page.waitForSelector('#results tbody.patient-group[data-patient="' +
                                 IDS.Evil + '"] tr.study-row');
      const name = await page.textContent('#results th.patient-name');
      const description = await page.textContent('#results td.description');
      assert(name === env.OA_EVIL_NAME, 'the name is not shown as typed');
      assert(description === env.OA_EVIL_DESCRIPTION,
             'the description is not shown as typed');
      const injected = await page.evaluate(() => [
        document.querySelectorAll('main script, main img').length,
        document.querySelectorAll('script').length]);
      assert(injected[0] === 0, 'the results hold a script or img element');
      assert(injected[1] === 1, injected[1] + ' script elements in the page');
      assert(dialogs.length === 0, 'a dialog opened');
    });

    await must('two patients are added to the anonymization list; one gets ' +
               'a typed New Name and New ID, the other none', async () => {
      await page.click('#search-reset');
      await page.fill('#search-name', env.OA_SEARCH_NAME);
      await page.click('#search-button');
      for (const key of ['A', 'B']) {
        const button = '#results button.add[data-level="Patient"][data-id="' +
          IDS[key] + '"]';
        await page.click(button);
        await page.waitForSelector(button + ':disabled');
      }
      const entries = page.locator('#list-body li.entry');
      assert(await entries.count() === 2, 'the list has ' +
             await entries.count() + ' entries');
      const a = '#list-body li.entry[data-id="' + IDS.A + '"]';
      await page.fill(a + ' input.new-NewPatientName', env.OA_TYPED_NAME);
      await page.fill(a + ' input.new-NewPatientID', env.OA_TYPED_ID);
      const stored = JSON.parse(await page.evaluate(
        (k) => localStorage.getItem(k), LIST_KEY));
      assert(stored.length === 2, 'localStorage holds ' + stored.length);
      const sa = stored.find((e) => e.ID === IDS.A);
      assert(sa && sa.Level === 'Patient' &&
             sa.NewPatientName === env.OA_TYPED_NAME, 'A is not stored');
    });

    await must('the list survives a page reload', async () => {
      await page.reload();
      await ready(page);
      const entries = page.locator('#list-body li.entry');
      assert(await entries.count() === 2, 'the list has ' +
             await entries.count() + ' entries after the reload');
      const a = '#list-body li.entry[data-id="' + IDS.A + '"]';
      const b = '#list-body li.entry[data-id="' + IDS.B + '"]';
      assert(await page.inputValue(a + ' input.new-NewPatientName') ===
             env.OA_TYPED_NAME, 'A\'s typed name is lost');
      assert(await page.inputValue(a + ' input.new-NewPatientID') ===
             env.OA_TYPED_ID, 'A\'s typed ID is lost');
      assert(await page.inputValue(b + ' input.new-NewPatientName') === '',
             'B has a name');
    });

    await must('Anonymize with Default: the job\'s progress bar reaches ' +
               '100 % and it says what it did', async () => {
      await page.selectOption('#anonymize-profile', 'Default');
      await page.click('#anonymize-button');
      job = await waitJob(page, 'Anonymization');
      console.log('RESULT job ' + job);
      const words = await page.locator(
        'li.job[data-kind="Anonymization"] .job-result').first().innerText();
      assert(/Done: 3 studies, 7 instances stored/.test(words),
             'the card says something else');
      const r = await api('/jobs/' + job);
      assert(r.json.Content.Studies.length === 3, 'not 3 studies');
      assert(r.json.Content.Profile === 'Default', 'not Default');
    });

    await must('Export: when the anonymization finished, the Export tab ' +
               'opened by itself with the studies just anonymized selected',
      async () => {
        await page.waitForSelector('#panel-export:not([hidden])');
        assert(await page.getAttribute('#tab-export', 'aria-selected') ===
               'true', 'the Export tab is not selected');
        assert(/3 studies just anonymized are selected/.test(
          await page.textContent('#export-arrived')), 'no words about it');
        const counts = await page.textContent(
          'li.job[data-kind="Anonymization"] .job-counts');
        assert(/^7 of 7 instances/.test(counts), 'the card counts: ' + counts);
        const where = await page.textContent(
          'li.job[data-kind="Anonymization"] .where');
        assert(/^Stored in this Orthanc as 3 new studies: /.test(where),
               'the card does not say where the data went');
        const expected = (await api('/jobs/' + job)).json.Content.Studies
          .map((s) => s.Anonymized).sort();
        await page.waitForFunction((n) => document.querySelectorAll(
          '#export-studies-body input.pick:checked').length === n,
          expected.length);
        const checked = (await page.$$eval('#export-studies-body input.pick:checked',
          (c) => c.map((x) => x.value))).sort();
        assert(JSON.stringify(checked) === JSON.stringify(expected),
               'the checked studies are not the anonymized ones');
      });

    await must('Export as ZIP: progress, then the archive downloads',
      async () => {
        await page.check('#target-zip');
        await page.click('#export-button');
        exportJob = await waitJob(page, 'Export');
        const link = page.locator('li.job[data-kind="Export"] a.download')
          .first();
        const name = await download(page, () => link.click(), 'export.zip');
        assert(/^Anonymizer-.*\.zip$/.test(name), 'downloaded as ' + name);
        const where = await page.textContent(
          'li.job[data-kind="Export"] .where');
        assert(/exported \(.*\) into 1 ZIP archive kept on the server/
          .test(where), 'the card does not say where the data went');
        await page.evaluate(() => window.scrollTo(0, 0));
        await shot(page, 'export');
        for (const [width, name] of [[1024, 'export-1024'],
                                     [400, 'export-narrow']]) {
          await page.setViewportSize({ width, height: 900 });
          await page.waitForTimeout(200);
          await noHorizontalScroll(page);
          const [sw, cw] = await page.$eval('#export-studies-wrap',
            (w) => [w.scrollWidth, w.clientWidth]);
          assert(sw <= cw, width + ' px: the studies table is ' + sw +
                 ' px wide in ' + cw);
          await shot(page, name);
        }
        await page.setViewportSize({ width: 1280, height: 800 });
      });

    await check('Export as DICOM media: the options follow the target ' +
                '(ZIP compression only for a ZIP), and ' +
                'the ZIP holds a DICOMDIR and DICOM/ File IDs', async () => {
      await page.check('#target-folder');
      assert(!(await page.isDisabled('#export-dicomdir')) &&
             await page.isDisabled('#export-compression'),
             'a server folder: DICOM media yes, ZIP compression no');
      await page.check('#target-zip');
      assert(!(await page.isDisabled('#export-dicomdir')),
             'DICOM media is not offered for a ZIP');
      await page.check('#export-dicomdir');
      await page.selectOption('#export-compression', 'store');
      await page.click('#export-button');
      const mediaJob = await waitJob(page, 'Export');
      const link = page.locator('li.job[data-job="' + mediaJob +
                                '"] a.download').first();
      await download(page, () => link.click(), 'media.zip');
      const zip = fs.readFileSync(path.join(DOWNLOADS, 'media.zip'));
      assert(zip.includes('/DICOMDIR'), 'no DICOMDIR in the archive');
      assert(/\/DICOM\/P0000001\/S0000001\/S0000001\/I0000001/.test(
        zip.toString('latin1')), 'no PS3.10 File IDs in the archive');
      await page.uncheck('#export-dicomdir');
      await page.selectOption('#export-compression', 'fast');
    });

    await must('on the way out, with the keyboard only: "Send to … without ' +
               'keeping an anonymized copy in Orthanc", a ZIP with mapping ' +
               'files, Anonymize and send; the card says nothing was ' +
               'stored, the archive downloads, Orthanc\'s counts do not ' +
               'change', async () => {
      await listOnly(page, [{ Level: 'Patient', ID: IDS.A, Label: 'A',
                              NewPatientName: env.OA_WAYOUT_NAME,
                              NewPatientID: env.OA_WAYOUT_ID }]);
      const before = (await api('/statistics')).json;
      const invisible = [];
      await page.evaluate(() => {
        document.activeElement.blur();
        window.scrollTo(0, 0);
      });
      assert(await page.isHidden('#wayout-box'), 'the targets show while ' +
             'the switch is off');
      await tabUntil(page, '#wayout', invisible);
      await page.keyboard.press('Space');
      await page.waitForSelector('#wayout-box:not([hidden])');
      assert(await page.textContent('#anonymize-button') ===
             'Anonymize and send', 'the button is not "Anonymize and send"');
      assert(await page.isHidden('#open-export-row'),
             '"Open the Export tab" is offered on the way out');
      // Tab enters the targets on the checked one: the ZIP.
      await page.keyboard.press('Tab');
      assert(await page.evaluate(() => document.activeElement.id) ===
             'wayout-target-zip', 'Tab does not lead to the ZIP target');
      assert(await page.isChecked('#wayout-target-zip'), 'ZIP not chosen');
      await tabUntil(page, '#wayout-mapping', invisible);
      await page.keyboard.press('Space');
      assert(await page.isChecked('#wayout-mapping'), 'no mapping files');
      await tabUntil(page, '#anonymize-button', invisible);
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.method() === 'POST' &&
                            /\/anonymizer\/export$/.test(r.url())),
        page.keyboard.press('Enter'),
      ]);
      const body = request.postDataJSON();
      assert(JSON.stringify(body.Resources) === JSON.stringify([{
        Level: 'Patient', ID: IDS.A, NewPatientName: env.OA_WAYOUT_NAME,
        NewPatientID: env.OA_WAYOUT_ID }]), 'Resources: ' +
        JSON.stringify(body.Resources));
      assert(body.Anonymize && body.Anonymize.Profile === 'Default',
             'Anonymize: ' + JSON.stringify(body.Anonymize));
      assert(JSON.stringify(body.Target) === JSON.stringify(
        { Type: 'zip', Mapping: true }), 'Target: ' +
        JSON.stringify(body.Target));
      const id = await waitJob(page, 'Anonymization');
      console.log('RESULT wayout ' + id);
      wayoutJob = id;
      const card = 'li.job[data-job="' + id + '"] ';
      assert(await page.textContent(card + '.badge.not-stored') ===
             'Nothing stored in Orthanc', 'the card is not marked');
      const words = await page.textContent(card + '.job-result');
      assert(/^Done: 1 study, 3 instances anonymized and sent \(/.test(words),
             'the card says: ' + words.slice(0, 160));
      const where = await page.textContent(card + '.where');
      assert(/^Nothing was stored in Orthanc: the anonymized files went into 1 ZIP archive kept on the server/.test(where),
             'the card does not say where the data went: ' + where);
      const counts = await page.textContent(card + '.job-counts');
      assert(/^3 of 3 instances/.test(counts), 'the card counts: ' + counts);
      const r = (await api('/jobs/' + id)).json;
      assert(r.Type === 'Anonymization' && r.Content.Stored === false,
             'the job is ' + r.Type + ', Stored ' + r.Content.Stored);
      // The download takes the focus when the job ends (the user stayed
      // on the button).
      await page.waitForFunction((l) => document.activeElement.matches(l),
                                 card + 'a.download', { timeout: 5000 })
        .catch(() => {
          throw new Error('the download link did not take the focus');
        });
      assert(await page.evaluate(() => {
        const cs = getComputedStyle(document.activeElement);
        return cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2;
      }), 'the focused download link is not outlined');
      const name = await download(page, () => page.keyboard.press('Enter'),
                                  'wayout.zip');
      assert(/\.zip$/.test(name), 'downloaded as ' + name);
      assert(invisible.length === 0, 'no visible focus on: ' +
             Array.from(new Set(invisible)).join(', '));
      const after = (await api('/statistics')).json;
      assert(after.CountStudies === before.CountStudies &&
             after.CountInstances === before.CountInstances,
             'Orthanc went from ' + before.CountStudies + ' studies, ' +
             before.CountInstances + ' instances to ' + after.CountStudies +
             ', ' + after.CountInstances);
      // Not offered: the Export tab stays closed (nothing to export).
      assert(await page.isVisible('#panel-anonymize'),
             'the Export tab opened after a way-out job');
      assert(await page.locator(card + 'button.export-these').count() === 0,
             'the card offers "Export these studies"');
      await page.locator('#panel-anonymize .column').screenshot(
        { path: path.join(SHOTS, 'anonymize-wayout.png') });
      await page.setViewportSize({ width: 400, height: 900 });
      await page.waitForTimeout(200);
      await noHorizontalScroll(page);
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    await must('on the way out to a DICOM modality: the modality chosen ' +
               'in the page, the job sends the study, the card says where ' +
               'it went and that nothing was stored', async () => {
      await listOnly(page, [{ Level: 'Patient', ID: IDS.A, Label: 'A',
                              NewPatientName: env.OA_WAYOUT_NAME,
                              NewPatientID: env.OA_WAYOUT_ID }]);
      const before = (await api('/statistics')).json;
      assert(await page.isChecked('#wayout'), 'the switch is off');
      await page.waitForSelector('#wayout-box:not([hidden])');
      await page.check('#wayout-target-dicom');
      await page.waitForSelector('#wayout-target-dicom-name option[value="scp"]',
                                 { state: 'attached' });
      await page.selectOption('#wayout-target-dicom-name', 'scp');
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.method() === 'POST' &&
                            /\/anonymizer\/export$/.test(r.url())),
        page.click('#anonymize-button'),
      ]);
      const body = request.postDataJSON();
      assert(body.Target && body.Target.Type === 'dicom' &&
             body.Target.Modality === 'scp', 'Target: ' +
             JSON.stringify(body.Target));
      const id = await waitJob(page, 'Anonymization');
      console.log('RESULT wayout-dicom ' + id);
      const card = 'li.job[data-job="' + id + '"] ';
      const words = await page.textContent(card + '.job-result');
      assert(/^Done: 1 study, 3 instances anonymized and sent/.test(words),
             'the card says: ' + words.slice(0, 160));
      const where = await page.textContent(card + '.where');
      assert(/^Nothing was stored in Orthanc: the anonymized files went to DICOM modality scp\./.test(where),
             'the card does not say where the data went: ' + where);
      assert(await page.locator(card + 'a.download').count() === 0,
             'a download is offered for a C-STORE');
      const after = (await api('/statistics')).json;
      assert(after.CountInstances === before.CountInstances,
             'Orthanc went from ' + before.CountInstances + ' instances to ' +
             after.CountInstances);
      await page.check('#wayout-target-zip');   // as the next checks expect
    });

    await check('on the way out: the switch is kept after a reload; a ' +
                'running job\'s Cancel, and its end, in words (nothing ' +
                'stored); a refused instance listed with its reason',
    async () => {
      await page.reload();
      await ready(page);
      assert(await page.isChecked('#wayout'), 'the switch is off after a ' +
             'reload');
      await page.waitForSelector('#wayout-box:not([hidden])');
      const fake = 'mock-wayout-0001';
      let cancelled = false;
      let state = 'run';
      const content = (done, extra) => Object.assign({
        InstancesTotal: 20, InstancesDone: done, Stored: false,
        Target: { Type: 'folder', Folder: 'web/out' }, Studies: [] }, extra);
      await page.route('**/anonymizer/export', (route) => route.fulfill({
        status: 200, contentType: 'application/json',
        body: JSON.stringify({ ID: fake, Path: '/jobs/' + fake }) }));
      await page.route('**/jobs/' + fake + '/cancel', (route) => {
        cancelled = true;
        route.fulfill({ status: 200, contentType: 'application/json',
                        body: '{}' });
      });
      await page.route('**/jobs/' + fake, (route) => {
        let body;
        if (state === 'run') {
          body = { ID: fake, Type: 'Anonymization', State: 'Running',
                   Progress: 30, Content: content(cancelled ? 7 : 6) };
        } else if (state === 'cancelled') {
          body = { ID: fake, Type: 'Anonymization', State: 'Failure',
                   Progress: 35, ErrorCode: 14,
                   ErrorDescription: 'The job was canceled',
                   Content: content(7) };
        } else {
          body = { ID: fake, Type: 'Anonymization', State: 'Success',
                   Progress: 100, Content: content(20, {
                     FailedCount: 1, PixelsRefused: 1,
                     Failed: [{ Instance: 'abcd-0002',
                                Error: 'burned-in text: refused by the ' +
                                  'profile (BurnedInText refuse)' }],
                     Location: 'web/out/Anonymizer-mock',
                     Studies: [{ Original: 'x', Instances: 19,
                                 NewStudyInstanceUID: '2.25.1' }] }) };
        }
        route.fulfill({ status: 200, contentType: 'application/json',
                        body: JSON.stringify(body) });
      });
      try {
        await page.check('#wayout-target-folder');
        await page.fill('#wayout-target-folder-name', 'web/out');
        assert(await page.isDisabled('#wayout-compression') &&
               await page.isDisabled('#wayout-mapping') &&
               !(await page.isDisabled('#wayout-dicomdir')),
               'the options do not follow the folder target');
        await page.click('#anonymize-button');
        const card = 'li.job[data-job="' + fake + '"] ';
        await page.waitForSelector(card + '.badge.not-stored');
        await page.waitForFunction((c) => /^\d+ of 20 instances/.test(
          (document.querySelector(c + '.job-counts') || {}).textContent ||
          ''), card);
        await page.click(card + 'button:has-text("Cancel")');
        const waitCancel = Date.now();
        while (!cancelled && Date.now() - waitCancel < 5000) {
          await page.waitForTimeout(50);
        }
        assert(cancelled, 'Cancel did not post /jobs/{id}/cancel');
        state = 'cancelled';
        await page.waitForSelector(card.trim() + '[data-state="Failure"]');
        assert(await page.textContent(card + '.job-progress .state') ===
               'Cancelled', 'the state is not "Cancelled"');
        const words = await page.textContent(card + '.job-result');
        assert(/^Cancelled\./.test(words) &&
               /Nothing was stored in Orthanc\./.test(words),
               'the card says: ' + words.slice(0, 200));
        await page.click(card + 'button:has-text("Remove")');
        // The same job again, ending with a refused instance.
        state = 'done';
        await page.click('#anonymize-button');
        await page.waitForSelector(card.trim() + '[data-state="Success"]');
        const done = await page.textContent(card + '.job-result');
        assert(/^Done: 1 study, 19 instances anonymized and sent, 1 failed \(not sent\)\./.test(done),
               'the card says: ' + done.slice(0, 200));
        assert(/Nothing was stored in Orthanc: the anonymized files went to web\/out\/Anonymizer-mock\./.test(done),
               'the card does not say where: ' + done.slice(0, 300));
        assert(/0 images cleaned, 1 refused \(burned-in text\)/.test(done),
               'the refused image is not counted');
        await page.click(card + '.failures-box summary');
        const reasons = await page.textContent(card + 'ul.failures');
        assert(/abcd-0002: burned-in text: refused/.test(reasons),
               'the refusal\'s reason is not listed');
        await page.click(card + 'button:has-text("Remove")');
      } finally {
        await page.unroute('**/anonymizer/export');
        await page.unroute('**/jobs/' + fake + '/cancel');
        await page.unroute('**/jobs/' + fake);
      }
      await page.check('#wayout-target-zip');
      await page.uncheck('#wayout');
      assert(await page.isHidden('#wayout-box') &&
             await page.textContent('#anonymize-button') === 'Anonymize' &&
             await page.isVisible('#open-export-row'),
             'turned off, the page does not go back to anonymize and store');
    });

    await check('the job card still offers "Export these studies" after a ' +
                'reload, and the Export tab does not open by itself then',
      async () => {
        await tab(page, 'anonymize');
        await page.reload();
        await ready(page);
        await page.waitForSelector(
          'li.job[data-kind="Anonymization"] button.export-these');
        await page.waitForTimeout(300);
        assert(await page.isVisible('#panel-anonymize'),
               'the Export tab opened after a reload');
      });

    await check('search results: anonymized copies are hidden, then shown ' +
                'marked with their profile and date behind the switch ' +
                '(kept after a reload)', async () => {
      await tab(page, 'anonymize');
      await page.fill('#search-name', env.OA_SEARCH_NAME);
      await page.click('#search-button');
      await page.waitForFunction(() => /1 anonymized copy hidden/.test(
        document.getElementById('search-status').textContent));
      assert(await page.locator('#results tr.study-row.copy').count() === 0,
             'a copy is shown');
      assert(!(await page.isChecked('#show-copies')), 'the switch is on');
      await page.check('#show-copies');
      await page.waitForSelector('#results tr.study-row.copy');
      const mark = await page.textContent('#results tr.study-row.copy ' +
                                          '.copy-mark');
      assert(/^Anonymized copyDefault, \d{4}-\d\d-\d\d$/.test(mark),
             'the mark says: ' + mark);
      const by = await page.getAttribute('#results tr.study-row.copy',
                                         'data-copy');
      assert(by === 'Anonymizer', 'marked as made by ' + by);
      await page.waitForFunction(() => document.querySelector(
        '#results tr.study-row.copy td.modalities').textContent === 'CT')
        .catch(() => { throw new Error('the copy\'s modality is not shown'); });
      await page.locator('#search-card').screenshot(
        { path: path.join(SHOTS, 'search-copies.png') });
      await page.reload();
      await ready(page);
      assert(await page.isChecked('#show-copies'),
             'the switch is not kept after a reload');
    });

    await check('the page refuses to anonymize a copy again, in words (the ' +
                'REST 409 names the original), and removes it on request',
      async () => {
        await listOnly(page, []);
        await page.fill('#search-name', env.OA_SEARCH_NAME);
        await page.click('#search-button');
        await page.waitForSelector('#results tr.study-row.copy');
        const copyId = await page.getAttribute('#results tr.study-row.copy',
                                               'data-study');
        const rest = await api('/anonymizer/studies/' + copyId + '/anonymize',
                               { method: 'POST', body: '{}' });
        assert(rest.status === 409, 'REST: HTTP ' + rest.status);
        const origin = (await api('/anonymizer/copies', { method: 'POST',
          body: JSON.stringify({ Studies: [copyId] }) })).json[copyId];
        assert(rest.json.Details.includes('anonymized copy of study ' +
                                          origin.Original),
               'the 409 does not name the original');
        await page.click('#results tr.study-row.copy button.add');
        await page.click('#anonymize-button');
        await page.waitForSelector('#anonymize-problem:not([hidden]) ' +
                                   'button.remove-copy');
        const words = await page.textContent('#anonymize-problem');
        assert(/Already anonymized\./.test(words) &&
               words.includes(origin.Original), 'the page says: ' +
               words.slice(0, 120));
        assert(await page.evaluate(() => document.activeElement.classList
          .contains('remove-copy')), 'the focus is not on "Remove it"');
        await page.locator('#list-card')
          .screenshot({ path: path.join(SHOTS, 'anonymize-copy-refused.png') });
        await page.keyboard.press('Enter');
        await page.waitForSelector('#list-empty:not([hidden])');
        await page.uncheck('#show-copies');
      });

    await check('on the way out too, an anonymized copy is refused in words ' +
                '(409); "Anonymize again anyway" sends "Force": true in ' +
                '"Anonymize", and nothing is stored', async () => {
      const copy = (await api('/jobs/' + job)).json.Content.Studies[0]
        .Anonymized;
      await listOnly(page, [{ Level: 'Study', ID: copy, Label: 'copy' }]);
      await page.check('#wayout');
      await page.check('#wayout-target-zip');
      await page.uncheck('#wayout-mapping');
      const before = (await api('/statistics')).json;
      await page.click('#anonymize-button');
      await page.waitForSelector('#anonymize-problem:not([hidden]) ' +
                                 'button.force');
      const words = await page.textContent('#anonymize-problem');
      assert(/Already anonymized\./.test(words), 'the page says: ' +
             words.slice(0, 120));
      const [request] = await Promise.all([
        page.waitForRequest((r) => r.method() === 'POST' &&
                            /\/anonymizer\/export$/.test(r.url())),
        page.click('#anonymize-problem button.force'),
      ]);
      const body = request.postDataJSON();
      assert(body.Anonymize && body.Anonymize.Force === true &&
             body.Target.Type === 'zip', 'the request: ' +
             JSON.stringify({ Anonymize: body.Anonymize,
                              Target: body.Target }));
      const id = await waitJob(page, 'Anonymization');
      const card = 'li.job[data-job="' + id + '"] ';
      assert(/Nothing was stored in Orthanc/.test(
        await page.textContent(card + '.where')), 'the card does not say ' +
        'that nothing was stored');
      const after = (await api('/statistics')).json;
      assert(after.CountStudies === before.CountStudies &&
             after.CountInstances === before.CountInstances,
             'Orthanc\'s counts changed');
      await page.uncheck('#wayout');
      await listOnly(page, []);
    });

    await check('the results table fits at 1280 and 1024 px (no sideways ' +
                'scrolling, the Add buttons whole, also after a click) and ' +
                'is usable at 400 px; screenshots at each width', async () => {
      await tab(page, 'anonymize');
      await page.fill('#search-name', env.OA_SEARCH_NAME);
      await page.click('#search-button');
      await page.waitForSelector('#results tbody.patient-group');
      for (const [width, name] of [[1280, 'anonymize'],
                                   [1024, 'anonymize-1024'],
                                   [400, 'anonymize-narrow']]) {
        await page.setViewportSize({ width, height: 900 });
        await page.waitForTimeout(200);
        await noHorizontalScroll(page);
        const fit = await page.evaluate(() => {
          const wrap = document.getElementById('results-wrap');
          const box = wrap.getBoundingClientRect();
          const cut = Array.from(wrap.querySelectorAll('button.add'))
            .filter((b) => {
              const r = b.getBoundingClientRect();
              return r.right > box.right + 0.5 || r.left < box.left - 0.5;
            }).length;
          return { scroll: wrap.scrollWidth, client: wrap.clientWidth, cut,
                   scrollLeft: wrap.scrollLeft };
        });
        assert(fit.scroll <= fit.client, width + ' px: the table is ' +
               fit.scroll + ' px wide in ' + fit.client);
        assert(fit.cut === 0, width + ' px: ' + fit.cut + ' Add buttons cut');
        // Usable: every row as wide as the table, a name on few lines.
        const rows = await page.evaluate(() => {
          const wrap = document.getElementById('results-wrap');
          const w = wrap.clientWidth;
          const narrow = Array.from(wrap.querySelectorAll('tbody tr'))
            .filter((r) => r.offsetParent !== null &&
                    r.getBoundingClientRect().width < 0.9 * w).length;
          const tall = Array.from(wrap.querySelectorAll('.patient-name'))
            .filter((n) => n.getBoundingClientRect().height > 60).length;
          return { narrow, tall };
        });
        assert(rows.narrow === 0 && rows.tall === 0, width + ' px: ' +
               rows.narrow + ' rows narrower than the table, ' + rows.tall +
               ' names on more than 3 lines');
        await page.evaluate(() => window.scrollTo(0, 0));
        await shot(page, name);
      }
      await page.setViewportSize({ width: 1280, height: 900 });
      const add = '#results button.add:not(:disabled)';
      await page.click(add);
      const after = await page.evaluate(() => {
        const w = document.getElementById('results-wrap');
        return [w.scrollLeft, w.scrollWidth, w.clientWidth];
      });
      assert(after[0] === 0 && after[1] <= after[2],
             'after a click the table scrolls sideways');
      await page.click('#list-clear');
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    await must('Reports: the anonymization is listed; its CSV downloads',
      async () => {
        await tab(page, 'reports');
        const report = (await api('/jobs/' + job)).json.Content.Report;
        const row = '#reports-body tr[data-report="' + report + '"]';
        await page.waitForSelector(row);
        assert((await page.textContent(row + ' td')) === 'Default',
               'the profile is not Default');
        await page.click(row + ' button.show');
        await page.waitForFunction(() => document.querySelectorAll(
          '#report-body tr').length === 3);
        await download(page, () => page.click(row + ' a.csv'), 'report.csv');
        await page.evaluate(() => window.scrollTo(0, 0));
        await shot(page, 'reports');
      });

    await check('Reports: the way-out anonymization is listed "Not stored, ' +
                'sent to a ZIP file"; its rows show, and "Export…" says ' +
                'there is nothing in Orthanc to export', async () => {
      assert(wayoutJob, 'no way-out job');
      const report = (await api('/jobs/' + wayoutJob)).json.Content.Report;
      const row = '#reports-body tr[data-report="' + report + '"]';
      await page.waitForSelector(row);
      assert(await page.textContent(row + ' .badge.not-stored') ===
             'Not stored, sent to a ZIP file', 'the row is not marked');
      await page.click(row + ' button.show');
      await page.waitForFunction(() => / on the way out to a ZIP file, nothing stored in Orthanc$/.test(
        document.getElementById('report-title').textContent));
      assert(await page.locator('#report-body tr').count() === 1,
             'not one row');
      const work = '#work-body tr[data-job="' + wayoutJob + '"]';
      await page.waitForSelector(work);
      assert(await page.textContent(work + ' td') ===
             'Anonymization on the way out, to a ZIP file',
             'the work of every server says: ' +
             await page.textContent(work + ' td'));
      await page.click(row + ' button:has-text("Export…")');
      await page.waitForFunction(() => /nothing to export/.test(
        document.getElementById('reports-status').textContent));
      assert(await page.isVisible('#panel-reports'),
             'the Export tab opened');
    });

    await check('Reports: the work of every server lists the anonymization ' +
                'and the export, ended Success, with their server',
      async () => {
        for (const id of [job, exportJob]) {
          const line = '#work-body tr[data-job="' + id + '"]';
          await page.waitForSelector(line);
          assert((await page.getAttribute(line, 'data-state')) === 'Success',
                 'job ' + id + ' is not Success');
          const server = await page.textContent(line + ' td:nth-of-type(2)');
          assert(/@/.test(server), 'no server name');
        }
      });

    await check('Setup: built-in profiles are shown read-only', async () => {
      await tab(page, 'setup');
      await page.click('#profile-list button[data-name="Default"]');
      await page.waitForSelector('#profile-readonly:not([hidden])');
      assert(await page.isDisabled('#opt-Dates-keep'), 'Dates is editable');
      assert(await page.isChecked('#opt-Dates-keep'), 'Dates is not keep');
      assert(await page.isHidden('#profile-save'), 'a Save button');
    });

    await must('Setup: a custom profile is saved (Descriptions: clear)',
      async () => {
        await page.click('#profile-new');
        await page.fill('#profile-name', PROFILE);
        await page.check('#opt-Descriptions-clear');
        await page.click('#profile-save');
        await page.waitForFunction(() => /” saved\.$/.test(
          document.getElementById('profile-status').textContent));
        const r = await api('/anonymizer/profiles/' + PROFILE);
        assert(r.status === 200, 'GET the profile: HTTP ' + r.status);
        assert(r.json.Base === 'Default' && r.json.Descriptions === 'clear' &&
               r.json.Dates === 'keep', 'not the options chosen');
        await page.waitForSelector('#profile-list button[data-name="' +
                                   PROFILE + '"][aria-current="true"]');
      });

    await check('Setup: the profile\'s effective rule table is shown',
      async () => {
        await page.click('#profile-rules-button');
        await page.waitForFunction(() => document.querySelectorAll(
          '#rules-body tr').length > 100);
        await page.fill('#rules-filter', 'StudyDescription');
        await page.waitForFunction(() => document.querySelectorAll(
          '#rules-body tr').length < 10);
        const actions = await page.$$eval('#rules-body tr', (rows) => rows
          .filter((r) => r.children[1].textContent === 'StudyDescription')
          .map((r) => r.dataset.action));
        assert(actions.length === 1 && actions[0] !== 'keep',
               'StudyDescription: ' + JSON.stringify(actions));
        await page.fill('#rules-filter', '');
      });

    await check('Setup: every option GET /anonymizer/profiles/Default ' +
                'lists has a control in the editor, showing Default\'s value',
      async () => {
        const r = await api('/anonymizer/profiles/Default');
        assert(r.status === 200, 'GET Default: HTTP ' + r.status);
        const skip = ['Name', 'BuiltIn', 'Base', 'Keep', 'Remove', 'Replace',
                      'PixelRules'];
        const keys = Object.keys(r.json).filter((k) => !skip.includes(k));
        assert(keys.includes('AgesOver89'), 'Default lists no AgesOver89');
        await openSetupProfile(page, 'Default');
        const wrong = await page.evaluate((p) => Object.keys(p).filter((k) => {
          const sel = document.getElementById('opt-' + k);
          if (sel && sel.tagName === 'SELECT') {
            return sel.value !== p[k];
          }
          const on = document.querySelector('input[name="opt-' + k +
                                            '"]:checked');
          return !on || on.value !== p[k];
        }), Object.fromEntries(keys.map((k) => [k, r.json[k]])));
        assert(wrong.length === 0, 'no control, or not Default\'s value: ' +
               wrong.join(', '));
        assert(/090Y/.test(await page.textContent('#opt-AgesOver89-help')),
               'the AgesOver89 help does not say 090Y');
      });

    await check('Setup: Research is listed and shown read-only (PrivateTags ' +
                'tcia, AgesOver89 aggregate); its rule table gives each ' +
                'rule\'s source, as the REST API', async () => {
      await openSetupProfile(page, 'Research');
      assert(await page.isVisible('#profile-readonly'), 'not read-only');
      assert(await page.isChecked('#opt-PrivateTags-tcia') &&
             await page.isDisabled('#opt-PrivateTags-tcia'),
             'PrivateTags is not tcia, or editable');
      assert(await page.isChecked('#opt-AgesOver89-aggregate'),
             'AgesOver89 is not aggregate');
      const options = await page.$$eval('#anonymize-profile option',
        (o) => o.map((x) => x.value));
      assert(options.includes('Research'), 'Research is not offered on ' +
             'the Anonymize tab');
      const r = await api('/anonymizer/profiles/Research/rules');
      assert(r.status === 200, 'GET the rules: HTTP ' + r.status);
      const expected = r.json.filter((x) => !x.PixelRule)
        .map((x) => x.Tag + ' ' + (x.Source || '')).sort();
      assert(expected.some((x) => / TCIA attribute list$/.test(x)),
             'the API names no TCIA attribute list source');
      await page.click('#profile-rules-button');
      await page.waitForFunction(() => /^Rule table of Research$/.test(
        document.getElementById('rules-title').textContent) &&
        /attribute rules/.test(
          document.getElementById('rules-status').textContent));
      const got = (await page.$$eval('#rules-body tr', (rows) => rows.map(
        (t) => t.children[0].firstChild.textContent + ' ' +
          t.children[4].textContent))).sort();
      assert(JSON.stringify(got) === JSON.stringify(expected),
             got.length + ' rows with their source shown, the API has ' +
             expected.length + ' (or a source differs)');
      const head = await page.$$eval('#rules thead th',
        (t) => t.map((x) => x.textContent));
      assert(head.includes('Source'), 'no Source column');
      await page.fill('#rules-filter', 'TCIA attribute list');
      await page.waitForFunction(() => {
        const rows = document.querySelectorAll('#rules-body tr');
        return rows.length > 0 && rows.length < 100;
      });
      const sources = await page.$$eval('#rules-body tr',
        (rows) => rows.map((t) => t.dataset.source));
      assert(sources.length === expected.filter(
        (x) => / TCIA attribute list$/.test(x)).length &&
        sources.every((x) => x === 'TCIA attribute list'),
             'the filter on the source: ' + sources.length + ' rows');
      await page.fill('#rules-filter', '');
      await page.click('#profile-copy');
      assert(await page.inputValue('#profile-base') === 'Research',
             '"Copy to a new profile" of Research is not based on it');
      assert(await page.isChecked('#opt-PrivateTags-tcia'),
             'the copy of Research does not keep PrivateTags tcia');
    });

    await must('Setup, by keyboard: a profile based on Research with ' +
               'AgesOver89 keep is saved, and shown again after a reload',
      async () => {
        // (Setup shows the new copy of Research: no profile is current.)
        await page.click('#profile-new');
        assert(await page.evaluate(() => document.activeElement.id ===
               'profile-name'), 'New profile does not focus the name');
        await page.keyboard.type(AGES_PROFILE);
        const invisible = [];
        await tabUntil(page, '#profile-base', invisible, 5);
        for (let i = 0; i < 3 && await page.inputValue('#profile-base') !==
             'Research'; i++) {
          await page.keyboard.press('ArrowDown');
        }
        assert(await page.inputValue('#profile-base') === 'Research',
               'the arrow keys do not choose Research');
        assert(await page.isChecked('#opt-PrivateTags-tcia') &&
               await page.isChecked('#opt-Dates-shift'),
               'the options did not follow the base Research');
        // Tab stops on the checked radio of a group; an arrow key moves.
        await tabUntil(page, '#opt-AgesOver89-aggregate', invisible, 10);
        await page.keyboard.press('ArrowRight');
        assert(await page.isChecked('#opt-AgesOver89-keep'),
               'ArrowRight does not choose "keep"');
        await tabUntil(page, '#profile-save', invisible, 60);
        await page.keyboard.press('Enter');
        await page.waitForFunction(() => /” saved\.$/.test(
          document.getElementById('profile-status').textContent));
        assert(invisible.length === 0, 'no visible focus on: ' +
               Array.from(new Set(invisible)).join(', '));
        const r = await api('/anonymizer/profiles/' + AGES_PROFILE);
        assert(r.status === 200, 'GET the profile: HTTP ' + r.status);
        assert(r.json.Base === 'Research' && r.json.AgesOver89 === 'keep' &&
               r.json.PrivateTags === 'tcia' && r.json.Dates === 'shift',
               'not the options chosen: ' + JSON.stringify({
                 Base: r.json.Base, AgesOver89: r.json.AgesOver89,
                 PrivateTags: r.json.PrivateTags }));
        const d = await api('/anonymizer/profiles/Research');
        assert(d.json.AgesOver89 === 'aggregate', 'Research changed');
        await page.reload();
        await ready(page);
        await openSetupProfile(page, AGES_PROFILE);
        assert(await page.isChecked('#opt-AgesOver89-keep') &&
               !(await page.isChecked('#opt-AgesOver89-aggregate')),
               'after a reload AgesOver89 is not shown as keep');
        assert(await page.inputValue('#profile-base') === 'Research',
               'after a reload the base is not Research');
        console.log('RESULT ages-profile ' + AGES_PROFILE);
      });

    await check('Setup: a profile with AgesOver89 keep made through the ' +
                'REST API is shown with keep, and saving another change ' +
                'from the page keeps it', async () => {
      const put = await api('/anonymizer/profiles/' + AGES_PROFILE + '-rest', {
        method: 'PUT', body: JSON.stringify({ Base: 'Default',
                                              AgesOver89: 'keep' }) });
      assert(put.status === 200, 'PUT: HTTP ' + put.status);
      await page.reload();
      await ready(page);
      await openSetupProfile(page, AGES_PROFILE + '-rest');
      assert(await page.isChecked('#opt-AgesOver89-keep'),
             'a profile saved through REST is not shown with keep');
      await page.check('#opt-Descriptions-clear');
      await page.click('#profile-save');
      await page.waitForFunction(() => /” saved\.$/.test(
        document.getElementById('profile-status').textContent));
      const r = await api('/anonymizer/profiles/' + AGES_PROFILE + '-rest');
      assert(r.json.AgesOver89 === 'keep' && r.json.Descriptions === 'clear',
             'saved from the page: AgesOver89 ' + r.json.AgesOver89);
    });

    await check('Setup: destinations are saved; the test button says ' +
                'whether the connection works, in words', async () => {
      await page.click('#destination-new');
      await page.fill('#destination-name', 'web-folder');
      await page.selectOption('#destination-type', 'folder');
      await page.fill('#destination-url', 'web/incoming');
      await page.click('#destination-test');
      await page.waitForFunction(() => /works/.test(
        document.getElementById('destination-status').textContent));
      await page.click('#destination-new');
      await page.fill('#destination-name', 'web-ftp');
      await page.selectOption('#destination-type', 'ftp');
      await page.fill('#destination-url', 'ftp://127.0.0.1:' +
                      env.OA_CLOSED_PORT + '/incoming');
      await page.fill('#destination-username', 'someone');
      await page.fill('#destination-password', 'secret');
      await page.click('#destination-test');
      await page.waitForFunction(() => /failed/.test(
        document.getElementById('destination-status').textContent),
        null, { timeout: 45000 });
      const words = await page.textContent('#destination-status');
      assert(/reach|connect/i.test(words), 'no reason given');
      const rows = await page.$$eval('#destinations-body tr',
        (r) => r.map((x) => x.dataset.name));
      assert(rows.includes('web-folder') && rows.includes('web-ftp'),
             'the destinations are not listed');
      const d = await api('/anonymizer/destinations/web-ftp');
      assert(d.json && d.json.HasPassword === true && !d.json.Password,
             'the password was not saved, or is shown');
      await page.click('#profile-list button[data-name="' + PROFILE + '"]');
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, 'setup');
    });

    await check('a destination that refuses the password (a real FTP ' +
                'server): the connection test, and an export to it that ' +
                'fails entirely, say so and what to do, in words', async () => {
      assert(env.OA_FTP_URL, 'no FTP server');
      await setupTab(page);
      await page.click('#destination-new');
      await page.fill('#destination-name', 'web-locked');
      await page.selectOption('#destination-type', 'ftp');
      await page.fill('#destination-url', env.OA_FTP_URL);
      await page.fill('#destination-username', env.OA_FTP_USER);
      await page.fill('#destination-password', 'not-the-password');
      await page.click('#destination-test');
      await page.waitForFunction(() => /failed/.test(
        document.getElementById('destination-status').textContent),
        null, { timeout: 45000 });
      const words = await page.textContent('#destination-status');
      assert(/refused the credentials/.test(words) &&
             /correct them in Setup, Destinations \(type the password again\)/
               .test(words), 'the test says: ' + words.slice(0, 200));
      await page.locator('#destination-status').screenshot(
        { path: path.join(SHOTS, 'destination-refused.png') });
      // An export there: the job fails entirely, the card says why and
      // what to do.
      await tab(page, 'export');
      await page.waitForSelector('#export-studies-body input.pick');
      await page.click('#export-select-none');
      await page.check('#export-studies-body input.pick >> nth=0');
      await page.waitForFunction(() => Array.from(document.querySelectorAll(
        '#target-destination-name option')).some((o) => o.value ===
        'web-locked'), null).catch(async () => {
        await page.click('#export-refresh');
      });
      await page.check('#target-destination');
      await page.selectOption('#target-destination-name', 'web-locked');
      await page.click('#export-button');
      const id = await waitJobEnd(page, 'Export');
      const card = 'li.job[data-job="' + id + '"] ';
      assert(await page.getAttribute(card.trim(), 'data-state') === 'Failure',
             'the export did not fail');
      const failed = await page.textContent(card + '.failed-whole');
      assert(/^Failed: .*refused the user name or password/.test(failed) &&
             /correct them in Setup, Destinations/.test(failed),
             'the card says: ' + failed.slice(0, 200));
      await page.locator(card.trim()).screenshot(
        { path: path.join(SHOTS, 'job-failed.png') });
      await page.click(card + 'button:has-text("Remove")');
    });

    await check('on the way out to the destination that refuses the ' +
                'password: the job fails entirely, the card says why, what ' +
                'to do and that nothing was stored', async () => {
      assert(env.OA_FTP_URL, 'no FTP server');
      await listOnly(page, [{ Level: 'Patient', ID: IDS.B, Label: 'B' }]);
      const before = (await api('/statistics')).json;
      await page.check('#wayout');
      try {
        await failedWayOut(before);
      } finally {
        // The checks after this one anonymize and store.
        await page.check('#wayout-target-zip');
        await page.uncheck('#wayout');
      }
    });

    async function failedWayOut(before) {
      await page.waitForFunction(() => Array.from(document.querySelectorAll(
        '#wayout-target-destination-name option')).some((o) => o.value ===
        'web-locked'));
      await page.check('#wayout-target-destination');
      await page.selectOption('#wayout-target-destination-name',
                              'web-locked');
      await page.click('#anonymize-button');
      const id = await waitJobEnd(page, 'Anonymization');
      const card = 'li.job[data-job="' + id + '"] ';
      assert(await page.getAttribute(card.trim(), 'data-state') === 'Failure',
             'the job did not fail');
      const failed = await page.textContent(card + '.failed-whole');
      assert(/^Failed: .*refused the user name or password/.test(failed) &&
             /correct them in Setup, Destinations.*press Anonymize and send again/
               .test(failed), 'the card says: ' + failed.slice(0, 240));
      assert(/^Nothing was stored in Orthanc\./.test(
        await page.textContent(card + '.message.not-stored')),
      'the card does not say that nothing was stored');
      const after = (await api('/statistics')).json;
      assert(after.CountStudies === before.CountStudies,
             'Orthanc\'s study count changed');
      await page.click(card + 'button:has-text("Remove")');
    }

    await check('an entry added by Orthanc Explorer ({Level, ID, Label}) ' +
                'is anonymized with the custom profile', async () => {
      await tab(page, 'anonymize');
      await page.evaluate(([key, id, label]) => {
        localStorage.setItem(key, JSON.stringify(
          [{ Level: 'Patient', ID: id, Label: label }]));
      }, [LIST_KEY, IDS.Evil, env.OA_EVIL_NAME]);
      await page.reload();
      await ready(page);
      const labels = await page.$$eval('#list-body .label-text',
        (l) => l.map((x) => x.textContent));
      assert(labels.length === 1 && labels[0] === env.OA_EVIL_NAME,
             'the entry is not shown, as text');
      await page.selectOption('#anonymize-profile', PROFILE);
      await page.click('#anonymize-button');
      const id = await waitJob(page, 'Anonymization');
      const r = await api('/jobs/' + id);
      assert(r.json.Content.Profile === PROFILE, 'not the custom profile');
      const anon = r.json.Content.Studies[0].Anonymized;
      const study = await api('/studies/' + anon);
      assert(!study.json.MainDicomTags.StudyDescription,
             'the study description was not cleared');
      assert(dialogs.length === 0, 'a dialog opened');
    });

    await check('Export to a saved destination (a server folder)',
      async () => {
        await page.waitForSelector('#panel-export:not([hidden])');
        await page.waitForFunction(() => document.querySelectorAll(
          '#export-studies-body input.pick:checked').length === 1);
        await page.check('#target-destination');
        await page.selectOption('#target-destination-name', 'web-folder');
        await page.click('#export-button');
        const id = await waitJob(page, 'Export');
        console.log('RESULT folder-export ' + id);
        const where = await page.textContent('li.job[data-job="' + id +
                                             '"] .where');
        assert(/^Done: 2 instances exported \(.*\) to \S/.test(where),
               'the card does not say where the data went: ' + where);
      });

    await must('Setup: a profile with BurnedInText strict and a pixel rule ' +
               'of two rectangles is made with the keyboard; the server\'s ' +
               'refusal is shown next to the editor in words', async () => {
      await setupTab(page);
      await page.click('#profile-new');
      await page.fill('#profile-name', PIXEL_PROFILE);
      await page.selectOption('#opt-BurnedInText', 'strict');
      const help = await page.textContent('#opt-BurnedInText-help');
      assert(/every word/.test(help), 'no explanation of strict');
      assert(await page.isVisible('#pixel-rules-empty'),
             'no "No pixel rule" before the first one');
      // Add a rule with the keyboard: the focus goes to its label.
      await page.focus('#pixel-rule-add');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#pixel-rules li.pixel-rule');
      const focused = await page.evaluate(
        () => document.activeElement.classList.contains('pr-Label'));
      assert(focused, 'the focus is not in the new rule\'s label');
      await page.keyboard.type(PIXEL_LABEL);
      const rule = '#pixel-rules li.pixel-rule:nth-of-type(1) ';
      assert(/^Rule 1: WebSonic banner$/.test(
        await page.textContent(rule + '.pixel-rule-title')),
        'the rule\'s title does not follow its label');
      const fillRect = async (n, rect) => {
        const row = rule + 'tr.rect:nth-of-type(' + n + ') ';
        for (const [i, k] of ['x', 'y', 'w', 'h'].entries()) {
          await page.fill(row + 'input.rect-' + k, String(rect[i]));
        }
      };
      await fillRect(1, PIXEL_RECTS[0]);
      // A second rectangle (focus in its x), then one too many, removed.
      await page.click(rule + 'button.rect-add');
      assert(await page.evaluate(() => document.activeElement.classList
        .contains('rect-x')), 'the focus is not in the new rectangle');
      await fillRect(2, PIXEL_RECTS[1]);
      await page.click(rule + 'button.rect-add');
      assert(await page.getAttribute(rule + 'tr.rect:nth-of-type(3) ' +
        'input.rect-h', 'aria-label') === 'Rule 1, rectangle 3, height',
      'the inputs are not named after their rule and rectangle');
      await page.click(rule + 'tr.rect:nth-of-type(3) button.rect-remove');
      assert(await page.locator(rule + 'tr.rect').count() === 2,
             'the third rectangle is not removed');
      // A number the page refuses itself.
      await page.fill(rule + 'input.pr-Rows', '-3');
      await page.click('#profile-save');
      await page.waitForFunction(() => /rows must be a whole number/.test(
        document.getElementById('pixel-rules-status').textContent));
      assert(await page.getAttribute(rule + 'input.pr-Rows',
                                     'aria-invalid') === 'true',
             'the wrong input is not marked');
      await page.fill(rule + 'input.pr-Rows', String(US_DEVICE.Rows));
      await page.fill(rule + 'input.pr-Columns', String(US_DEVICE.Columns));
      // No manufacturer nor model: the server says no, in words.
      await page.click('#profile-save');
      await page.waitForFunction(() => /Manufacturer.*Model.*required/.test(
        document.getElementById('pixel-rules-status').textContent));
      assert(/^Not saved/.test(await page.textContent('#profile-status')),
             'the profile status does not say it is not saved');
      assert(await page.getAttribute('#pixel-rules li.pixel-rule',
                                     'aria-invalid') === 'true',
             'the rule the server names is not marked');
      const r0 = await api('/anonymizer/profiles/' + PIXEL_PROFILE);
      assert(r0.status === 404, 'saved anyway: HTTP ' + r0.status);
      // Manufacturer in another case: the rule matches any case.
      await page.fill(rule + 'input.pr-Manufacturer',
                      US_DEVICE.Manufacturer.toLowerCase());
      await page.fill(rule + 'input.pr-Model', US_DEVICE.Model);
      await page.click('#profile-save');
      await page.waitForFunction(() => /” saved\.$/.test(
        document.getElementById('profile-status').textContent));
      const r = await api('/anonymizer/profiles/' + PIXEL_PROFILE);
      assert(r.status === 200, 'GET the profile: HTTP ' + r.status);
      assert(r.json.BurnedInText === 'strict', 'BurnedInText is ' +
             r.json.BurnedInText);
      const rules = r.json.PixelRules || [];
      assert(rules.length === 1, rules.length + ' pixel rules saved');
      const want = { Label: PIXEL_LABEL,
                     Manufacturer: US_DEVICE.Manufacturer.toLowerCase(),
                     Model: US_DEVICE.Model, Rows: US_DEVICE.Rows,
                     Columns: US_DEVICE.Columns, Rectangles: PIXEL_RECTS };
      for (const [k, v] of Object.entries(want)) {
        assert(JSON.stringify(rules[0][k]) === JSON.stringify(v),
               'the saved rule\'s ' + k + ' differs');
      }
    });

    await must('Setup: after a reload the editor shows the profile\'s ' +
               'BurnedInText and its pixel rule', async () => {
      await page.reload();
      await ready(page);
      await openSetupProfile(page, PIXEL_PROFILE);
      await page.waitForSelector('#pixel-rules li.pixel-rule');
      assert(await page.inputValue('#opt-BurnedInText') === 'strict',
             'BurnedInText is not strict');
      assert(await page.locator('#pixel-rules li.pixel-rule').count() === 1,
             'not one rule');
      const rule = '#pixel-rules li.pixel-rule ';
      assert(await page.inputValue(rule + 'input.pr-Label') === PIXEL_LABEL,
             'the label is not shown');
      assert(await page.inputValue(rule + 'input.pr-Model') ===
             US_DEVICE.Model, 'the model is not shown');
      assert(await page.inputValue(rule + 'input.pr-Columns') ===
             String(US_DEVICE.Columns), 'the columns are not shown');
      const rects = await page.$$eval(rule + 'tr.rect', (rows) => rows.map(
        (row) => Array.from(row.querySelectorAll('input'))
          .map((i) => Number(i.value))));
      assert(JSON.stringify(rects) === JSON.stringify(PIXEL_RECTS),
             'the rectangles shown are not the saved ones');
      const missing = await unlabelled(page);
      assert(missing.length === 0, 'no label: ' + missing.join(', '));
      await page.click('#profile-list button[data-name="Default"]');
      await page.waitForSelector('#profile-readonly:not([hidden])');
      assert(await page.isDisabled('#opt-BurnedInText'),
             'BurnedInText is editable in a built-in profile');
      assert(await page.isHidden('#pixel-rule-add'),
             'a built-in profile offers "Add a pixel rule"');
      assert(await page.inputValue('#opt-BurnedInText') === 'clean',
             'Default\'s BurnedInText is not clean');
    });

    await check('Setup: the rule table\'s Pixels section lists the ' +
                'profile\'s rule, OCR, and deid\'s device rules collapsed',
    async () => {
      await openSetupProfile(page, PIXEL_PROFILE);
      await page.click('#profile-rules-button');
      await page.waitForFunction(() => document.querySelectorAll(
        '#pixel-device-body tr').length > 100);
      const own = await page.$$eval('#pixel-own-body tr', (rows) => rows.map(
        (r) => [r.children[0].textContent, r.dataset.action,
                r.dataset.source]));
      assert(own.some((r) => r[0] === PIXEL_LABEL && r[1] === 'blank' &&
                      r[2] === 'profile PixelRules'),
             'the profile\'s rule is not listed: ' + JSON.stringify(own));
      assert(own.some((r) => /^OCR/.test(r[2])), 'no OCR row');
      const sources = await page.$$eval('#pixel-device-body tr',
        (rows) => rows.map((r) => r.dataset.source));
      assert(sources.every((x) => /^deid\.dicom/.test(x)),
             'a device row does not come from deid');
      assert(!(await page.evaluate(
        () => document.getElementById('pixel-device').open)),
             'the device rules are not collapsed');
      assert(/\d{3} device rules/.test(
        await page.textContent('#pixel-device-summary')),
             'the summary does not count the device rules');
      const inAttributes = await page.$$eval('#rules-body tr',
        (rows) => rows.filter((r) => r.children[1].textContent ===
                              'PixelData').length);
      assert(inAttributes === 0, 'pixel rows among the attribute rules');
      await page.fill('#rules-filter', 'ultrasound regions');
      await page.waitForFunction(() =>
        document.getElementById('pixel-device').open &&
        document.querySelectorAll('#pixel-device-body tr').length >= 1 &&
        document.querySelectorAll('#pixel-device-body tr').length < 5);
      const names = await page.$$eval('#pixel-device-body tr',
        (rows) => rows.map((r) => r.children[0].textContent));
      assert(names.includes('Clean Ultrasound Regions'),
             'the filter does not find deid\'s ultrasound rule');
      assert(/pixel rules shown/.test(await page.textContent('#rules-status')),
             'the status does not count the pixel rules');
      await page.locator('#pixel-section').screenshot(
        { path: path.join(SHOTS, 'setup-rules-pixels.png') });
      await page.fill('#rules-filter', '');
    });

    await check('screenshots of the Setup tab\'s pixel rules editor ' +
                '(1280x900 and narrow); the layout holds', async () => {
      await page.setViewportSize({ width: 1280, height: 900 });
      await openSetupProfile(page, PIXEL_PROFILE);
      await page.waitForSelector('#pixel-rules li.pixel-rule');
      await page.evaluate(() => {
        const y = document.getElementById('pixels-heading')
          .getBoundingClientRect().top + window.scrollY - 24;
        window.scrollTo(0, y);
      });
      await noHorizontalScroll(page);
      await shot(page, 'setup-pixels');
      await page.setViewportSize({ width: 400, height: 800 });
      await page.waitForTimeout(200);
      await noHorizontalScroll(page);
      await page.locator('#pixel-rules li.pixel-rule').screenshot(
        { path: path.join(SHOTS, 'setup-pixels-narrow.png') });
      await page.setViewportSize({ width: 1280, height: 800 });
    });

    await must('the ultrasound image of the rule\'s device is anonymized ' +
               'with the profile: the job card says "1 image cleaned"',
    async () => {
      await listOnly(page, [{ Level: 'Patient', ID: IDS.US,
                              Label: 'ultrasound' }]);
      // Turned off, the Export tab stays closed (and the choice is kept).
      await page.uncheck('#open-export');
      await page.reload();
      await ready(page);
      assert(!(await page.isChecked('#open-export')),
             '"Open the Export tab" is on again after a reload');
      await page.selectOption('#anonymize-profile', PIXEL_PROFILE);
      await page.click('#anonymize-button');
      const id = await waitJob(page, 'Anonymization');
      pixelJob = id;
      await page.waitForTimeout(300);
      assert(await page.isVisible('#panel-anonymize'),
             'the Export tab opened although turned off');
      const card = 'li.job[data-job="' + id + '"] ';
      const words = await page.textContent(card + '.job-result');
      assert(/Done: 1 study, 1 instance stored/.test(words),
             'the card does not say the image was stored');
      assert(/1 image cleaned, 0 refused \(burned-in text\)/.test(words),
             'the card does not say "1 image cleaned, 0 refused"');
      await page.click(card + '.cleaned-box summary');
      await page.locator(card.trim()).screenshot(
        { path: path.join(SHOTS, 'job-pixels.png') });
      const cleaned = await page.textContent(card + 'ul.cleaned');
      assert(cleaned.includes('2 regions blanked (' + PIXEL_LABEL + ')'),
             'the card does not say what was blanked');
      const r = await api('/jobs/' + id);
      assert(r.json.Content.PixelsCleaned === 1, 'PixelsCleaned is ' +
             r.json.Content.PixelsCleaned);
      assert(typeof r.json.Content.CleanedImages[0].Anonymized === 'string',
             'CleanedImages does not name the cleaned copy');
      const boxes = r.json.Content.CleanedImages[0].Boxes
        .filter((b) => !b.Keep);
      assert(JSON.stringify(boxes.map((b) => [b.X, b.Y, b.W, b.H])) ===
             JSON.stringify(PIXEL_RECTS) &&
             boxes.every((b) => b.Label === PIXEL_LABEL),
             'the blanked boxes are not the rule\'s rectangles');
    });

    // The blanked box, in the after canvas: black inside, outlined red.
    const canvasAt = (sel, x, y) => page.$eval(sel, (c, [x, y]) => {
      const s = Number(c.dataset.scale);
      return Array.from(c.getContext('2d').getImageData(
        Math.floor(x * s), Math.floor(y * s), 1, 1).data);
    }, [x, y]);

    await check('the job card shows the cleaned image before and after, ' +
                'the blanked boxes outlined; the after image is blank in ' +
                'them', async () => {
      assert(pixelJob, 'no pixel job');
      const card = 'li.job[data-job="' + pixelJob + '"] ';
      await page.waitForFunction((c) => document.querySelectorAll(
        c + 'canvas.preview[data-state="drawn"]').length === 2, card);
      const [bx, by, bw, bh] = PIXEL_RECTS[1];
      const inside = await canvasAt(card + '.after canvas', bx + bw / 2,
                                    by + bh / 2);
      assert(inside[0] === 0 && inside[1] === 0 && inside[2] === 0,
             'the after image is not blank in the box: ' + inside);
      const edge = await canvasAt(card + '.after canvas', bx + 0.3, by + bh / 2);
      assert(edge[0] > 200 && edge[1] < 90, 'the box is not outlined red: ' +
             edge);
      const label = await page.getAttribute(card + '.before canvas',
                                            'aria-label');
      assert(/2 blanked regions/.test(label), 'the picture is not described');
      await page.locator(card.trim()).screenshot(
        { path: path.join(SHOTS, 'job-pixels.png') });
    });

    await check('a user Orthanc does not let see the original gets words ' +
                'instead of its preview (HTTP 403)', async () => {
      const original = (await api('/jobs/' + pixelJob)).json.Content
        .CleanedImages[0].Instance;
      await page.route('**/instances/' + original + '/preview', (route) =>
        route.fulfill({ status: 403, contentType: 'text/plain',
                        body: 'Forbidden' }));
      try {
        await page.reload();
        await ready(page);
        const card = 'li.job[data-job="' + pixelJob + '"] ';
        await page.waitForSelector(card + '.before canvas[data-state="refused"]',
                                   { state: 'attached' });
        const note = await page.textContent(card + '.before .preview-note');
        assert(/does not let you see this image \(HTTP 403\): previews are shown only to users who may read the originals/
          .test(note), 'the note says: ' + note);
      } finally {
        await page.unroute('**/instances/' + original + '/preview');
      }
    });

    await check('the report shows the same before/after previews',
      async () => {
        const report = (await api('/jobs/' + pixelJob)).json.Content.Report;
        await tab(page, 'reports');
        const row = '#reports-body tr[data-report="' + report + '"]';
        await page.waitForSelector(row);
        await page.click(row + ' button.show');
        await page.waitForFunction(() => document.querySelectorAll(
          '#report-previews canvas.preview[data-state="drawn"]').length === 2);
        await page.locator('#report-card').screenshot(
          { path: path.join(SHOTS, 'report-pixels.png') });
        await tab(page, 'anonymize');
      });

    await check('a profile that refuses risky images: the card says ' +
                '"1 refused" and the failures list gives the reason',
    async () => {
      const put = await api('/anonymizer/profiles/' + REFUSE_PROFILE, {
        method: 'PUT', body: JSON.stringify({ Base: 'Default',
                                              BurnedInText: 'refuse' }) });
      assert(put.status === 200, 'PUT the profile: HTTP ' + put.status);
      await listOnly(page, [{ Level: 'Patient', ID: IDS.US,
                              Label: 'ultrasound' }]);
      await page.waitForFunction((n) => Array.from(document.querySelectorAll(
        '#anonymize-profile option')).some((o) => o.value === n),
        REFUSE_PROFILE);
      await page.selectOption('#anonymize-profile', REFUSE_PROFILE);
      await page.click('#anonymize-button');
      const id = await waitJobEnd(page, 'Anonymization');
      const card = 'li.job[data-job="' + id + '"] ';
      const words = await page.textContent(card + '.job-result');
      assert(/0 images cleaned, 1 refused \(burned-in text\)/.test(words),
             'the card does not say "0 images cleaned, 1 refused"');
      await page.click(card + '.failures-box summary');
      const reasons = await page.$$eval(card + 'ul.failures li',
        (li) => li.map((x) => x.textContent));
      assert(reasons.length === 1 && /: burned-in text: .*refuse/.test(
        reasons[0]), 'the refusal\'s reason is not listed');
    });

    await check('Setup says when OCR is not available on the server',
      async () => {
        assert(await page.isHidden('#pixels-ocr-missing'),
               'the warning shows while OCR is available');
        const info = (await api('/anonymizer/info')).json;
        const noOcr = Object.assign({}, info, {
          Pixels: Object.assign({}, info.Pixels, { OCR: false }) });
        await page.route('**/anonymizer/info', (route) => route.fulfill({
          status: 200, contentType: 'application/json',
          body: JSON.stringify(noOcr) }));
        try {
          await page.reload();
          await ready(page);
          await tab(page, 'setup');
          await page.waitForSelector('#pixels-ocr-missing:not([hidden])');
          const text = await page.textContent('#pixels-ocr-missing');
          assert(text === 'OCR is not available on this server: risky ' +
                 'images that no rule covers will be refused.',
                 'the warning says something else');
        } finally {
          await page.unroute('**/anonymizer/info');
        }
        await page.reload();
        await ready(page);
      });

    await check('a running job\'s card shows instances done of total, the ' +
                'rate and the time left, and a failed instance\'s reason one ' +
                'click away; a job that failed entirely says what happened ' +
                'and what to do', async () => {
      const fake = 'mock-anonymization-0001';
      const t0 = Date.now();
      const running = (done) => ({ ID: fake, Type: 'Anonymization',
        State: 'Running', Progress: Math.round(done * 2.5),
        Content: { InstancesTotal: 40, InstancesDone: done, FailedCount: 1,
                   Failed: [{ Instance: 'abcd-0001',
                              Error: 'leak check: (0008,0080) kept' }],
                   Studies: [] } });
      await page.route('**/anonymizer/anonymize', (route) => route.fulfill({
        status: 200, contentType: 'application/json',
        body: JSON.stringify({ ID: fake, Path: '/jobs/' + fake }) }));
      let failNow = false;
      await page.route('**/jobs/' + fake, (route) => {
        const seconds = (Date.now() - t0) / 1000;
        const body = failNow ? { ID: fake, Type: 'Anonymization',
          State: 'Failure', Progress: 30, ErrorCode: 9,
          ErrorDescription: 'Internal error',
          Content: { InstancesTotal: 40, InstancesDone: 12,
                     Error: 'the store cannot be written: disk full',
                     Studies: [] } }
          : running(Math.min(39, Math.round(seconds * 4)));
        route.fulfill({ status: 200, contentType: 'application/json',
                        body: JSON.stringify(body) });
      });
      try {
        await listOnly(page, [{ Level: 'Patient', ID: IDS.A, Label: 'A' }]);
        await page.click('#anonymize-button');
        const card = 'li.job[data-job="' + fake + '"] ';
        await page.waitForFunction((c) => / per second · about [\d.]+ s left$/
          .test((document.querySelector(c + '.job-counts') || {})
            .textContent || ''), card, { timeout: 10000 });
        const counts = await page.textContent(card + '.job-counts');
        assert(/^\d+ of 40 instances · [\d.]+ per second · about [\d.]+ s left$/
          .test(counts), 'the card counts: ' + counts);
        await page.click(card + '.job-running .failures-box summary');
        const reason = await page.textContent(card + '.job-running ul.failures');
        assert(/abcd-0001: leak check: \(0008,0080\) kept/.test(reason),
               'the reason is not one click away');
        await page.locator(card.trim()).screenshot(
          { path: path.join(SHOTS, 'job-running.png') });
        failNow = true;
        await page.waitForSelector(card.trim() + '[data-state="Failure"]');
        const words = await page.textContent(card + '.failed-whole');
        assert(/^Failed: the store cannot be written: disk full/.test(words) &&
               /Nothing of this job is kept in Orthanc.*press Anonymize again/
                 .test(words), 'the card says: ' + words.slice(0, 160));
        await page.click(card + 'button:has-text("Remove")');
      } finally {
        await page.unroute('**/anonymizer/anonymize');
        await page.unroute('**/jobs/' + fake);
      }
    });

    await check('no study in Orthanc: the search says so and what to do',
      async () => {
        await page.route('**/tools/find', (route) => route.fulfill({
          status: 200, contentType: 'application/json', body: '[]' }));
        await page.route('**/statistics', (route) => route.fulfill({
          status: 200, contentType: 'application/json',
          body: JSON.stringify({ CountStudies: 0, CountPatients: 0 }) }));
        try {
          await page.click('#search-reset');
          await page.click('#search-button');
          await page.waitForSelector('#search-problem:not([hidden])');
          const words = await page.textContent('#search-problem');
          assert(/^Orthanc holds no study yet\. Send studies to Orthanc/
            .test(words), 'the page says: ' + words.slice(0, 120));
          assert(await page.isHidden('#results-wrap'), 'a table is shown');
        } finally {
          await page.unroute('**/tools/find');
          await page.unroute('**/statistics');
        }
      });

    await check('when the plugin cannot tell the copies, the results say ' +
                'they are not marked', async () => {
      await page.route('**/anonymizer/copies', (route) => route.fulfill({
        status: 500, contentType: 'application/json',
        body: JSON.stringify({ Error: 'Internal error',
                               Details: 'the plugin is starting' }) }));
      try {
        await page.fill('#search-name', env.OA_SEARCH_NAME);
        await page.click('#search-button');
        await page.waitForFunction(() => /Anonymized copies are not marked: /
          .test(document.getElementById('search-status').textContent));
      } finally {
        await page.unroute('**/anonymizer/copies');
      }
    });

    await check('Orthanc unreachable: the search says so and what to do',
      async () => {
        await page.route('**/tools/find', (route) => route.abort('failed'));
        try {
          await page.click('#search-button');
          await page.waitForFunction(() => /Orthanc cannot be reached/.test(
            document.getElementById('search-problem').textContent));
          const words = await page.textContent('#search-problem');
          assert(/^The search failed: Orthanc could not be reached/.test(words)
                 && /check that it is running.*then try again/.test(words),
                 'the page says: ' + words.slice(0, 160));
          await page.locator('#search-card').screenshot(
            { path: path.join(SHOTS, 'search-unreachable.png') });
        } finally {
          await page.unroute('**/tools/find');
        }
      });

    await check('keyboard only: one whole anonymize-and-export (Tab, ' +
                'Enter, Space), the focus visible at every stop', async () => {
      await listOnly(page, []);
      await page.evaluate(() => {
        document.activeElement.blur();
        window.scrollTo(0, 0);
      });
      const invisible = [];
      // Tab until the focus is on `selector`; every stop must show it.
      const tabTo = (selector, max) => tabUntil(page, selector, invisible,
                                                max);
      await tabTo('#search-name');
      await page.keyboard.type(env.OA_SEARCH_NAME);
      await page.keyboard.press('Enter');
      await page.waitForSelector('#results tbody.patient-group');
      await tabTo('#results button.add[data-level="Patient"][data-id="' +
                  IDS.B + '"]');
      await page.keyboard.press('Enter');
      await page.waitForSelector('#list-body li.entry');
      await tabTo('#open-export');
      if (!(await page.isChecked('#open-export'))) {
        await page.keyboard.press('Space');
      }
      assert(await page.isChecked('#open-export'), 'the switch is off');
      // Back to the Anonymize button: Shift+Tab.
      for (let i = 0; i < 5 && !(await page.evaluate(() =>
        document.activeElement.id === 'anonymize-button')); i++) {
        await page.keyboard.press('Shift+Tab');
      }
      assert(await page.evaluate(() => document.activeElement.id ===
             'anonymize-button'), 'Shift+Tab does not reach Anonymize');
      await page.keyboard.press('Enter');
      await waitJob(page, 'Anonymization');
      await page.waitForSelector('#panel-export:not([hidden])');
      assert(await page.evaluate(() => document.activeElement.id ===
             'tab-export'), 'the focus is not on the Export tab');
      await page.waitForFunction(() => document.querySelectorAll(
        '#export-studies-body input.pick:checked').length === 2).catch(
        async () => {
          throw new Error(await page.$$eval(
            '#export-studies-body input.pick:checked', (c) => c.length) +
            ' studies selected, not B\'s 2');
        });
      await tabTo('input[name="target"]:checked');
      assert(await page.evaluate(() => document.activeElement.id ===
             'target-zip'), 'the ZIP target is not the one chosen');
      await tabTo('#export-button');
      assert(await page.isChecked('#target-zip'), 'passing through the ' +
             'targets with Tab changed the target');
      await page.keyboard.press('Enter');
      const exported = await waitJob(page, 'Export');
      // The download link takes the focus when the export ends (else Tab
      // reaches it): this export's link.
      const link = 'li.job[data-job="' + exported + '"] a.download';
      if (!(await page.evaluate((l) => document.activeElement.matches(l),
                                link))) {
        await tabTo(link);
      }
      const name = await download(page, () => page.keyboard.press('Enter'),
                                  'keyboard.zip');
      assert(/^Anonymizer-.*\.zip$/.test(name), 'downloaded as ' + name);
      assert(invisible.length === 0, 'no visible focus on: ' +
             Array.from(new Set(invisible)).join(', '));
    });

    await check('keyboard: arrows, Home and End move between the tabs',
      async () => {
        await page.focus('#tab-export');
        await page.keyboard.press('ArrowRight');
        assert(await page.evaluate(() => document.activeElement.id) ===
               'tab-setup', 'ArrowRight did not move the focus');
        assert(await page.isVisible('#panel-setup'), 'Setup is not shown');
        await page.keyboard.press('End');
        assert(await page.getAttribute('#tab-reports', 'aria-selected') ===
               'true', 'End did not select Reports');
        await page.keyboard.press('Home');
        assert(await page.getAttribute('#tab-anonymize', 'aria-selected') ===
               'true', 'Home did not select Anonymize');
        await page.keyboard.press('ArrowLeft');
        assert(await page.getAttribute('#tab-reports', 'aria-selected') ===
               'true', 'ArrowLeft did not wrap to Reports');
        await page.keyboard.press('Tab');
        const inPanel = await page.evaluate(() =>
          !!document.activeElement.closest('#panel-reports'));
        assert(inPanel, 'Tab does not lead into the tab\'s panel');
      });

    await check('every form control has a label', async () => {
      const missing = await unlabelled(page);
      assert(missing.length === 0, 'no label: ' + missing.join(', '));
    });

    await check('no script error, no CSP violation, no request outside ' +
                'Orthanc\'s sub-path, no dialog', async () => {
      assert(pageErrors.length === 0, 'page error: ' + pageErrors[0]);
      assert(consoleErrors.length === 0, 'console error: ' + consoleErrors[0]);
      assert(foreign.length === 0, 'request to ' + foreign[0]);
      assert(dialogs.length === 0, 'a dialog opened');
    });
  } finally {
    await browser.close();
  }
}

run(main);
