/**
 * Real daemons (stub WireGuard, real gRPC with mutual TLS) whose wall clocks
 * disagree, shifted with libfaketime: one runs an hour ahead of the test, one
 * an hour behind. What an operator gets:
 * - with `maxClockSkew: 2h` in every config, the skewed nodes join, their
 *   changes reach everyone, and a killed node leaves the others' views within
 *   the usual failure-detection bound;
 * - with the default (5m), a node whose clock is an hour off is refused when it
 *   joins, with an error that names the clock (its entries, or the members'
 *   as it sees them, are "dated ... in the future"), nothing of that mesh is
 *   left on it, and the members it tried to join go on as before.
 *
 * The CA and certificates are made with the clock two hours back, as if issued
 * a while ago: a certificate made a moment ago is not yet valid on a host an
 * hour behind, and that daemon refuses to start (it says to check the clock).
 */
import type {MeshView} from '@wgmesh/core/client';
import {skipWithout} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, makeSandbox, waitFor, type Sandbox} from './helpers/cli.js';
import {faketimeAvailable, faketimeEnv} from './helpers/faketime.js';
import {freePorts, makePki, MeshNode, writeNodeFiles, type TestPki} from './helpers/mesh-cluster.js';

const SKIP = skipWithout('the clock-skew tests', faketimeAvailable());

/** The config defaults the daemons run with. */
const SYNC_INTERVAL_MS = 1_000;
const HEARTBEAT_INTERVAL_MS = 2_000;
/**
 * How long the invites are valid: a day, as `wgmesh mesh invite` gives by
 * default, so that a node an hour ahead does not find an invite issued on time
 * already expired.
 */
const DAY_MS = 24 * 3_600_000;
/** Failure-detection bound: 3 x heartbeatInterval + 2 s. */
const DETECTION_BOUND_MS = 3 * HEARTBEAT_INTERVAL_MS + 2_000;

/** One daemon to start: its name, its clock offset (libfaketime syntax, none: the real clock) and its maxClockSkew (none: the default). */
interface SkewedSpec {
  name: string;
  offset?: string;
  maxClockSkew?: string;
}

/** A sandbox and a CA made with the clock two hours back. */
async function makeSkewLab(prefix: string): Promise<{sandbox: Sandbox; pki: TestPki}> {
  const sandbox = await makeSandbox(prefix);
  try {
    return {sandbox, pki: await makePki({...sandbox, env: {...sandbox.env, ...faketimeEnv('-2h')}})};
  } catch (error) {
    await sandbox.cleanup();
    throw error;
  }
}

/** Start one daemon per spec (in parallel), each with its clock shifted; its CLI runs on the same shifted clock. */
async function startSkewed(sandbox: Sandbox, pki: TestPki, specs: readonly SkewedSpec[]): Promise<MeshNode[]> {
  const ports = await freePorts(specs.length);
  const nodes = await Promise.all(
    specs.map(async (spec, index) => {
      const shifted = spec.offset === undefined ? sandbox : {...sandbox, env: {...sandbox.env, ...faketimeEnv(spec.offset)}};
      const config = spec.maxClockSkew === undefined ? {} : {maxClockSkew: spec.maxClockSkew};
      return new MeshNode(await writeNodeFiles(shifted, pki, {name: spec.name, config}, {port: ports[index]!}));
    }),
  );
  await Promise.all(nodes.map((node) => node.start()));
  return nodes;
}

/** The node id of each node, from `status`. */
async function nodeIds(nodes: readonly MeshNode[]): Promise<Map<MeshNode, string>> {
  return new Map(await Promise.all(nodes.map(async (node) => [node, (await node.call('status', {})).nodeId] as const)));
}

describe.skipIf(SKIP)('three daemons an hour apart (libfaketime), maxClockSkew 2h', () => {
  let lab: {sandbox: Sandbox; pki: TestPki} | undefined;
  let now: MeshNode, ahead: MeshNode, behind: MeshNode;
  let ids = new Map<MeshNode, string>();
  let meshId = '';
  /** Real time before the daemons were started, and after all were ready. */
  let startedAt = 0;
  let startedBy = 0;

  /** True when every observer sees exactly `members` alive in the mesh. */
  async function viewsAre(observers: readonly MeshNode[], members: readonly MeshNode[]): Promise<boolean> {
    const want = members.map((member) => ids.get(member)!).sort().join(',');
    const views = await Promise.all(observers.map((node) => node.view(meshId)));
    return views.every((view) => view.join(',') === want);
  }

  beforeAll(async () => {
    lab = await makeSkewLab('wgmesh-skew-wide-');
    startedAt = Date.now();
    [now, ahead, behind] = (await startSkewed(lab.sandbox, lab.pki, [
      {name: 'now', maxClockSkew: '2h'},
      {name: 'ahead', offset: '+1h', maxClockSkew: '2h'},
      {name: 'behind', offset: '-1h', maxClockSkew: '2h'},
    ])) as [MeshNode, MeshNode, MeshNode];
    startedBy = Date.now();
    ids = await nodeIds([now, ahead, behind]);
  });

  afterAll(async () => {
    await Promise.allSettled([now, ahead, behind].filter(Boolean).map((node) => node.kill('SIGKILL')));
    await lab?.sandbox.cleanup();
    await killAllDaemons();
  });

  it('the daemons really run an hour apart', () => {
    // pino stamps each log line with the daemon's own wall clock.
    const readyAt = (node: MeshNode): number => node.logLinesSince(0).find((line) => line.msg === 'daemon ready')!.time as number;
    for (const [node, offset] of [
      [now, 0],
      [ahead, 3_600_000],
      [behind, -3_600_000],
    ] as const) {
      expect(readyAt(node), node.name).toBeGreaterThanOrEqual(startedAt + offset);
      expect(readyAt(node), node.name).toBeLessThanOrEqual(startedBy + offset);
    }
  });

  it('the node ahead joins through the node on time, and the node behind through the node ahead; all three see all three', async () => {
    ({meshId} = await now.cliJson<{meshId: string}>(['mesh', 'create']));
    expect(await ahead.cliJson(['mesh', 'join', meshId, '--invite', await now.invite(meshId, {validForMs: DAY_MS}), '--via', now.endpoint])).toEqual({meshId, members: 2});
    expect(await behind.cliJson(['mesh', 'join', meshId, '--invite', await now.invite(meshId, {validForMs: DAY_MS}), '--via', ahead.endpoint])).toEqual({meshId, members: 3});
    const all = [now, ahead, behind];
    await waitFor(() => viewsAre(all, all), 5 * SYNC_INTERVAL_MS, 'all three daemons to see all three members');
  });

  it('a change on the node ahead and one on the node behind reach every node', async () => {
    const all = [now, ahead, behind];
    for (const [node, port] of [
      [ahead, '8081'],
      [behind, '8082'],
    ] as const) {
      const set = await node.cli(['service', 'set', 'http', `[::1]:${port}`, '--mesh', meshId]);
      expect(set.code, set.stderr).toBe(0);
      const id = ids.get(node)!;
      const servicesEverywhere = async (): Promise<boolean> => {
        const shown = await Promise.all(all.map((observer) => observer.call('mesh.show', {meshId, nodeId: id})));
        return shown.every((view) => view.nodes[0]?.services.http === `[::1]:${port}`);
      };
      await waitFor(servicesEverywhere, 5 * SYNC_INTERVAL_MS, `the service of ${node.name} on every node`);
    }
    // What a user on the node on time sees.
    const shown = await now.cliJson<MeshView>(['mesh', 'show', meshId]);
    expect(Object.fromEntries(shown.nodes.map((node) => [node.id, node.services]))).toEqual({
      [ids.get(now)!]: {},
      [ids.get(ahead)!]: {http: '[::1]:8081'},
      [ids.get(behind)!]: {http: '[::1]:8082'},
    });
  });

  it('the node ahead, then the node behind, killed with SIGKILL, leave the views of the others within the detection bound', async () => {
    await ahead.kill('SIGKILL');
    await waitFor(() => viewsAre([now, behind], [now, behind]), DETECTION_BOUND_MS, 'the node ahead gone from the views of the others');
    await behind.kill('SIGKILL');
    await waitFor(() => viewsAre([now], [now]), DETECTION_BOUND_MS, 'the node behind gone from the view of the node on time');
  });
});

describe.skipIf(SKIP)('daemons an hour off with the default maxClockSkew (5m)', () => {
  let lab: {sandbox: Sandbox; pki: TestPki} | undefined;
  let first: MeshNode, second: MeshNode, ahead: MeshNode, behind: MeshNode;
  let ids = new Map<MeshNode, string>();
  let meshId = '';

  /** Ids each node sees alive, by name. */
  async function views(nodes: readonly MeshNode[]): Promise<string[][]> {
    return Promise.all(nodes.map((node) => node.view(meshId)));
  }

  beforeAll(async () => {
    lab = await makeSkewLab('wgmesh-skew-default-');
    [first, second, ahead, behind] = (await startSkewed(lab.sandbox, lab.pki, [
      {name: 'first'},
      {name: 'second'},
      {name: 'ahead', offset: '+1h'},
      {name: 'behind', offset: '-1h'},
    ])) as [MeshNode, MeshNode, MeshNode, MeshNode];
    ids = await nodeIds([first, second, ahead, behind]);
    ({meshId} = await first.cliJson<{meshId: string}>(['mesh', 'create']));
    expect(await second.cliJson(['mesh', 'join', meshId, '--invite', await first.invite(meshId, {validForMs: DAY_MS}), '--via', first.endpoint])).toEqual({meshId, members: 2});
  });

  afterAll(async () => {
    await Promise.allSettled([first, second, ahead, behind].filter(Boolean).map((node) => node.kill('SIGKILL')));
    await lab?.sandbox.cleanup();
    await killAllDaemons();
  });

  it.each([
    ['ahead', () => ahead],
    ['behind', () => behind],
  ] as const)('the node an hour %s is refused with an error that names the clock, and keeps nothing of the mesh', async (_label, skewed) => {
    const node = skewed();
    const joined = await node.cli(['mesh', 'join', meshId, '--invite', await first.invite(meshId, {validForMs: DAY_MS}), '--via', first.endpoint]);
    expect(joined.code, joined.stdout).not.toBe(0);
    expect(joined.stderr).toMatch(/clock/i);
    expect(joined.stderr).toMatch(/in the future/);
    // And what to do about it: the setting that allows more.
    expect(joined.stderr).toMatch(/maxClockSkew/);
    expect(joined.stderr).not.toMatch(/\n\s+at /);
    expect(await node.cliJson(['mesh', 'list'])).toEqual([]);
  });

  it('the members go on as before: they see each other only, and a change still reaches both', async () => {
    const members = [ids.get(first)!, ids.get(second)!].sort();
    await waitFor(async () => (await views([first, second])).every((view) => view.join(',') === members.join(',')), 5 * SYNC_INTERVAL_MS, 'the two members to see each other');
    const set = await second.cli(['service', 'set', 'ssh', '[::1]:22', '--mesh', meshId]);
    expect(set.code, set.stderr).toBe(0);
    await waitFor(
      async () => (await first.call('mesh.show', {meshId, nodeId: ids.get(second)!})).nodes[0]?.services.ssh === '[::1]:22',
      5 * SYNC_INTERVAL_MS,
      "the second member's change on the first",
    );
    // Neither refused node is in any member's view.
    for (const member of [first, second]) {
      const shown = await member.call('mesh.show', {meshId});
      expect(shown.nodes.map((node) => node.id).sort()).toEqual(members);
    }
  });
});

describe.skipIf(SKIP)('a member whose clock jumps an hour ahead and is then corrected (default maxClockSkew)', () => {
  let lab: {sandbox: Sandbox; pki: TestPki} | undefined;
  let first: MeshNode, jumper: MeshNode;
  let ids = new Map<MeshNode, string>();
  let meshId = '';
  const running: MeshNode[] = [];

  beforeAll(async () => {
    lab = await makeSkewLab('wgmesh-skew-jump-');
    [first, jumper] = (await startSkewed(lab.sandbox, lab.pki, [{name: 'first'}, {name: 'jumper'}])) as [MeshNode, MeshNode];
    running.push(first, jumper);
    ids = await nodeIds([first, jumper]);
    ({meshId} = await first.cliJson<{meshId: string}>(['mesh', 'create']));
    expect(await jumper.cliJson(['mesh', 'join', meshId, '--invite', await first.invite(meshId, {validForMs: DAY_MS}), '--via', first.endpoint])).toEqual({meshId, members: 2});
  });

  afterAll(async () => {
    await Promise.allSettled(running.map((node) => node.kill('SIGKILL')));
    await lab?.sandbox.cleanup();
    await killAllDaemons();
  });

  /** The services of the jumper as the first member sees them. */
  async function jumperServicesOnFirst(): Promise<Record<string, string> | undefined> {
    return (await first.call('mesh.show', {meshId, nodeId: ids.get(jumper)!})).nodes[0]?.services;
  }

  it('its changes are taken again as soon as its clock is right', async () => {
    // The same node (files, data dir, port) restarted with its clock an hour ahead: what it writes then is refused.
    await jumper.kill('SIGTERM');
    const ahead = new MeshNode({
      sandbox: {...lab!.sandbox, env: {...lab!.sandbox.env, ...faketimeEnv('+1h')}},
      name: jumper.name,
      port: jumper.port,
      configFile: jumper.configFile,
      faultFile: jumper.faultFile,
      logLevel: 'info',
    });
    running.push(ahead);
    await ahead.start();
    const mark = first.logMark();
    const setAhead = await ahead.cli(['service', 'set', 'phase', 'ahead', '--mesh', meshId]);
    expect(setAhead.code, setAhead.stderr).toBe(0);
    await waitFor(
      () => first.logLinesSince(mark).some((line) => line.nodeId === ids.get(jumper) && /in the future/.test(String(line.reason))),
      5 * SYNC_INTERVAL_MS,
      "the first member to refuse the jumper's record from an hour ahead",
    );
    expect(await jumperServicesOnFirst()).toEqual({});
    // NTP puts the clock right: the next change is taken within the usual time, and the node is in the view again.
    await ahead.kill('SIGTERM');
    await jumper.start();
    const setRight = await jumper.cli(['service', 'set', 'phase', 'corrected', '--mesh', meshId]);
    expect(setRight.code, setRight.stderr).toBe(0);
    await waitFor(async () => (await jumperServicesOnFirst())?.phase === 'corrected', 5 * SYNC_INTERVAL_MS, "the corrected jumper's change on the first member");
    const both = [ids.get(first)!, ids.get(jumper)!].sort().join(',');
    await waitFor(async () => (await first.view(meshId)).join(',') === both && (await jumper.view(meshId)).join(',') === both, DETECTION_BOUND_MS, 'both members in both views');
  });
});
