// What the report-page checks share: finding playwright-core and chromium (exit 77 when either
// is missing), recording checks, opening a page from file:// with its console errors and any
// request beyond the file, waiting for the viewer, and the pixel statistics of a screenshot.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const failures = [];
export function check(ok, what) {
  if (!ok) { failures.push(what); console.error('FAILED: ' + what); } else console.log('ok: ' + what);
  return ok;
}

function finish() {
  if (failures.length) {
    console.error(`${failures.length} check(s) failed`);
    process.exit(1);
  }
}

// Runs `checks(browser)` in a launched browser: an exception is one failed check; the browser is
// closed; the process exits 1 when any check failed.
export async function withBrowser(checks) {
  const browser = await launch();
  try {
    await checks(browser);
  } catch (e) {
    check(false, String(e && e.message ? e.message.split('\n')[0] : e));
  } finally {
    await browser.close();
  }
  finish();
}

// Headless chromium with WebGL2 through SwiftShader; exits 77 when it cannot be had.
async function launch() {
  const web = process.env.FRATMAE_WEB_DIR || path.join(here, '..', '..', 'web');
  let chromium;
  try {
    chromium = createRequire(path.join(web, 'package.json'))('playwright-core').chromium;
  } catch (e) {
    console.error(`playwright-core is not installed in ${web}/node_modules (scripts/install-deps.sh): ${e.message}`);
    process.exit(77);
  }
  const browserPath = process.env.CHROMIUM || ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find(existsSync);
  if (!browserPath) {
    console.error('chromium is not installed (Debian package chromium)');
    process.exit(77);
  }
  return chromium.launch({
    executablePath: browserPath,
    args: ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--no-sandbox', '--disable-gpu-sandbox'],
  });
}

// Opens FILE; returns {page, errors, requests} (console errors and page errors; requests other
// than the file and data: URLs).
export async function open(browser, file) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } });
  const errors = [], requests = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  const url = pathToFileURL(path.resolve(file)).href;
  page.on('request', (r) => { if (r.url() !== url && !r.url().startsWith('data:')) requests.push(r.url()); });
  await page.goto(url);
  return { page, errors, requests };
}

// Waits for the page's viewer (window.fratmaeReport) and checks it loaded its volumes.
async function viewerLoaded(page) {
  await page.waitForFunction(() => window.fratmaeReport && (window.fratmaeReport.ready || window.fratmaeReport.error),
                             null, { timeout: 120000 });
  const state = await page.evaluate(() => ({ ready: window.fratmaeReport.ready, error: window.fratmaeReport.error }));
  return check(state.ready && !state.error, `the viewer loaded the volumes${state.error ? ' (error: ' + state.error + ')' : ''}`);
}

function quiet(errors, requests) {
  check(errors.length === 0, `no error in the console${errors.length ? ': ' + errors.join(' | ') : ''}`);
  check(requests.length === 0, `nothing fetched beyond the file${requests.length ? ': ' + requests.join(', ') : ''}`);
}

// The share of lit pixels and their SD in a screenshot of the viewer's canvas, decoded by the
// browser itself; checks the canvas is not blank.
async function canvasShowsAnImage(page, shot) {
  const png = await page.locator('#gl').screenshot(shot ? { path: shot } : {});
  const stats = await page.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let lit = 0, sum = 0, sum2 = 0;
    const n = d.length / 4;
    for (let i = 0; i < d.length; i += 4) {
      const v = (d[i] + d[i + 1] + d[i + 2]) / 3;
      sum += v; sum2 += v * v;
      if (v > 20) lit++;
    }
    const mean = sum / n;
    return { lit: lit / n, sd: Math.sqrt(Math.max(0, sum2 / n - mean * mean)), w: c.width, h: c.height };
  }, png.toString('base64'));
  return check(stats.lit > 0.05 && stats.sd > 10,
               `the viewer shows an image (${stats.w} x ${stats.h} px, ${(100 * stats.lit).toFixed(1)}% lit, sd ${stats.sd.toFixed(1)})`);
}

// The page's viewer loaded its volumes, nothing went wrong in the console or the network, and
// its canvas shows an image (throws when the viewer did not load: nothing more to check).
export async function viewerShowsAnImage(page, errors, requests, shot) {
  const loaded = await viewerLoaded(page);
  await page.waitForTimeout(500);
  quiet(errors, requests);
  if (!loaded) throw new Error('the viewer did not load; nothing more to check');
  await canvasShowsAnImage(page, shot);
}
