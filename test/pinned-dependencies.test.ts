/**
 * Dependencies that wgmesh reads through internal file paths (files under a
 * package's `dist/` that its exports do not promise) are pinned to an exact
 * version, and the installed copy must be that version: an upgrade may move
 * or change those files, so it is a deliberate step with checks, never a
 * side effect of `npm install`. Each entry says which files are read and what
 * to check before the pin moves.
 */
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {mkdtemp, mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {dirname, join, relative, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterEach, describe, expect, it} from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A dependency read through internal file paths. */
interface PinnedDependency {
  /** The package that depends on it (a directory with a package.json, relative to the repository). */
  consumer: string;
  /** The dependency's package name. */
  name: string;
  /** Which internal files are read, and where. */
  reads: string;
  /** What to check before moving the pin to another version. */
  check: string;
}

const PINNED: readonly PinnedDependency[] = [
  {
    consumer: 'plugins/store-automerge',
    name: '@automerge/automerge',
    reads: 'dist/mjs/entrypoints/fullfat_node.js and dist/mjs/low_level.js, imported by path in plugins/store-automerge/src/automerge-api.ts',
    check:
      'that both files still exist, that low_level.js still exports ApiHandler with create, load, initSyncState, decodeSyncMessage and decodeChange, and that the DocHandle methods listed in automerge-api.ts behave the same; then run the plugins/store-automerge tests',
  },
  {
    consumer: '.',
    name: 'ajv',
    reads: 'dist/2020.js, imported in test/api.test.ts',
    check: 'that ajv/dist/2020.js still exports Ajv2020; then run test/api.test.ts',
  },
];

/** An exact version: no range, tag or URL. */
const EXACT_VERSION = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/** The directory of package `name` as `consumerDir` resolves it (its package.json need not be exported). */
async function installedDir(consumerDir: string, name: string): Promise<string> {
  let dir = dirname(createRequire(join(consumerDir, 'package.json')).resolve(name));
  for (;;) {
    const manifest = await readJson(join(dir, 'package.json')).catch(() => undefined);
    if (manifest?.name === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package.json of ${name} above ${consumerDir}`);
    dir = parent;
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

/** What is wrong with the pin of `pin` under repository root `root`, in words that say what to do; undefined when it holds. */
async function pinProblem(root: string, pin: PinnedDependency): Promise<string | undefined> {
  const consumerDir = join(root, pin.consumer);
  const manifestPath = relative(root, join(consumerDir, 'package.json')) || 'package.json';
  const manifest = await readJson(join(consumerDir, 'package.json'));
  const spec = [manifest.dependencies, manifest.devDependencies].map((deps) => (deps as Record<string, string> | undefined)?.[pin.name]).find((value) => value !== undefined);
  const why = `wgmesh reads ${pin.name} through internal file paths (${pin.reads})`;
  if (spec === undefined) return `${manifestPath} does not list ${pin.name}, but ${why}: add it with an exact version`;
  if (!EXACT_VERSION.test(spec)) return `${manifestPath} asks for ${pin.name} "${spec}", but ${why}: pin it to one exact version (check ${pin.check})`;
  const installed = (await readJson(join(await installedDir(consumerDir, pin.name), 'package.json'))).version;
  if (installed === spec) return undefined;
  return (
    `${pin.name} ${String(installed)} is installed, but ${manifestPath} pins ${spec}, and ${why}. ` +
    `Before moving the pin, check ${pin.check}. Then set the exact version in ${manifestPath} and run npm install so that package-lock.json agrees (npm ci).`
  );
}

describe('dependencies read through internal file paths', () => {
  const dirs: string[] = [];
  afterEach(async () => {
    for (const dir of dirs.splice(0)) await rm(dir, {recursive: true, force: true});
  });

  for (const pin of PINNED) {
    it(`${pin.name} is pinned to an exact version in ${pin.consumer}/package.json and installed at that version`, async () => {
      expect(await pinProblem(ROOT, pin)).toBeUndefined();
    });
  }

  it('says which package moved, to what, and what to check, when the installed version is not the pinned one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'wgmesh-pins-'));
    dirs.push(root);
    const pin: PinnedDependency = {consumer: 'consumer', name: '@example/deep', reads: 'dist/inner.js', check: 'that dist/inner.js still exists'};
    await mkdir(join(root, 'consumer', 'node_modules', '@example', 'deep', 'dist'), {recursive: true});
    await writeFile(join(root, 'consumer', 'node_modules', '@example', 'deep', 'package.json'), JSON.stringify({name: '@example/deep', version: '2.1.0', main: 'dist/index.js'}));
    await writeFile(join(root, 'consumer', 'node_modules', '@example', 'deep', 'dist', 'index.js'), 'module.exports = {};\n');
    const writeConsumer = (spec: string): Promise<void> => writeFile(join(root, 'consumer', 'package.json'), JSON.stringify({name: 'consumer', dependencies: {'@example/deep': spec}}));

    await writeConsumer('2.0.0');
    expect(await pinProblem(root, pin)).toBe(
      '@example/deep 2.1.0 is installed, but consumer/package.json pins 2.0.0, and wgmesh reads @example/deep through internal file paths (dist/inner.js). ' +
        'Before moving the pin, check that dist/inner.js still exists. Then set the exact version in consumer/package.json and run npm install so that package-lock.json agrees (npm ci).',
    );
    await writeConsumer('^2.0.0');
    expect(await pinProblem(root, pin)).toContain('consumer/package.json asks for @example/deep "^2.0.0", but wgmesh reads @example/deep through internal file paths (dist/inner.js): pin it to one exact version');
    await writeConsumer('2.1.0');
    expect(await pinProblem(root, pin)).toBeUndefined();
  });

  it('lists every import of a third-party package by a path under dist/, lib/ or build/', () => {
    // Specifiers like 'pkg/dist/x.js' or '@scope/pkg/lib/y' in the sources, tests and scripts (not in built output).
    const deepImport = /(?:from|import\(|require\()\s*['"]((?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*)\/(?:dist|lib|build)\//g;
    const files = execFileSync('git', ['ls-files', '--', 'src', 'plugins', 'test', 'bin', 'scripts', 'bench'], {cwd: ROOT, encoding: 'utf8'})
      .split('\n')
      .filter((file) => /\.(?:[cm]?js|ts)$/.test(file) && !file.split('/').includes('dist') && !file.split('/').includes('fixtures'));
    const listed = new Set(PINNED.map((pin) => pin.name));
    const unlisted: string[] = [];
    for (const file of files) {
      for (const match of readFileSync(join(ROOT, file), 'utf8').matchAll(deepImport)) {
        const name = match[1]!;
        if (!name.startsWith('@wgmesh/') && !listed.has(name)) unlisted.push(`${name} (${file})`);
      }
    }
    expect(unlisted, 'a package imported by an internal path and not listed in PINNED: pin it to an exact version and list it there').toEqual([]);
  });
});
