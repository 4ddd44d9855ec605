/**
 * The CLI's socket-path resolution (`@wgmesh/core/client`) answers without
 * the config schema when it can, and must then give exactly what the full
 * resolver of config/load.ts gives: the same path, or the same error.
 */
import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {resolveSocketPath as clientResolve} from '../src/client.js';
import {resolveSocketPath as fullResolve, type ResolveSocketOptions} from '../src/config/load.js';
import {socketPathWithoutConfig} from '../src/config/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'wgmesh-socket-path-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

/** A fake home: with a config file (whose text is given) or without one. */
function home(name: string, configText?: string): string {
  const path = join(dir, name);
  mkdirSync(join(path, '.config', 'wgmesh'), {recursive: true});
  if (configText !== undefined) writeFileSync(join(path, '.config', 'wgmesh', 'config.yaml'), configText);
  return path;
}

/** What a resolver does with `options`: the path, or the error message. */
async function outcome(resolve: (o: ResolveSocketOptions) => Promise<string>, options: ResolveSocketOptions): Promise<string> {
  try {
    return `path ${await resolve(options)}`;
  } catch (error) {
    return `error ${(error as Error).message}`;
  }
}

describe('socket path for the CLI', () => {
  const bare = home('bare');
  const withSocket = home('with-socket', 'socket: run/wgmesh.sock\n');
  const withDataDir = home('with-data-dir', 'dataDir: /srv/wgmesh\n');
  const broken = home('broken', 'socket: [not, a, path]\n');
  const logOnly = home('log-only', 'logLevel: debug\n');
  const cwd = dir;
  const cases: [string, ResolveSocketOptions][] = [
    ['no flag, no env, no config file', {home: bare, env: {}, isRoot: false, cwd}],
    ['XDG_STATE_HOME, no config file', {home: bare, env: {XDG_STATE_HOME: '/state'}, isRoot: false, cwd}],
    ['root, no config file', {home: bare, env: {WGMESH_CONFIG: join(bare, 'absent.yaml')}, isRoot: true, cwd}],
    ['XDG_RUNTIME_DIR, no config file', {home: bare, env: {XDG_RUNTIME_DIR: '/run/user/1000'}, isRoot: false, cwd}],
    ['XDG_RUNTIME_DIR, a config file without socket or dataDir', {home: logOnly, env: {XDG_RUNTIME_DIR: '/run/user/1000'}, isRoot: false, cwd}],
    ['relative --socket', {socket: 'a.sock', home: bare, env: {}, isRoot: false, cwd}],
    ['absolute --socket beats WGMESH_SOCKET', {socket: '/tmp/x.sock', home: bare, env: {WGMESH_SOCKET: '/tmp/y.sock'}, isRoot: false, cwd}],
    ['WGMESH_SOCKET', {home: withSocket, env: {WGMESH_SOCKET: 'rel/y.sock'}, isRoot: false, cwd}],
    ['empty WGMESH_SOCKET is ignored', {home: withSocket, env: {WGMESH_SOCKET: ''}, isRoot: false, cwd}],
    ['empty --socket', {socket: '', home: bare, env: {}, isRoot: false, cwd}],
    ['--socket over the length limit', {socket: `/${'s'.repeat(120)}.sock`, home: bare, env: {}, isRoot: false, cwd}],
    ['config file with socket', {home: withSocket, env: {}, isRoot: false, cwd}],
    ['config file with dataDir', {home: withDataDir, env: {}, isRoot: false, cwd}],
    ['config file with an invalid socket', {home: broken, env: {}, isRoot: false, cwd}],
    ['--config that does not exist', {file: join(dir, 'missing.yaml'), home: bare, env: {}, isRoot: false, cwd}],
    ['--config that exists', {file: join(withSocket, '.config', 'wgmesh', 'config.yaml'), home: bare, env: {}, isRoot: false, cwd}],
  ];

  it.each(cases)('%s: same answer as the full resolver', async (_name, options) => {
    const expected = await outcome(fullResolve, options);
    expect(await outcome(clientResolve, options)).toBe(expected);
  });

  it('answers without reading a config file only when there is none to read', () => {
    expect(socketPathWithoutConfig({home: bare, env: {}, isRoot: false, cwd})).toBe(join(bare, '.local', 'state', 'wgmesh', 'wgmesh.sock'));
    expect(socketPathWithoutConfig({home: bare, env: {XDG_RUNTIME_DIR: '/run/user/1000'}, isRoot: false, cwd})).toBe('/run/user/1000/wgmesh/wgmesh.sock');
    expect(socketPathWithoutConfig({home: bare, env: {WGMESH_CONFIG: join(bare, 'absent.yaml'), XDG_RUNTIME_DIR: '/run/user/0'}, isRoot: true, cwd})).toBe('/run/wgmesh/wgmesh.sock');
    expect(socketPathWithoutConfig({home: withSocket, env: {}, isRoot: false, cwd})).toBeUndefined();
    expect(socketPathWithoutConfig({file: join(dir, 'missing.yaml'), home: bare, env: {}, isRoot: false, cwd})).toBeUndefined();
    expect(socketPathWithoutConfig({socket: 'b.sock', home: withSocket, env: {}, isRoot: false, cwd})).toBe(join(cwd, 'b.sock'));
  });
});
