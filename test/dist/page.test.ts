/**
 * The training page as a user meets it, in headless Chromium (SwiftShader WebGPU, driven by playwright-core):
 * the checks made when a folder or a weights file is picked, the form's errors, the error box, stored runs
 * keyed by their data, Stop/Resume/Train with a stopped run, a second tab, results after a reload, and the
 * layout at 420 px. Two page sessions keep it short: one without training, one with a tiny 2-epoch run.
 * The page's pure helpers (checks.ts, form.ts's number parsing) are tested in Node first.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { serveStatic } from '../../src/cli/serve';
import { identityMismatch, weightsProblem, BROWSER_IMAGE_EXTENSIONS } from '../../src/web/checks';
import { parseDecimal, precisionSupport } from '../../src/web/form';
import { writeSafetensors } from '../../src/nn/weights/index';

describe('page helpers (Node)', () => {
  it('parseDecimal takes plain decimals only: 0x20, 0b1, Infinity and blanks are refused', () => {
    for (const [raw, v] of [['32', 32], ['0.001', 0.001], ['1e-3', 0.001], ['-2', -2], ['.5', 0.5], ['5.', 5]] as const) expect(parseDecimal(raw)).toBe(v);
    for (const raw of ['0x20', '0b1', '0o7', 'Infinity', '', ' ', '1,5', '3 2', '1e', 'NaN']) expect(parseDecimal(raw)).toBeNull();
  });

  it('weightsProblem names a bad .pth as a .pth, and passes a zip .pth and a safetensors-shaped file', () => {
    const zip = new Uint8Array([0x50, 0x4b, 3, 4, 0, 0, 0, 0]);
    const st = new Uint8Array([16, 0, 0, 0, 0, 0, 0, 0]);
    expect(weightsProblem('resnet18.pth', new TextEncoder().encode('<html>4'), 1000)).toMatch(/not a PyTorch \.pth file/);
    expect(weightsProblem('resnet18.pth', new TextEncoder().encode('<html>4'), 1000)).not.toMatch(/safetensors/);
    expect(weightsProblem('resnet18.pth', zip, 1000)).toBeNull();
    expect(weightsProblem('w.safetensors', st, 1000)).toBeNull();
    expect(weightsProblem('w.safetensors', zip, 1000)).toMatch(/zip archive/);
    expect(weightsProblem('w.pth', zip, 0)).toMatch(/empty/);
    expect(weightsProblem('w.bin', st, 1000)).toMatch(/neither a \.pth nor a \.safetensors/);
  });

  it('precisionSupport offers f16 only with shader-f16; otherwise f32 with a note naming the adapter', () => {
    expect(precisionSupport(new Set(['timestamp-query', 'shader-f16']), 'GPU X')).toEqual({ f16: true, note: '' });
    const without = precisionSupport(new Set(['timestamp-query', 'subgroups']), 'Google / swiftshader');
    expect(without.f16).toBe(false);
    expect(without.note).toBe('f32 only: this adapter (Google / swiftshader) lacks shader-f16, which f16 needs');
    expect(precisionSupport(new Set(), 'A').f16).toBe(false);
    // Not known yet (before the adapter check, or no WebGPU): not offered.
    expect(precisionSupport(null, '').f16).toBe(false);
    expect(precisionSupport(null, '').note).toMatch(/shader-f16/);
  });

  it('identityMismatch: same files pass; other files, or no recorded identity, are named', () => {
    const a = { root: 'shapes', classes: ['dark', 'light'], images: 8, fingerprint: 'aa' };
    expect(identityMismatch(a, { ...a })).toBeNull();
    expect(identityMismatch(a, { ...a, fingerprint: 'bb' })).toMatch(/other files/);
    expect(identityMismatch(a, { ...a, images: 9, fingerprint: 'bb' })).toMatch(/8 images in 2 classes .*\(9 images/);
    expect(identityMismatch(undefined, a)).toMatch(/older version/);
    expect(BROWSER_IMAGE_EXTENSIONS).not.toContain('.tif');
    expect(BROWSER_IMAGE_EXTENSIONS).toContain('.png');
  });
});

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--enable-unsafe-webgpu', '--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const inCI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';

function newest(dir: string): number {
  return Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
}
function buildIfStale(): void {
  const bundles = ['main.js', 'worker.js', 'index.html', 'style.css'].map((f) => join('dist/web', f));
  const built = bundles.every((f) => existsSync(f)) ? Math.min(...bundles.map((f) => statSync(f).mtimeMs)) : 0;
  if (built < Math.max(...['src'].map(newest))) execFileSync(process.execPath, ['build.mjs', '--no-types'], { stdio: 'inherit' });
}

type RGB = [number, number, number];
/** Write `files` (path → a colour for a 24x24 PNG/TIFF, or a string for raw bytes) under a new folder named `name`. */
async function writeTree(name: string, files: Record<string, RGB | string>): Promise<string> {
  const root = join(mkdtempSync(join(tmpdir(), 'page-test-')), name);
  mkdirSync(root, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    if (typeof content === 'string') writeFileSync(path, content);
    else {
      const img = sharp({ create: { width: 24, height: 24, channels: 3, background: { r: content[0], g: content[1], b: content[2] } } });
      await (rel.endsWith('.tif') ? img.tiff() : img.png()).toFile(path);
    }
  }
  return root;
}

const DARK: RGB = [20, 30, 40];
const LIGHT: RGB = [230, 220, 200];
const GREY: RGB = [128, 128, 128];

/** What a test reads of the page's state and its error box. */
interface Seen {
  state: string;
  saved: string;
  starts: number;
  error: string | null;
  box: { hidden: boolean; text: string; role: string | null; live: string | null; inView: boolean };
  active: string;
  activeInvalid: string | null;
}

async function seen(page: Page): Promise<Seen> {
  return page.evaluate(() => {
    const p = (window as unknown as { resnetPage: { state: string; saved: string; starts: number; error: string | null } }).resnetPage;
    const box = document.getElementById('run-error')!;
    const r = box.getBoundingClientRect();
    const a = document.activeElement as HTMLElement | null;
    return {
      state: p.state,
      saved: p.saved,
      starts: p.starts,
      error: p.error,
      box: { hidden: box.hidden, text: box.textContent ?? '', role: box.getAttribute('role'), live: box.getAttribute('aria-live'), inView: !box.hidden && r.top >= 0 && r.bottom <= window.innerHeight },
      active: a ? a.id || a.getAttribute('name') || a.tagName : '',
      activeInvalid: a?.getAttribute('aria-invalid') ?? null,
    };
  });
}

/** Click Train and wait for the error box to show (or for the start to be sent). */
async function trainExpectingError(page: Page): Promise<Seen> {
  await page.evaluate(() => (document.getElementById('run-error')!.hidden = true));
  await page.click('#train');
  await page.waitForFunction(() => !document.getElementById('run-error')!.hidden || (window as unknown as { resnetPage: { starts: number } }).resnetPage.starts > 0);
  return seen(page);
}

async function setField(page: Page, name: string, value: string): Promise<void> {
  await page.fill(`#config [name="${name}"]`, value);
  await page.dispatchEvent(`#config [name="${name}"]`, 'change');
}

async function noHorizontalOverflow(page: Page): Promise<{ scroll: number; client: number }> {
  return page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
}

if (!existsSync(CHROMIUM) && inCI) {
  describe('page', () => {
    it('Chromium is installed (CI needs it: scripts/setup.sh --test-tools installs it)', () => {
      throw new Error(`${CHROMIUM} is missing`);
    });
  });
}

describe.skipIf(!existsSync(CHROMIUM))('page as a user meets it (headless Chromium, SwiftShader)', () => {
  let server: Server;
  let base: string;
  let context: BrowserContext;
  let profile: string;
  const temp: string[] = [];

  beforeAll(async () => {
    buildIfStale();
    ({ server, url: base } = await serveStatic('dist/web', 0));
    profile = mkdtempSync(join(tmpdir(), 'chromium-page-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 800 } });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    server?.close();
    for (const d of [profile, ...temp]) if (d) rmSync(d, { recursive: true, force: true });
  });

  async function open(): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && console.log(`[page console] ${m.text()}`));
    await page.goto(base + 'index.html');
    await page.waitForSelector('body[data-state="idle"]', { timeout: 30_000 });
    return page;
  }

  async function folder(name: string, files: Record<string, RGB | string>): Promise<string> {
    const root = await writeTree(name, files);
    temp.push(join(root, '..'));
    return root;
  }

  /** Pick `root` through the folder input and wait until the page has checked it. */
  async function pick(page: Page, root: string): Promise<void> {
    await page.evaluate(() => (document.getElementById('folder-info')!.textContent = ''));
    await page.setInputFiles('#folder-input', root);
    await page.waitForFunction(() => /^Folder "[^"]*"(:| cannot)/.test(document.getElementById('folder-info')!.textContent ?? ''), undefined, { timeout: 20_000 });
    await page.waitForTimeout(300); // the saved-run check that follows
  }

  it('without training: accessible names, form errors marked and focused, folder and weights problems at pick time, no decodable split is an error, 420 px', async () => {
    const page = await open();
    // Accessible names.
    expect(await page.getByRole('progressbar', { name: 'Training progress' }).count()).toBe(1);
    expect(await page.getByLabel(/Weights file/).getAttribute('id')).toBe('weights-input');
    expect(await page.locator('#weights-input').getAttribute('accept')).not.toMatch(/tif/);
    expect(await page.locator('#run-error').getAttribute('role')).toBe('alert');

    // A hex number is not a batch size: refused, the field marked and focused, the alert in view. Nothing is sent.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await setField(page, 'batch-size', '0x20');
    let s = await trainExpectingError(page);
    expect(s.box.hidden).toBe(false);
    expect(s.box.text).toMatch(/batch-size needs a decimal number, got '0x20'/);
    expect(s.box.role).toBe('alert');
    expect(s.box.live).toBe('assertive');
    expect(s.box.inView).toBe(true);
    expect(s.active).toBe('batch-size');
    expect(s.activeInvalid).toBe('true');
    expect(s.starts).toBe(0);
    // A value out of range, named in the page's words (no CLI flag).
    await setField(page, 'batch-size', '16');
    await setField(page, 'lr', '0');
    s = await trainExpectingError(page);
    expect(s.box.text).toMatch(/lr must be > 0, got 0/);
    expect(s.box.text).not.toMatch(/--/);
    expect(s.active).toBe('lr');
    expect(await page.locator('#config [name="batch-size"]').getAttribute('aria-invalid')).toBeNull();
    await setField(page, 'lr', '0.001');

    // The fine-tuning fields hold the recipe's values, folded away; a bad crop scale or an unknown layer is refused,
    // named as on the page, and the fold opens on the field.
    expect(await page.locator('#config details:has([name="crop-scale"])').getAttribute('open')).toBeNull();
    await page.click('#config details:has([name="crop-scale"]) summary');
    const value = (name: string) => page.locator(`#config [name="${name}"]`).inputValue();
    expect([await value('augment'), await value('crop-scale'), await value('crop-ratio'), await value('flip'), await value('train-layers'), await value('freeze-bn')]).toEqual(['standard', '0.08,1', '3/4,4/3', 'on', 'all', 'off']);
    await setField(page, 'crop-scale', '0,1');
    s = await trainExpectingError(page);
    expect(s.box.text).toMatch(/crop-scale must be two fractions of the image's area with 0 < min ≤ max ≤ 1, got 0,1/);
    expect(s.active).toBe('crop-scale');
    await setField(page, 'crop-scale', '0.5,1');
    await setField(page, 'train-layers', 'layer4,head');
    await page.click('#config details:has([name="crop-scale"]) summary'); // folded again: the error unfolds it
    s = await trainExpectingError(page);
    expect(s.box.text).toMatch(/train-layers: 'head' is not a layer of a ResNet with parameters/);
    expect(s.active).toBe('train-layers');
    expect(await page.locator('#config details:has([name="crop-scale"])').getAttribute('open')).toBe('');
    expect(s.starts).toBe(0);
    await setField(page, 'train-layers', 'all');
    await setField(page, 'crop-scale', '0.08,1');

    // A .pth that is not one is named as a bad .pth at pick time; the weights input is marked and focused.
    const dir = mkdtempSync(join(tmpdir(), 'page-weights-'));
    temp.push(dir);
    writeFileSync(join(dir, 'resnet18.pth'), '<!doctype html><p>not found</p>');
    await page.setInputFiles('#weights-input', join(dir, 'resnet18.pth'));
    await page.waitForFunction(() => !document.getElementById('run-error')!.hidden && /resnet18\.pth/.test(document.getElementById('run-error')!.textContent ?? ''));
    s = await seen(page);
    expect(s.box.text).toMatch(/resnet18\.pth: not a PyTorch \.pth file/);
    expect(s.box.text).not.toMatch(/safetensors/);
    expect(s.active).toBe('weights-input');
    expect(s.activeInvalid).toBe('true');
    await page.click('#weights-clear');

    // Folder problems show when the folder is picked, not after Train.
    await page.evaluate(() => {
      // An empty folder gives the input no files (Playwright cannot pick one): the change event with an empty list.
      const input = document.getElementById('folder-input') as HTMLInputElement;
      input.files = new DataTransfer().files;
      input.dispatchEvent(new Event('change'));
    });
    await page.waitForFunction(() => !document.getElementById('run-error')!.hidden);
    s = await seen(page);
    expect(s.box.text).toMatch(/holds no files/);
    expect(await page.locator('#train').isDisabled()).toBe(true);

    const oneClass = await folder('one', { 'cats/a.png': DARK, 'cats/b.png': LIGHT });
    await pick(page, oneClass);
    s = await seen(page);
    expect(s.box.text).toMatch(/only one class folder \("cats"\)/);
    expect(s.box.inView).toBe(true);
    expect(await page.locator('#train').isDisabled()).toBe(true);

    const tiff = await folder('scans', { 'a/1.tif': DARK, 'a/2.tif': DARK, 'b/1.tif': LIGHT, 'b/2.tif': LIGHT });
    await pick(page, tiff);
    s = await seen(page);
    expect(s.box.text).toMatch(/no images found in "scans"/);
    expect(s.box.text).toMatch(/4 TIFF files were left out: browsers cannot decode TIFF/);
    expect(s.box.text).not.toMatch(/\.tif,|\.tiff/); // not listed among the formats looked for
    expect(await page.locator('#train').isDisabled()).toBe(true);

    const corrupt = await folder('broken', { 'a/1.png': 'not a png', 'a/2.png': 'nor this', 'b/1.png': 'x', 'b/2.jpg': 'y' });
    await pick(page, corrupt);
    s = await seen(page);
    expect(s.box.text).toMatch(/none of the \d+ train images of "broken" can be decoded by this browser/);
    expect(await page.locator('#train').isDisabled()).toBe(true);

    // 420 px wide: nothing sticks out sideways.
    await page.setViewportSize({ width: 420, height: 800 });
    const o = await noHorizontalOverflow(page);
    expect(o.scroll).toBeLessThanOrEqual(o.client);
    await page.setViewportSize({ width: 1280, height: 800 });

    // A subset that keeps only broken val images: the worker refuses before training (never a "done" run on nothing).
    const subset = await folder('subset', {
      'train/a/1.png': DARK, 'train/a/2.png': DARK, 'train/b/1.png': LIGHT, 'train/b/2.png': LIGHT,
      'val/a/0-broken.png': 'junk', 'val/a/1.png': DARK, 'val/b/0-broken.png': 'junk', 'val/b/1.png': LIGHT,
      'test/a/1.png': DARK, 'test/b/1.png': LIGHT,
    });
    await pick(page, subset);
    expect((await seen(page)).box.hidden).toBe(true);
    await page.selectOption('#config [name="arch"]', 'resnet18');
    await setField(page, 'img-size', '32');
    await setField(page, 'batch-size', '2');
    await setField(page, 'max-epochs', '1');
    await page.fill('#limit', '1');
    await page.click('#train');
    await page.waitForSelector('body[data-state="error"], body[data-state="done"]', { timeout: 60_000 });
    s = await seen(page);
    expect(s.state).toBe('error');
    expect(s.box.text).toMatch(/none of the 2 val images of "subset" can be decoded/);
    expect(s.box.inView).toBe(true);
    expect(s.active).toBe('run-error');
    expect(await page.evaluate(() => (window as unknown as { resnetPage: { summary: unknown; files: Map<string, unknown> } }).resnetPage.files.size)).toBe(0);
    await page.close();
  }, 120_000);

  it('precision: SwiftShader has no shader-f16, so the field stays at f32, disabled, with a note saying why', async () => {
    const page = await open();
    const field = page.locator('#config [name="precision"]');
    const state = await field.evaluate((e) => {
      const s = e as HTMLSelectElement;
      const note = document.getElementById(s.getAttribute('aria-describedby') ?? '');
      return { value: s.value, disabled: s.disabled, options: [...s.options].map((o) => `${o.value}${o.disabled ? ' (disabled)' : ''}`), note: note && !note.hidden ? note.textContent : null };
    });
    const adapter = await page.evaluate(() => (window as unknown as { resnetPage: { adapter: string; f16: boolean } }).resnetPage);
    expect(adapter.f16).toBe(false);
    expect(state).toEqual({ value: 'f32', disabled: true, options: ['f32', 'f16 (disabled)'], note: `f32 only: this adapter (${adapter.adapter}) lacks shader-f16, which f16 needs` });
    // Reset and the data source keep it there.
    await page.click('#reset-config');
    await page.check('#source-folder');
    expect([await field.inputValue(), await field.isDisabled()]).toEqual(['f32', true]);
    await page.close();
  }, 60_000);

  it('optimizer, weight-decay, grad-clip, scheduler and warm-up controls: the recipe by default, adamw brings its weight decay, bad values are named and focused', async () => {
    const page = await open();
    // In a group, closed at first, whose summary shows the choices.
    const group = page.locator('#config details:has([name="optimizer"])');
    expect(await group.getAttribute('open')).toBeNull();
    expect(await group.locator('summary').textContent()).toBe('optimizer and schedule: sgd, step');
    await group.locator('summary').click();
    const field = (name: string) => page.locator(`#config [name="${name}"]`);
    const options = (name: string) => field(name).evaluate((e) => [...(e as HTMLSelectElement).options].map((o) => o.value));
    expect(await options('optimizer')).toEqual(['sgd', 'adam', 'adamw']);
    expect(await options('scheduler')).toEqual(['step', 'cosine', 'onecycle']);
    const values = async () => Object.fromEntries(await Promise.all(['optimizer', 'weight-decay', 'grad-clip', 'scheduler', 'warmup-epochs'].map(async (n) => [n, await field(n).inputValue()])));
    expect(await values()).toEqual({ optimizer: 'sgd', 'weight-decay': '0', 'grad-clip': '0', scheduler: 'step', 'warmup-epochs': '0' });
    // AdamW's default weight decay, until the user sets one.
    await page.selectOption('#config [name="optimizer"]', 'adamw');
    expect(await field('weight-decay').inputValue()).toBe('0.01');
    await page.selectOption('#config [name="optimizer"]', 'sgd');
    expect(await field('weight-decay').inputValue()).toBe('0');
    // The controls reach the config: its checks name the page's fields and focus them (opening the group).
    await page.selectOption('#config [name="scheduler"]', 'onecycle');
    expect(await group.locator('summary').textContent()).toBe('optimizer and schedule: sgd, onecycle');
    await setField(page, 'warmup-epochs', '1');
    await group.locator('summary').click();
    expect(await group.getAttribute('open')).toBeNull();
    let s = await trainExpectingError(page);
    expect(await group.getAttribute('open')).not.toBeNull();
    expect(s.box.inView).toBe(true);
    expect(s.box.text).toMatch(/warmup-epochs must be 0 with scheduler onecycle/);
    expect(s.box.text).not.toMatch(/--/);
    expect(s.active).toBe('warmup-epochs');
    expect(s.starts).toBe(0);
    await setField(page, 'warmup-epochs', '0');
    await setField(page, 'grad-clip', '-1');
    s = await trainExpectingError(page);
    expect(s.box.text).toMatch(/grad-clip must be ≥ 0, got -1/);
    expect(s.active).toBe('grad-clip');
    expect(s.starts).toBe(0);
    await page.click('#reset-config');
    expect(await values()).toEqual({ optimizer: 'sgd', 'weight-decay': '0', 'grad-clip': '0', scheduler: 'step', 'warmup-epochs': '0' });
    await page.close();
  }, 60_000);

  it('a tiny run: one start per double click, a bad weights file named, speed only once measured, Stop, Train asks, data identity, a second tab, Stop in the last validation, results restored after a reload', async () => {
    const t0 = Date.now();
    const files: Record<string, RGB | string> = {
      'train/dark/1.png': DARK, 'train/dark/2.png': [30, 20, 50], 'train/light/1.png': LIGHT, 'train/light/2.png': [210, 230, 220],
      'val/dark/1.png': DARK, 'val/light/1.png': LIGHT,
      // The same grey image in both test classes: whatever the model predicts, exactly one of them is misclassified.
      'test/dark/same.png': GREY, 'test/light/same.png': GREY,
    };
    const f1 = await folder('shapes', files);
    // The same name, other files.
    const f2 = await folder('shapes', { ...files, 'train/dark/3.png': DARK });
    const wdir = mkdtempSync(join(tmpdir(), 'page-weights-'));
    temp.push(wdir);
    writeFileSync(join(wdir, 'other.safetensors'), writeSafetensors(new Map([['foo', { dtype: 'F32', shape: [1], data: new Float32Array([1]) }]])));

    const page = await open();
    await pick(page, f1);
    await page.selectOption('#config [name="arch"]', 'resnet18');
    await setField(page, 'img-size', '32');
    await setField(page, 'batch-size', '2');
    await setField(page, 'max-epochs', '2');

    // Weights for another model; a double click on Train starts one run, which fails naming the weights in the page's words.
    await page.setInputFiles('#weights-input', join(wdir, 'other.safetensors'));
    await page.dblclick('#train');
    await page.waitForSelector('body[data-state="error"]', { timeout: 60_000 });
    let s = await seen(page);
    expect(s.starts).toBe(1);
    expect(s.box.text).toMatch(/other\.safetensors: the weights do not match the model/);
    expect(s.box.text).toMatch(/Check the arch field/);
    expect(s.active).toBe('run-error');
    expect(s.box.inView).toBe(true);
    await page.click('#weights-clear');

    // Record every progress line with its phase, and every state change: the first line of a phase must not claim a speed.
    await page.evaluate(() => {
      const w = window as unknown as { progressLines: string[] };
      w.progressLines = [];
      const el = document.getElementById('progress-text')!;
      new MutationObserver(() => w.progressLines.push(`${el.dataset.phase} | ${el.textContent}`)).observe(el, { childList: true, characterData: true, subtree: true });
      new MutationObserver(() => w.progressLines.push(`state ${document.body.dataset.state}`)).observe(document.body, { attributes: true, attributeFilter: ['data-state'] });
    });
    await page.click('#train');
    await page.waitForSelector('#progress-text:has-text("batch")', { timeout: 60_000 });
    await page.click('#stop');
    await page.waitForSelector('body[data-state="stopped"]', { timeout: 60_000 });
    await page.waitForSelector('#resume:not([disabled])');
    expect(await page.locator('#resume-note').innerText()).toMatch(/Resume continues it with all its saved settings \(.*lr 0\.001.*subset 0\)/);

    // Train after Stop asks before deleting the checkpoint; dismissed, nothing changes.
    let dialog = '';
    page.once('dialog', (d) => {
      dialog = d.message();
      void d.dismiss();
    });
    await page.click('#train');
    await page.waitForFunction(() => /Train cancelled/.test(document.getElementById('run-note')!.textContent ?? ''));
    expect(dialog).toMatch(/deletes the stopped run of "shapes"/);
    s = await seen(page);
    expect(s.starts).toBe(2);
    expect(s.saved).toBe('resumable');

    // Another folder of the same name: its run is not offered, and why is said.
    await pick(page, f2);
    await page.waitForFunction(() => (window as unknown as { resnetPage: { saved: string } }).resnetPage.saved === 'mismatch');
    expect(await page.locator('#resume').isDisabled()).toBe(true);
    expect(await page.locator('#resume-note').innerText()).toMatch(/trained on other files \(8 images in 2 classes \(dark, light\)\) than the chosen folder "shapes" \(9 images/);
    await pick(page, f1);
    await page.waitForFunction(() => (window as unknown as { resnetPage: { saved: string } }).resnetPage.saved === 'resumable');

    // A second tab, opened now, sees the stopped run as resumable (no tab trains it).
    const tab2 = await open();
    await pick(tab2, f1);
    await tab2.waitForFunction(() => (window as unknown as { resnetPage: { saved: string } }).resnetPage.saved === 'resumable');

    // An invalid value Resume does not use does not block it.
    await setField(page, 'lr', 'abc');
    await page.click('#resume');
    await page.waitForFunction(() => /resumed from/.test(document.getElementById('log')!.textContent ?? ''), undefined, { timeout: 60_000 });
    expect((await seen(page)).box.hidden).toBe(true);
    // Press Stop as soon as the last epoch's validation shows: too late to stop, and the page says so.
    await page.evaluate(() => {
      const phase = document.getElementById('phase')!;
      new MutationObserver(() => {
        if (phase.textContent === 'validate 2') (document.getElementById('stop') as HTMLButtonElement).click();
      }).observe(phase, { childList: true, characterData: true, subtree: true });
    });

    // The second tab sees the run's lock: neither Train nor Resume for it while the first tab trains.
    await pick(tab2, f1);
    await tab2.waitForFunction(() => (window as unknown as { resnetPage: { saved: string } }).resnetPage.saved === 'busy', undefined, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { resnetPage: { state: string } }).resnetPage.state)).toMatch(/running|stopping/);
    expect(await tab2.locator('#train').isDisabled()).toBe(true);
    expect(await tab2.locator('#resume').isDisabled()).toBe(true);
    expect(await tab2.locator('#resume-note').innerText()).toMatch(/Another tab of this page is training "shapes" now/);
    await tab2.close();
    const sawLock = Date.now();

    await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: 120_000 });
    console.log(`[page] the second tab's check ended ${((Date.now() - sawLock) / 1000).toFixed(1)} s before the first tab's run did`);
    const r = await page.evaluate(() => {
      const p = (window as unknown as { resnetPage: { state: string; error: string | null; history: unknown[]; summary: { misclassified: unknown[] } | null } }).resnetPage;
      return {
        state: p.state,
        error: p.error,
        epochs: p.history.length,
        misclassified: p.summary?.misclassified.length ?? -1,
        note: document.getElementById('run-note')!.textContent ?? '',
        accuracy: document.getElementById('test-accuracy')!.textContent ?? '',
        captions: [...document.querySelectorAll('#misclassified figcaption')].map((c) => c.textContent ?? ''),
        lines: (window as unknown as { progressLines: string[] }).progressLines,
        text: document.body.innerText,
      };
    });
    expect(r.error).toBeNull();
    expect(r.state).toBe('done');
    expect(r.epochs).toBe(2);
    expect(r.note).toMatch(/Stop came during the last epoch's validation, when there was nothing left to stop: the run finished/);
    // One of the two identical grey test images is misclassified: its caption names the file and the confidence.
    expect(r.misclassified).toBe(1);
    expect(r.captions).toHaveLength(1);
    expect(r.captions[0]).toMatch(/^same\.png(dark → light|light → dark) (5\d|[6-9]\d|100)%$/);
    // Speed: never on the first progress line of a phase (the line before it is another phase's or none).
    // A run (re)starts at "state running"; within it, a phase starts where the phase key changes.
    const firsts: string[] = [];
    let prev: string | null = null;
    for (const l of r.lines) {
      if (l === 'state running') prev = null;
      // The first step's kernels compiling (no speed there): "compiling kernels 12/45" in the same line.
      if (l.startsWith('state ') || l.startsWith('compile ')) continue;
      const key = l.replace(/ \| .*/, '');
      if (key !== prev) firsts.push(l);
      prev = key;
    }
    // epoch 1 (twice when the stop came mid-epoch), validate 1, epoch 2, validate 2, test
    expect(firsts.length).toBeGreaterThanOrEqual(5);
    for (const l of firsts) expect(l).toMatch(/measuring speed…$/);
    expect(r.lines.some((l) => /images\/s · \d+ s left$/.test(l))).toBe(true);
    expect(r.lines.some((l) => /^compile train \| compiling kernels \d+\/\d+$/.test(l))).toBe(true);
    // No CLI wording anywhere on the page (log included).
    expect(r.text).not.toMatch(/--(resume|arch|lr|out)\b/);
    // steps.csv is offered with the other outputs: one row per trained batch, numbered from 1 across the stop and resume.
    const steps = await page.evaluate(async () => (await fetch(document.querySelector<HTMLAnchorElement>('#downloads a[download="steps.csv"]')!.href)).text());
    const stepRows = steps.trim().split('\n');
    expect(stepRows[0]).toBe('step,epoch,loss,lr,images_per_second');
    expect(stepRows.length).toBeGreaterThanOrEqual(3);
    expect(stepRows.slice(1).map((l) => Number(l.split(',')[0]))).toEqual(stepRows.slice(1).map((_, i) => i + 1));
    expect(new Set(stepRows.slice(1).map((l) => l.split(',')[1]))).toEqual(new Set(['1', '2']));

    await page.setViewportSize({ width: 420, height: 800 });
    const o = await noHorizontalOverflow(page);
    expect(o.scroll).toBeLessThanOrEqual(o.client);
    await page.setViewportSize({ width: 1280, height: 800 });

    // After a reload, picking the folder again shows the finished run's results and downloads from browser storage.
    await page.reload();
    await page.waitForSelector('body[data-state="idle"]', { timeout: 30_000 });
    await pick(page, f1);
    await page.waitForSelector('#results:not([hidden])', { timeout: 10_000 });
    expect(await page.locator('#test-accuracy').innerText()).toBe(r.accuracy);
    expect(await page.locator('#misclassified figcaption').allInnerTexts()).toHaveLength(1);
    expect(await page.locator('#downloads a[download="best.safetensors"]').count()).toBe(1);
    expect(await page.locator('#downloads a[download="steps.csv"]').count()).toBe(1);
    expect(await page.locator('#metrics tr').count()).toBe(2);
    expect(await page.locator('#run-note').innerText()).toMatch(/finished run of "shapes" saved in this browser/);
    // Another folder of that name does not get them.
    await pick(page, f2);
    expect(await page.evaluate(() => (window as unknown as { resnetPage: { saved: string } }).resnetPage.saved)).toBe('none');
    expect(await page.locator('#results').isHidden()).toBe(true);
    console.log(`[page] tiny run session took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await page.close();
  }, 300_000);
});
