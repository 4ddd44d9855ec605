#!/usr/bin/env node
// `npm run demo`: a short, self-cleaning tour. Starts a daemon with the in-memory
// stub WireGuard driver in a temporary directory, creates a mesh, shows it,
// leaves it and stops the daemon. (Once real WireGuard end-to-end support lands,
// the demo runs three namespace hosts instead when the machine allows it.)
import {execFileSync, spawn} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js');
const dir = mkdtempSync(join(tmpdir(), 'wgmesh-demo-'));
const socket = join(dir, 'wgmesh.sock');
const env = {...process.env, WGMESH_SOCKET: socket, WGMESH_CONFIG: join(dir, 'none.yaml')};

function wgmesh(...args) {
  console.log(`\n$ wgmesh ${args.join(' ')}`);
  const out = execFileSync(process.execPath, [bin, ...args], {env, encoding: 'utf8'});
  process.stdout.write(out);
  return out;
}

console.log('Starting a daemon with the stub WireGuard driver (no privileges needed) in', dir);
const daemon = spawn(process.execPath, [bin, 'daemon', '--wg', 'stub', '--data-dir', join(dir, 'data'), '--socket', socket], {env, stdio: ['ignore', 'ignore', 'pipe']});
let log = '';
const ready = new Promise((resolve, reject) => {
  daemon.stderr.on('data', (chunk) => {
    log += chunk;
    if (log.includes('daemon ready')) resolve();
  });
  daemon.on('exit', (code) => reject(new Error(`daemon exited with ${code}:\n${log}`)));
});
const stopped = new Promise((resolve) => daemon.on('exit', resolve));

try {
  await ready;
  wgmesh('status');
  const meshId = wgmesh('mesh', 'create', '--endpoint', '192.0.2.10').trim();
  wgmesh('mesh', 'list');
  wgmesh('mesh', 'show', meshId);
  wgmesh('mesh', 'leave', meshId);
  wgmesh('backends');
  console.log('\nDemo finished.');
} finally {
  daemon.kill('SIGTERM');
  await stopped;
  rmSync(dir, {recursive: true, force: true});
}
