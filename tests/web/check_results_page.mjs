// Opens a results page (`fratmae experiment`'s or `evaluate`'s report.html) in headless chromium
// and checks what a reader sees: the page loads from file:// with no console error and no
// request beyond the file; its markdown is rendered (at least MIN_TABLES tables, the first with
// a header row and a data row); every figure decodes; the example case's viewer shows an image,
// offers one choice per mask and a choice shows that mask alone.
//
//   node tests/web/check_results_page.mjs REPORT.html MIN_TABLES MASKS [SCREENSHOT.png]
//
// Exit 0 when every check holds; 1 with the failed checks on stderr; 77 when chromium or
// playwright-core is missing.
import { check, withBrowser, open, viewerShowsAnImage } from './page_checks.mjs';

const [report, minTables, masks, shot] = process.argv.slice(2);
if (!report || !minTables || !masks) {
  console.error('usage: node check_results_page.mjs REPORT.html MIN_TABLES MASKS [SCREENSHOT.png]');
  process.exit(2);
}

await withBrowser(async (browser) => {
  const { page, errors, requests } = await open(browser, report);
  await page.waitForFunction(() => window.fratmaeMarkdown, null, { timeout: 60000 });
  const md = await page.evaluate(() => ({
    rendered: window.fratmaeMarkdown.rendered,
    tables: document.querySelectorAll('#report-md table').length,
    firstRows: document.querySelector('#report-md table') ? document.querySelector('#report-md table').rows.length : 0,
    headings: document.querySelectorAll('#report-md h2').length,
  }));
  check(md.rendered, 'report.md is rendered by the bundled markdown renderer');
  check(md.tables >= Number(minTables) && md.firstRows >= 2,
        `report.md's tables are tables (${md.tables}, at least ${minTables}; the first has ${md.firstRows} rows)`);
  const images = await page.evaluate(async () => {
    const out = [];
    for (const img of document.querySelectorAll('.figure img')) {
      try { await img.decode(); out.push(img.naturalWidth > 0); } catch (e) { out.push(false); }
    }
    return out;
  });
  check(images.every(Boolean), `every figure decodes (${images.filter(Boolean).length} of ${images.length})`);

  await viewerShowsAnImage(page, errors, requests, shot);
  const radios = await page.locator('#mask-choice input[type=radio]').count();
  check(radios === Number(masks), `one choice per mask (${radios}, ${masks} masks)`);
  // Choosing the last mask shows it alone: its opacity > 0, every other mask's 0.
  if (radios > 1) {
    await page.locator('#mask-choice input[type=radio]').nth(radios - 1).check();
    const op = await page.evaluate(() => {
      const nv = window.fratmaeReport.viewer;
      const vols = JSON.parse(document.getElementById('fratmae-volumes').textContent);
      return vols.map((v, i) => [v.role, nv.volumes[i].opacity]).filter(([r]) => r === 'mask').map(([, o]) => o);
    });
    check(op[op.length - 1] > 0 && op.slice(0, -1).every((o) => o === 0),
          `the last choice shows its mask alone (opacities ${op.join(', ')})`);
  }
});
