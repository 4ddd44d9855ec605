/**
 * Automerge (and its WebAssembly) is loaded only when a daemon selects this
 * store: listing backends, `wgmesh --help` and the plugin's own entry points
 * must not load it. Each case runs a fresh Node process that records every
 * module it resolves.
 */
import {execFile} from 'node:child_process';
import {mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {promisify} from 'node:util';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..', '..', '..');
const TRACER = resolve(import.meta.dirname, 'fixtures', 'trace-imports.mjs');

describe('automerge store: lazy loading', () => {
  let dir = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-lazy-'));
  });

  afterAll(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  /** Run `node ARGS` from the repository root with the import tracer; returns the URLs it resolved. */
  async function traced(name: string, args: string[]): Promise<{urls: string[]; stdout: string}> {
    const file = join(dir, `${name}.txt`);
    const env = {PATH: process.env.PATH, HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), XDG_STATE_HOME: join(dir, 'state'), TRACE_IMPORTS_FILE: file};
    const {stdout} = await run(process.execPath, ['--import', TRACER, ...args], {cwd: ROOT, env, timeout: 60_000});
    const urls = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    return {urls, stdout};
  }

  const automergeUrls = (urls: string[]) => urls.filter((url) => url.includes('/@automerge/'));

  it('the plugin entry points and its hook do not load Automerge; creating the backend does', async () => {
    const script = `
      const plugin = await import('@wgmesh/store-automerge');
      const hook = (await import('./plugins/store-automerge/dist/hooks/backends.js')).default;
      const [factory] = await hook();
      console.log(JSON.stringify({name: factory.name, same: factory === plugin.automergeStoreFactory}));
      if (process.argv.includes('--create')) {
        const backend = await factory.create({config: {}, daemonConfig: {}, logger: {debug() {}, info() {}, warn() {}, error() {}, child() { return this; }}});
        console.log(JSON.stringify({kind: backend.kind}));
      }
    `;
    const listed = await traced('hook', ['--input-type=module', '-e', script]);
    expect(listed.stdout).toContain('"name":"automerge"');
    expect(listed.urls.some((url) => url.includes('/store-automerge/'))).toBe(true);
    expect(automergeUrls(listed.urls)).toEqual([]);

    const created = await traced('create', ['--input-type=module', '-e', script, '--', '--create']);
    expect(created.stdout).toContain('"kind":"automerge"');
    expect(automergeUrls(created.urls).length).toBeGreaterThan(0);
  });

  it('`wgmesh --help` and `wgmesh backends` do not load Automerge', async () => {
    for (const args of [['--help'], ['backends', '--json']]) {
      const {urls, stdout} = await traced(args[0]!.replace(/-/g, ''), [join(ROOT, 'bin', 'run.js'), ...args]);
      const started = ['/bin/run.js', '/dist/cli/oclif.js'].filter((entry) => urls.some((url) => url.endsWith(entry)));
      expect(started, 'the tracer saw the CLI start').toEqual(['/bin/run.js', '/dist/cli/oclif.js']);
      expect(stdout.length, `wgmesh ${args.join(' ')} printed its answer`).toBeGreaterThan(0);
      expect(automergeUrls(urls)).toEqual([]);
      if (args[0] === 'backends') expect(JSON.parse(stdout)).toEqual(expect.arrayContaining([expect.objectContaining({kind: 'store', name: 'automerge'})]));
    }
  });
});
