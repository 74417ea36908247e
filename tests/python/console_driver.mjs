// The web console's browser driver for test_console.py and scripts/bench: headless Debian chromium through
// playwright-core (console/package.json). It reads one JSON command per line on stdin and answers one JSON
// line per command on stdout ({"ok": true, ...} or {"ok": false, "error": "..."}), so the Python test can
// interleave browser steps with its own SDK checks.
import { createRequire } from 'node:module';
import readline from 'node:readline';

const require = createRequire(new URL('../../console/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const logs = [];
page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => logs.push(`pageerror: ${e.message}`));
page.on('response', async (r) => {
  if (r.status() >= 400) logs.push(`HTTP ${r.status()} ${r.request().headers()['x-acs-action'] || r.url()}: ${(await r.text().catch(() => '')).slice(0, 300)}`);
});

// The share of blue pixels (docs/GUEST.md: b >= 128, r < 96, g < 96) of an <img> or <canvas>.
async function blueFraction(selector) {
  return page.$eval(selector, (node) => {
    const canvas = document.createElement('canvas');
    const w = node.naturalWidth || node.width;
    const h = node.naturalHeight || node.height;
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(node, 0, 0);
    const d = ctx.getImageData(0, 0, w, h).data;
    let blue = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 2] >= 128 && d[i] < 96 && d[i + 1] < 96) blue++;
    return { fraction: blue / (w * h), width: w, height: h };
  });
}

const ops = {
  async open({ url }) {
    await page.goto(url);
    return { title: await page.title() };
  },
  // Sign in with the keyboard only: Tab into each field, type, Enter.
  async signIn({ accessKeyId, accessKeySecret, region }) {
    await page.waitForSelector('#ak-id:focus');
    await page.keyboard.type(accessKeyId);
    await page.keyboard.press('Tab');
    await page.keyboard.type(accessKeySecret);
    await page.keyboard.press('Tab'); // the security token: none for an AccessKey pair
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type(region);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#grid-view:not([hidden])');
    const stored = await page.evaluate(() => Object.keys(sessionStorage));
    return { url: page.url(), stored, cookies: (await context.cookies()).length };
  },
  async gridScreen({ instanceId, timeoutMs = 60000 }) {
    const img = `li[data-instance-id="${instanceId}"] img:not([hidden])`;
    await page.waitForSelector(img, { timeout: timeoutMs });
    await page.waitForFunction((sel) => document.querySelector(sel).complete, img);
    const hash = await page.getAttribute(`li[data-instance-id="${instanceId}"]`, 'data-hash');
    const text = await page.textContent(`li[data-instance-id="${instanceId}"]`);
    return { ...(await blueFraction(img)), hash, text, frames: await page.evaluate(() => window.ecslabGrid.frames) };
  },
  async gridFrames({ seconds }) {
    const before = await page.evaluate(() => window.ecslabGrid.frames);
    await page.waitForTimeout(seconds * 1000);
    return { frames: (await page.evaluate(() => window.ecslabGrid.frames)) - before };
  },
  async openInstance({ instanceId }) {
    // From the keyboard: focus the card's link and press Enter.
    await page.focus(`li[data-instance-id="${instanceId}"] a`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#connect-console:not([disabled])');
    return { url: page.url() };
  },
  async openConsole({ timeoutMs = 30000 }) {
    await page.focus('#connect-console');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#vnc-screen[data-connected="true"]', { timeout: timeoutMs });
    await page.waitForSelector('#vnc-screen canvas', { state: 'attached' });
    await page.waitForTimeout(1500);
    return await blueFraction('#vnc-screen canvas');
  },
  async type({ text }) {
    await page.click('#vnc-screen canvas');
    await page.keyboard.type(text, { delay: 60 });
    await page.keyboard.press('Enter');
    await page.waitForTimeout(1000);
    return {};
  },
  async createSnapshot({ name }) {
    const input = page.locator('.snap-name').first();
    await input.fill(name);
    await page.locator('.create-snapshot').first().click();
    const item = page.locator('li[data-snapshot-id]', { hasText: name });
    await item.waitFor({ timeout: 60000 });
    const snapshotId = await item.getAttribute('data-snapshot-id');
    return { snapshotId, status: await page.textContent('#status') };
  },
  // Reload the page (the session keeps the key) and give the ids of the snapshots the item of `snapshotId` is
  // nested in, innermost first.
  async ancestors({ snapshotId }) {
    await page.reload();
    const li = page.locator(`li[data-snapshot-id="${snapshotId}"]`);
    await li.waitFor({ timeout: 30000 });
    const ancestors = await li.evaluate((node) => {
      const out = [];
      for (let p = node.parentElement.closest('li[data-snapshot-id]'); p; p = p.parentElement.closest('li[data-snapshot-id]')) {
        out.push(p.dataset.snapshotId);
      }
      return out;
    });
    return { ancestors, now: await li.evaluate((node) => node.querySelector(':scope > strong') !== null) };
  },
  // Show a screenshot job's frames from the instance page (keyboard: focus the button, Enter); each image's object
  // name and blue share.
  async jobFrames({ jobId, timeoutMs = 30000 }) {
    const item = `li[data-job-id="${jobId}"]`;
    await page.focus(`${item} .show-frames`);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`${item} .frame-list img`, { timeout: timeoutMs });
    const objects = await page.$$eval(`${item} .frame-list img`, (imgs) => imgs.map((i) => i.dataset.object));
    const frames = [];
    for (let n = 0; n < objects.length; n++) {
      const sel = `${item} .frame-list li:nth-child(${n + 1}) img`;
      await page.waitForFunction((s) => document.querySelector(s).complete, sel);
      frames.push({ object: objects[n], ...(await blueFraction(sel)) });
    }
    return { frames, caption: await page.textContent(`${item} .frames .meta`) };
  },
  async narrow({ width }) {
    await page.setViewportSize({ width, height: 800 });
    await page.waitForTimeout(300);
    return await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      columns: getComputedStyle(document.querySelector('.detail') || document.querySelector('.grid')).gridTemplateColumns,
    }));
  },
  async goto({ hash }) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForTimeout(300);
    return {};
  },
  async focusWalk({ presses }) {
    const seen = [];
    for (let i = 0; i < presses; i++) {
      await page.keyboard.press('Tab');
      seen.push(await page.evaluate(() => {
        const a = document.activeElement;
        const style = getComputedStyle(a);
        return { tag: a.tagName, text: (a.textContent || a.getAttribute('aria-label') || '').trim().slice(0, 40),
          outline: style.outlineStyle !== 'none' && style.outlineWidth !== '0px' };
      }));
    }
    return { seen };
  },
  async inspect() {
    return await page.evaluate(() => {
      const c = document.querySelector('#vnc-screen canvas');
      const r = c && c.getBoundingClientRect();
      return { status: document.querySelector('#status').textContent, canvas: r && [r.width, r.height],
        style: c && c.getAttribute('style'), parent: c && c.parentElement.getAttribute('style'),
        panels: ['#disks', '#image', '#jobs'].map((s) => document.querySelector(s)?.textContent.slice(0, 200)) };
    });
  },
  async logs() {
    return { logs };
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { op, ...args } = JSON.parse(line);
  if (op === 'quit') break;
  try {
    const result = await ops[op](args);
    process.stdout.write(JSON.stringify({ ok: true, ...result }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e), logs: logs.slice(-20) }) + '\n');
  }
}
await browser.close();
