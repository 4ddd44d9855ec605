/**
 * The dashboard in real headless Chromium (Debian's /usr/bin/chromium driven
 * by playwright-core; no browser download) against a mesh of three real
 * daemons, the first with its HTTP API on: a wrong token is refused and shows
 * nothing; signing in shows the mesh in the table and the graph; a fourth
 * node joining and then leaving appears and disappears without a reload; a
 * second mesh reaches the picker and the graph draws its bridges;
 * editing this node's alias shows in the table and in the API (and an invalid
 * one shows the API's error); setting and removing a service; rotating the token signs the page out; the
 * page logs no console error and no CSP violation. Screenshots go to the test's temp dir (paths printed).
 */
import {existsSync} from 'node:fs';
import {mkdtemp} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {MeshShowView} from '@wgmesh/core/client';
import {chromium, type Browser, type Page} from 'playwright-core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {freePorts, MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

const CHROMIUM = '/usr/bin/chromium';
/** How long the page may take to show a change that reached the daemon (stream + debounced re-fetch + a frame). */
const PAGE_MS = 10_000;

if (!existsSync(CHROMIUM)) console.log(`dashboard-browser: skipped, ${CHROMIUM} is not installed (Debian package chromium)`);

describe.skipIf(!existsSync(CHROMIUM))('the dashboard in headless Chromium against three daemons', () => {
  let cluster: MeshCluster | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let a: MeshNode;
  let meshId = '';
  let token = '';
  let base = '';
  let shots = '';
  /** Console errors and CSP violations; a 400/401 answer is expected only while `expectStatus` is set. */
  const problems: string[] = [];
  let expectStatus: number | undefined;

  const rows = (): Promise<number> => page.locator('[data-testid="node-row"]').count();
  const graphAttribute = (name: string): Promise<string | null> => page.getAttribute('[data-testid="graph"]', name);
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(new URL(path, base), {headers: {Authorization: `Bearer ${token}`}});
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  };
  const shoot = async (name: string, fullPage = false): Promise<string> => {
    const path = join(shots, `${name}.png`);
    await page.screenshot({path, fullPage});
    console.log(`dashboard screenshot: ${path}`);
    return path;
  };
  /** Wait until the table shows `count` rows and the graph `count` members. */
  const showsMembers = (count: number, what: string): Promise<void> =>
    waitFor(async () => (await rows()) === count && (await graphAttribute('data-node-count')) === String(count), PAGE_MS, `${what}: ${count} rows and graph nodes`);

  beforeAll(async () => {
    shots = await mkdtemp(join(tmpdir(), 'wgmesh-dashboard-shots-'));
    cluster = await MeshCluster.create('wgmesh-dashboard-');
    const [apiPort] = await freePorts(1);
    base = `http://127.0.0.1:${apiPort}/`;
    [a] = await cluster.addNodes([{name: 'a', config: {apiEnabled: true, apiListen: `127.0.0.1:${apiPort}`}}, {name: 'b'}, {name: 'c'}]) as [MeshNode];
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
    await Promise.all([cluster.node('b').join(meshId, a, a), cluster.node('c').join(meshId, a, a)]);
    await waitFor(async () => (await a.view(meshId)).length === 3, 15_000, 'a to see 3 members');
    await Promise.all([cluster.node('b').call('node.set', {alias: 'berlin'}), cluster.node('c').call('node.set', {alias: 'paris', description: 'edge router'})]);
    ({token} = await a.cliJson<{token: string}>(['api', 'token']));
    browser = await chromium.launch({executablePath: CHROMIUM});
    const context = await browser.newContext({viewport: {width: 1440, height: 900}});
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (event) => console.error(`CSP violation: ${event.violatedDirective} ${event.blockedURI}`));
    });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      if (expectStatus !== undefined && text.includes(`status of ${expectStatus}`)) return;
      problems.push(text);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.close();
    await killAllDaemons();
  });

  it('refuses a wrong token with a clear message and shows no data', async () => {
    await page.goto(base);
    await page.fill('[data-testid="token-input"]', 'wgmesh_not-the-token');
    expectStatus = 401;
    await page.click('[data-testid="signin-submit"]');
    await page.waitForSelector('[data-testid="signin-error"]:visible', {timeout: PAGE_MS});
    expectStatus = undefined;
    expect(await page.textContent('[data-testid="signin-error"]')).toMatch(/refused this token.*wgmesh api token/);
    expect(await page.isVisible('#app')).toBe(false);
    expect(await rows()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
  });

  it('signs in and shows the three members in the table and the graph', async () => {
    await page.fill('[data-testid="token-input"]', token);
    await page.click('[data-testid="signin-submit"]');
    await showsMembers(3, 'after sign-in');
    await page.waitForSelector('[data-testid="graph"][data-drawn="true"]', {timeout: PAGE_MS});
    await page.waitForSelector('[data-testid="stream-state"][data-state="open"]', {timeout: PAGE_MS});
    expect(await page.inputValue('[data-testid="mesh-picker"]')).toBe(meshId);
    const ids = await page.locator('[data-testid="node-row"]').evaluateAll((elements) => elements.map((row) => (row as HTMLElement).dataset.nodeId).sort());
    expect(ids).toEqual((await a.view(meshId)).sort());
    expect(await graphAttribute('data-mesh-count')).toBe('1');
    expect(await page.evaluate(() => sessionStorage.getItem('wgmesh.apiToken'))).toBe(token);
    // A marker that a reload would wipe.
    await page.evaluate(() => Object.assign(window, {__sameDocument: true}));
    // The keyboard: arrows move between rows, Enter opens the node's details.
    await page.focus('[data-testid="node-row"][data-index="0"]');
    await page.keyboard.press('ArrowDown');
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.index)).toBe('1');
    await page.keyboard.press('Enter');
    const picked = await page.evaluate(() => (document.activeElement as HTMLElement).dataset.nodeId);
    await page.waitForSelector(`[data-testid="detail"][data-node-id="${picked}"]:visible`, {timeout: PAGE_MS});
    await shoot('signed-in');
  });

  it('shows a fourth node joining and leaving without a reload', async () => {
    const [d] = await cluster!.addNodes([{name: 'd'}]);
    await d!.join(meshId, a, a, ['--role', 'client']);
    await Promise.all([cluster!.node('b').call('service.set', {key: 'http', value: '8080'}), d!.call('node.set', {alias: 'laptop'})]);
    await showsMembers(4, 'after d joined');
    // d is a client: an edge to its home peer.
    await waitFor(async () => (await graphAttribute('data-home-edges')) === '1', PAGE_MS, 'the graph to draw the client-to-home-peer edge');
    await waitFor(async () => (await page.locator('[data-testid="node-row"] >> text=http=8080').count()) === 1, PAGE_MS, "the table to show b's service");
    await shoot('joined', true);
    const left = await d!.cli(['mesh', 'leave', meshId]);
    expect(left.code, left.stderr).toBe(0);
    await showsMembers(3, 'after d left');
    expect(await page.evaluate(() => (window as unknown as {__sameDocument?: boolean}).__sameDocument)).toBe(true);
  });

  it('adds a second mesh to the picker and draws the bridge of the nodes in both', async () => {
    const {meshId: second} = await a.cliJson<{meshId: string}>(['mesh', 'create']);
    await cluster!.node('b').join(second, a, a);
    // a and b are in both meshes: one bridge each.
    await waitFor(async () => (await graphAttribute('data-mesh-count')) === '2' && (await graphAttribute('data-bridge-edges')) === '2', PAGE_MS, 'the graph to show both meshes and two bridges');
    await page.selectOption('[data-testid="mesh-picker"]', second);
    await waitFor(async () => (await rows()) === 2, PAGE_MS, 'the table to show the second mesh');
    await page.selectOption('[data-testid="mesh-picker"]', meshId);
    await waitFor(async () => (await rows()) === 3, PAGE_MS, 'the table to show the first mesh again');
  });

  it("edits this node's alias (the table and the API show it) and shows the API's error for an invalid one", async () => {
    // The daemon's answer to the save is held back until the user has typed again (the record's
    // event reaches the page first, as it can): what was typed later must stay in the field.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/api/v1/node', async (route) => {
      const response = await route.fetch();
      await held;
      await route.fulfill({response});
    });
    await page.fill('[data-testid="alias-input"]', 'dash-home');
    await page.click('[data-testid="node-save"]');
    await waitFor(async () => (await page.textContent('[data-testid="node-row"][data-self="true"] [data-col="alias"]')) === 'dash-home', PAGE_MS, 'the table to show the new alias');
    const view = await api<MeshShowView>(`api/v1/meshes/${meshId}`);
    expect(view.nodes.find((node) => node.self)?.alias).toBe('dash-home');
    await page.fill('[data-testid="alias-input"]', 'not an alias!');
    // The save's answer, then the mesh fetched again after it (a render that fills the forms).
    const refetched = page.waitForResponse((response) => response.url().endsWith(`/api/v1/meshes/${meshId}`));
    release();
    await page.waitForSelector('[data-testid="forms-message"]:text-is("Saved.")', {timeout: PAGE_MS});
    await refetched;
    await page.unroute('**/api/v1/node');
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(resolve)));
    expect(await page.inputValue('[data-testid="alias-input"]')).toBe('not an alias!');

    expectStatus = 400;
    await page.click('[data-testid="node-save"]');
    await page.waitForSelector('[data-testid="forms-message"][data-state="error"]', {timeout: PAGE_MS});
    expectStatus = undefined;
    expect(await page.textContent('[data-testid="forms-message"]')).toMatch(/DNS label.*INVALID_INPUT/);
    // What the user typed stays in the field after the refusal.
    expect(await page.inputValue('[data-testid="alias-input"]')).toBe('not an alias!');
    await page.locator('[data-testid="forms-message"]').scrollIntoViewIfNeeded();
    await shoot('alias-error');
  });

  it("sets and removes a service of this node", async () => {
    const selfServices = (): Promise<string | null> => page.textContent('[data-testid="node-row"][data-self="true"] [data-col="services"]');
    await page.fill('[data-testid="service-key"]', 'dns');
    await page.fill('[data-testid="service-value"]', '53');
    await page.click('[data-testid="service-save"]');
    await waitFor(async () => (await selfServices()) === 'dns=53', PAGE_MS, 'the table to show the new service');
    expect((await api<MeshShowView>(`api/v1/meshes/${meshId}`)).nodes.find((node) => node.self)?.services).toEqual({dns: '53'});
    await page.click('[data-testid="service-list"] button[data-key="dns"]');
    await waitFor(async () => (await selfServices()) === '', PAGE_MS, 'the table to drop the service');
    expect((await api<MeshShowView>(`api/v1/meshes/${meshId}`)).nodes.find((node) => node.self)?.services).toEqual({});
  });

  it('signs out and drops the data when the token is rotated', async () => {
    expectStatus = 401;
    const rotated = await a.cliJson<{rotated: boolean}>(['api', 'token', '--rotate']);
    expect(rotated.rotated).toBe(true);
    await page.waitForSelector('[data-testid="signin-error"]:visible', {timeout: PAGE_MS});
    expectStatus = undefined;
    expect(await page.isVisible('#app')).toBe(false);
    expect(await rows()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('wgmesh.apiToken'))).toBeNull();
  });

  it('logged no console error and no CSP violation', () => {
    expect(problems).toEqual([]);
  });
});
