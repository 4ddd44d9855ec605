#!/usr/bin/env node
/**
 * The dashboard's time to first render with 1,000 members, in Debian's
 * Chromium (headless, driven by playwright-core): from navigation to the
 * moment the member table shows rows and the graph has drawn the layout's
 * first positions (`document.body.dataset.firstRender`, performance.now()
 * since navigation start). Target: under 1 s.
 *
 * The page is served by a stub HTTP server in this process, not by a daemon:
 * it serves the built dist/dashboard with the daemon's headers (the same CSP)
 * and a synthetic `GET /api/v1/meshes/{id}` document of N members shaped
 * exactly like the real one (MeshShowView; clients with home peers, exits,
 * services, statistics with fresh, stale and missing handshakes), so the
 * number measures the page, not the daemon. Also reported: the longest task
 * on the page's main thread in the first 3 s (the graph's layout runs in a
 * worker, so it should stay small), and for a burst of events (every
 * member's handshake changing, then a member leaving, in one write) the time
 * until the table shows the leave and the longest task meanwhile.
 *
 *   npm run build && node bench/dashboard-render.js [--members 1000] [--runs 5]
 */
import {createServer} from 'node:http';
import {readFile} from 'node:fs/promises';
import {mkdtemp} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join, normalize} from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseArgs} from 'node:util';
import {chromium} from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dashboard = join(root, 'dist/dashboard');
const {values} = parseArgs({options: {members: {type: 'string', default: '1000'}, runs: {type: 'string', default: '5'}}});
const members = Math.max(3, Math.min(Number(values.members), 20_000));
const runs = Math.max(1, Math.min(Number(values.runs), 50));
const TOKEN = 'wgmesh_bench-token';
const MESH = 'benchmesh0123456789abcdefghij';
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const hex = (n, width) => n.toString(16).padStart(width, '0');

/** A MeshShowView of `count` members: node 0 is this node, every 4th a client, every 50th an exit. */
function syntheticMesh(count) {
  const now = Date.now();
  const peers = [];
  const nodes = [];
  for (let index = 0; index < count; index++) {
    const id = hex(index + 1, 32);
    const client = index % 4 === 3;
    if (!client) peers.push(id);
    const handshake = index === 0 ? null : index % 10 === 1 ? null : index % 7 === 2 ? now - 400_000 : now - (index % 100) * 1_000;
    nodes.push({
      id,
      wgPublicKey: Buffer.from(id, 'hex').toString('base64').padEnd(43, 'A') + '=',
      address: `fd12:3456:789a:1:0:0:${hex(index >> 16, 1)}:${hex(index & 0xffff, 1)}`,
      role: client ? 'client' : 'peer',
      controlEndpoint: client ? null : `198.51.100.${index % 250}:9000`,
      wgEndpoint: client ? null : `198.51.100.${index % 250}:51820`,
      alias: index % 3 === 0 ? `node-${index}` : null,
      description: index % 5 === 0 ? `rack ${index % 40}, row ${index % 7}` : null,
      services: index % 6 === 0 ? {http: '80', ssh: '22'} : {},
      routes: index % 50 === 5 && !client ? [{destination: '::/0', path: []}] : [],
      self: index === 0,
      stats: index === 0 ? null : {latestHandshakeMs: handshake, rxBytes: index * 12_345, txBytes: index * 6_789},
      receivedAt: now - index * 10,
      unreachable: false,
      aliasOwner: index % 3 === 0 ? id : null,
      aliasConflict: false,
      homePeer: client ? (peers[(index * 7) % peers.length] ?? null) : null,
    });
  }
  return {meshId: MESH, prefix: 'fd12:3456:789a:1::/64', nodes, inbound: {snapshots: 0, syncs: 0, messages: 0}, aliasConflicts: [], admin: 'authority'};
}

const mesh = JSON.stringify(syntheticMesh(members));
const summary = [{meshId: MESH, prefix: 'fd12:3456:789a:1::/64', interface: 'wgbench0', members, admin: 'authority', isolated: false}];
const status = {pid: process.pid, nodeId: hex(1, 32), wgPublicKey: 'x', backends: {store: 'twophase', transport: 'grpc', wg: 'stub'}, meshes: summary};
/** Open event streams (a run's page), for the burst. */
const streams = new Set();
let eventId = 0;

/** Every peer's handshake changing, then the last member leaving: what a busy daemon sends at once. */
function burst() {
  const at = Date.now();
  const lines = [];
  const doc = JSON.parse(mesh);
  for (const node of doc.nodes.slice(1)) lines.push(`id: ${++eventId}\nevent: handshake.changed\ndata: ${JSON.stringify({meshId: MESH, nodeId: node.id, state: 'fresh', latestHandshakeAt: at, at})}\n\n`);
  lines.push(`id: ${++eventId}\nevent: member.left\ndata: ${JSON.stringify({meshId: MESH, nodeId: doc.nodes.at(-1).id, at})}\n\n`);
  const text = lines.join('');
  for (const stream of streams) stream.write(text);
  return lines.length;
}

const TYPES = {'.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8'};

const server = createServer(async (request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const json = (code, body) => {
    response.writeHead(code, {'Content-Type': 'application/json'});
    response.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
  if (url.pathname.startsWith('/api/')) {
    if (request.headers.authorization !== `Bearer ${TOKEN}`) return json(401, {error: {code: 'UNAUTHORIZED', message: 'a valid bearer token is required'}});
    if (url.pathname === '/api/v1/status') return json(200, status);
    if (url.pathname === '/api/v1/meshes') return json(200, summary);
    if (url.pathname === `/api/v1/meshes/${MESH}`) return json(200, mesh);
    if (url.pathname === '/api/v1/events') {
      response.writeHead(200, {'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache'});
      response.write(': keepalive\n\n');
      streams.add(response);
      response.on('close', () => streams.delete(response));
      return;
    }
    return json(404, {error: {code: 'NOT_FOUND', message: 'no such route'}});
  }
  const path = url.pathname === '/' ? 'index.html' : normalize(url.pathname).replace(/^\/+/, '');
  if (!path.startsWith('index.html') && !path.startsWith('assets/')) return json(404, {error: {code: 'NOT_FOUND', message: 'no such file'}});
  try {
    const body = await readFile(join(dashboard, path));
    response.writeHead(200, {'Content-Type': TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream', 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache'});
    response.end(body);
  } catch {
    json(404, {error: {code: 'NOT_FOUND', message: 'no such file (run npm run build)'}});
  }
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--no-sandbox']});
const shots = await mkdtemp(join(tmpdir(), 'wgmesh-dashboard-bench-'));
const results = [];
const problems = [];
try {
  for (let run = 0; run < runs; run++) {
    const context = await browser.newContext({viewport: {width: 1440, height: 900}});
    await context.addInitScript((token) => {
      sessionStorage.setItem('wgmesh.apiToken', token);
      window.__tasks = [];
      new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__tasks.push([entry.startTime, entry.duration]);
      }).observe({type: 'longtask', buffered: true});
    }, TOKEN);
    const page = await context.newPage();
    page.on('console', (message) => message.type() === 'error' && problems.push(message.text()));
    page.on('pageerror', (error) => problems.push(error.message));
    const started = Date.now();
    await page.goto(base);
    await page.waitForSelector('body[data-first-render]', {timeout: 30_000});
    const wall = Date.now() - started;
    const firstRender = Number(await page.getAttribute('body', 'data-first-render'));
    const rows = await page.locator('[data-testid="node-row"]').count();
    const graphNodes = Number(await page.getAttribute('[data-testid="graph"]', 'data-node-count'));
    // The layout runs on for a while in the worker; long tasks on the page's thread meanwhile would be a freeze.
    await page.waitForTimeout(3_000);
    const longest = await page.evaluate(() => Math.max(0, ...window.__tasks.map(([, duration]) => duration)));
    if (run === 0) await page.screenshot({path: join(shots, `render-${members}.png`)});
    await page.waitForSelector('[data-testid="stream-state"][data-state="open"]');
    const burstAt = await page.evaluate(() => performance.now());
    const sent = Date.now();
    const events = burst();
    await page.waitForSelector(`[data-testid="node-table"][data-row-count="${members - 1}"]`, {timeout: 30_000});
    const burstShown = Date.now() - sent;
    await page.waitForTimeout(1_000);
    const burstLongest = await page.evaluate((from) => Math.max(0, ...window.__tasks.filter(([start]) => start >= from).map(([, duration]) => duration)), burstAt);
    results.push({firstRender, wall, rows, graphNodes, longest, events, burstShown, burstLongest});
    await context.close();
  }
} finally {
  await browser.close();
  server.close();
}

const sorted = (key) => results.map((result) => result[key]).sort((a, b) => a - b);
const median = (key) => sorted(key)[Math.floor(results.length / 2)];
console.log(`dashboard first render, ${members} members, ${runs} runs (Chromium ${browser.version()}, stub server)`);
console.log(`  first render since navigation start: median ${median('firstRender')} ms, max ${Math.max(...sorted('firstRender'))} ms (target < 1000 ms)`);
console.log(`  goto() to first render (wall):       median ${median('wall')} ms`);
console.log(`  longest main-thread task, first 3 s: median ${Math.round(median('longest'))} ms, max ${Math.round(Math.max(...sorted('longest')))} ms`);
console.log(`  burst of ${results[0].events} events (every handshake, then a leave): shown after median ${median('burstShown')} ms; longest task in it median ${Math.round(median('burstLongest'))} ms, max ${Math.round(Math.max(...sorted('burstLongest')))} ms`);
console.log(`  rows in the DOM (virtualised): ${results[0].rows}; graph member nodes: ${results[0].graphNodes}`);
console.log(`  screenshot: ${join(shots, `render-${members}.png`)}`);
if (problems.length > 0) console.log(`  console errors:\n    ${[...new Set(problems)].join('\n    ')}`);
