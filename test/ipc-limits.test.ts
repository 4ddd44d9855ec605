/**
 * The IPC socket under abuse by local clients, with a real daemon and raw
 * socket clients: idle connections cannot lock the CLI out, pipelined
 * requests whose replies are never read do not grow the daemon's memory, and
 * `status` / `mesh list` asked during start-up never show part of the meshes.
 */
import {readFile} from 'node:fs/promises';
import {connect, type Socket} from 'node:net';
import {DaemonNotRunningError, DaemonStartingError, IpcClient, type MeshSummary} from '@wgmesh/core/client';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

/** Resident memory of a process in MB (Linux). */
async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

/** A raw connection to a Unix socket, open once connected. */
function rawConnection(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

/** Resolves when `socket` is closed by the other end. */
function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}

describe('IPC limits', () => {
  let cluster: MeshCluster;
  let node: MeshNode;
  /** Raw connections a test may leave open when it fails. */
  const sockets: Socket[] = [];

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-ipc-');
    [node] = (await cluster.addNodes([{name: 'a', config: {ipcIdleTimeout: '2s', baseConfiguration: {preUp: ['sleep 0.3']}}}])) as [MeshNode];
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await cluster?.close();
    await killAllDaemons();
  });

  it('answers the CLI at once while 64 idle connections are open, and closes idle connections after ipcIdleTimeout', async () => {
    const idle = await Promise.all(Array.from({length: 64}, () => rawConnection(node.socket)));
    try {
      const started = Date.now();
      const status = await node.call('status', {}, 1_500);
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(status.pid).toBe(node.daemon.child.pid);
      const cli = await node.cli(['status']);
      expect(cli.code).toBe(0);
      // Idle ones are closed by the daemon after the idle timeout (2 s here).
      const waiting = Date.now();
      await Promise.all(idle.map(closed));
      expect(Date.now() - waiting).toBeLessThan(6_000);
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });

  it('stops reading a connection whose replies are not read, and its memory stays bounded', async () => {
    const pid = node.daemon.child.pid!;
    const before = await rssMb(pid);
    const attacker = await rawConnection(node.socket);
    sockets.push(attacker);
    let closedByDaemon = false;
    attacker.once('close', () => (closedByDaemon = true));
    attacker.pause(); // never read a reply
    // 200,000 requests in writes of 100 each, so our buffer shrinks as the daemon reads.
    let totalBytes = 0;
    for (let first = 1; first <= 200_000; first += 100) {
      const frames: string[] = [];
      for (let id = first; id < first + 100; id++) frames.push(`{"v":1,"id":${id},"method":"status","params":{}}\n`);
      const chunk = frames.join('');
      totalBytes += chunk.length;
      attacker.write(chunk);
    }
    // Until the daemon stops reading (or has read everything): our outgoing buffer stops shrinking.
    let peak = before;
    let last = -1;
    let stableSince = Date.now();
    await waitFor(
      async () => {
        peak = Math.max(peak, await rssMb(pid));
        const pending = attacker.writableLength;
        if (pending !== last) {
          last = pending;
          stableSince = Date.now();
        }
        return pending === 0 || Date.now() - stableSince > 3_000;
      },
      30_000,
      'the daemon to stop reading the pipelined requests or read them all',
    );
    peak = Math.max(peak, await rssMb(pid));
    console.log(`IPC pipelining: daemon RSS ${before.toFixed(1)} MB before, ${peak.toFixed(1)} MB peak; ${attacker.writableLength} request bytes left unread`);
    expect(closedByDaemon).toBe(false);
    // The daemon read a bounded part (its unread-reply bound and the kernel's buffers), not the requests.
    expect(attacker.writableLength).toBeGreaterThan(0.9 * totalBytes);
    expect(peak - before).toBeLessThan(40);
    // Other clients are still served at once.
    const started = Date.now();
    await node.call('status', {}, 2_000);
    expect(Date.now() - started).toBeLessThan(2_000);
    attacker.destroy();
  });

  it('never shows part of the meshes during start-up', async () => {
    const created: string[] = [];
    for (let i = 0; i < 4; i++) created.push((await node.call('mesh.create', {})).meshId);
    const all = [...created].sort();
    await node.kill('SIGTERM');
    let ready = false;
    const restart = node.start().then(() => {
      ready = true;
    });
    let answered = 0;
    const client = (): IpcClient => new IpcClient(node.socket, {timeoutMs: 10_000});
    const poll = async (): Promise<void> => {
      while (!ready || answered === 0) {
        const ipc = client();
        try {
          const [status, list] = await Promise.all([ipc.call('status', {}), ipc.call('mesh.list', {})]);
          answered++;
          expect(status.meshes.map((m: MeshSummary) => m.meshId)).toEqual(all);
          expect(list.map((m: MeshSummary) => m.meshId)).toEqual(all);
        } catch (error) {
          // Not listening yet, or told to wait: both fine. Anything else fails the test.
          if (!(error instanceof DaemonNotRunningError) && !(error instanceof DaemonStartingError)) throw error;
        } finally {
          ipc.close();
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await Promise.all([restart, poll()]);
    expect(answered).toBeGreaterThan(0);
  });
});
