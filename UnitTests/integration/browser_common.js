'use strict';
/**
 * What the browser tests (test_explorer.js, test_webapp.js) share: their
 * checks and summary line, the REST calls of their own checks, and
 * Debian's headless Chromium launched by playwright-core with a watch on
 * each page.  Reads from the environment (set by test_explorer.py and
 * test_webapp.py through oatest/browser.py):
 *
 *   OA_PLAYWRIGHT    folder of the playwright-core module
 *   OA_CHROMIUM      the browser (/usr/bin/chromium)
 *   OA_BASE_URL      Orthanc as the browser sees it, ending with "/" (a
 *                    reverse proxy at a sub-path: a URL that is not
 *                    relative breaks the tests)
 *   OA_API_URL       Orthanc itself, for the tests' own REST checks
 *
 * Prints "PASS name" / "FAIL name: reason" per check and "N passed, M
 * failed" at the end; never a DICOM value.
 */

const fs = require('fs');
const os = require('os');
const path = require('path');

const env = process.env;
const { chromium } = require(env.OA_PLAYWRIGHT);

const BASE = env.OA_BASE_URL;
const API = env.OA_API_URL.replace(/\/$/, '');

const counts = { passed: 0, failed: 0, skipRest: false };

function firstLine(e) {
  return String(e && e.message ? e.message : e).split('\n')[0];
}

// A named check: PASS or FAIL with the first line of its error.
async function check(name, fn) {
  if (counts.skipRest) {
    counts.failed++;
    console.log('FAIL ' + name + ': not run (an earlier step failed)');
    return false;
  }
  try {
    await fn();
    counts.passed++;
    console.log('PASS ' + name);
    return true;
  } catch (e) {
    counts.failed++;
    console.log('FAIL ' + name + ': ' + firstLine(e));
    return false;
  }
}

// A step later ones depend on: if it fails, the checks after it fail
// unrun.
async function must(name, fn) {
  if (!await check(name, fn)) {
    counts.skipRest = true;
  }
}

function assert(condition, message) {
  if (!condition) {
    throw new Error(message || 'assertion failed');
  }
}

// A REST call to Orthanc itself: { status, json } (json null if not JSON).
async function api(pathname, options) {
  const r = await fetch(API + pathname, options);
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  return { status: r.status, json };
}

// Chromium with a fresh profile; `options` are added to playwright's
// launchPersistentContext options, options.args to the common flags.
// Returns { context, page, close }.
async function launch(options) {
  const extra = Object.assign({}, options);
  const args = ['--headless', '--no-sandbox', '--disable-gpu',
                '--disable-background-networking',
                '--disable-component-update', '--no-first-run',
                '--disable-dev-shm-usage', '--disable-default-apps',
                '--disable-sync', '--mute-audio'].concat(extra.args || []);
  delete extra.args;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oa-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir,
      Object.assign({
        executablePath: env.OA_CHROMIUM || '/usr/bin/chromium',
        headless: true,
        timeout: 60000,
      }, extra, { args }));
  } catch (e) {
    fs.rmSync(userDataDir, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] || await context.newPage();
  return {
    context,
    page,
    close: async () => {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// What a page does that the tests forbid: script errors, dialogs (each
// dismissed, so that no alert() blocks a check) and requests outside
// Orthanc's URL.  Sets the page's default timeout too.
function watch(page, timeout) {
  const seen = { pageErrors: [], dialogs: [], foreign: [] };
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (e) => seen.pageErrors.push(e.message.split('\n')[0]));
  page.on('dialog', (d) => {
    seen.dialogs.push(d.type());
    d.dismiss().catch(() => {});
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(BASE) && !u.startsWith('data:') &&
        !u.startsWith('blob:')) {
      seen.foreign.push(u);
    }
  });
  return seen;
}

// Runs the test's main(), then prints the summary line; exit status 0 if
// every check passed (and there was one).
function run(main) {
  main().catch((e) => {
    counts.failed++;
    console.log('FAIL the browser test stopped: ' + firstLine(e));
  }).finally(() => {
    console.log(counts.passed + ' passed, ' + counts.failed + ' failed');
    process.exit(counts.failed === 0 && counts.passed > 0 ? 0 : 1);
  });
}

module.exports = { env, BASE, API, check, must, assert, api, launch, watch,
                   run };
