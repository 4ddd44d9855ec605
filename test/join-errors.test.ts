/**
 * `wgmesh mesh join` failures with real daemons: each is one clear line and a
 * non-zero exit, and leaves nothing behind (no mesh entry, no interface).
 */
import {createServer, type Server} from 'node:net';
import {encodeInviteToken, interfaceName, issueInvite} from '@wgmesh/core';
import {testMeshAdmin, testMeshId} from '@wgmesh/testkit';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {readStubState, stubStateFile} from '@wgmesh/wg-stub';
import {killAllDaemons} from './helpers/cli.js';
import {freePorts, interfaceOf, MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

/** The config default `timeout` (5 s): an unreachable member must fail the join within timeout + 2 s. */
const TIMEOUT_MS = 5_000;

/** A valid invite to a mesh no daemon of the test is in, naming `endpoints`. */
function strayInvite(endpoints: string[] = []): {meshId: string; token: string} {
  const meshId = testMeshId();
  const admin = testMeshAdmin(meshId);
  const invite = issueInvite(admin, {role: 'peer', uses: 1, now: Date.now(), expiresAt: Date.now() + 3_600_000});
  return {meshId, token: encodeInviteToken({chain: admin.chain, signed: invite.signed, key: invite.key, endpoints})};
}

describe('mesh join errors (real daemons, gRPC with mutual TLS, stub WireGuard)', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode;
  let meshId = '';

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-join-errors-');
    [a, b] = (await cluster.addNodes(['a', 'b'].map((name) => ({name})))) as [MeshNode, MeshNode];
    meshId = (await a.cliJson<{meshId: string}>(['mesh', 'create', '--json'])).meshId;
  });
  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  /** Names of the interfaces the node's stub WireGuard driver holds. */
  async function interfaces(node: MeshNode): Promise<string[]> {
    return ((await readStubState(stubStateFile(node.dataDir)))?.interfaces ?? []).map((iface) => iface.name).sort();
  }

  /** Runs a failing join on `node` and checks the one-line error and that nothing is left behind. */
  async function failingJoin(node: MeshNode, args: readonly string[], pattern: RegExp): Promise<void> {
    const meshesBefore = await node.call('mesh.list', {});
    const interfacesBefore = await interfaces(node);
    const result = await node.cli(['mesh', 'join', ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim().split("\n"), result.stderr).toHaveLength(1);
    expect(result.stderr).toMatch(pattern);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await node.call('mesh.list', {})).toEqual(meshesBefore);
    expect(await interfaces(node)).toEqual(interfacesBefore);
  }

  it('refuses a mesh that is unknown at the member', async () => {
    const stray = strayInvite([a.endpoint]);
    await failingJoin(b, ['--invite', stray.token], new RegExp(`mesh ${stray.meshId} is unknown at ${a.endpoint.replace(/[.[\]]/g, '\\$&')}`));
  });

  it('refuses a malformed --via, a malformed mesh id and a damaged invite before asking anyone', async () => {
    const {token} = strayInvite();
    await failingJoin(b, [meshId, '--invite', token, '--via', 'no-port'], /is not an endpoint/);
    await failingJoin(b, [meshId, '--invite', token, '--via', '127.0.0.1:99999'], /is not an endpoint/);
    await failingJoin(b, ['Not-A-Mesh', '--invite', token, '--via', a.endpoint], /is not a mesh id/);
    await failingJoin(b, ['--invite', token.slice(0, -10)], /not a valid invite/);
    await failingJoin(b, [meshId, '--invite', token], new RegExp(`the invite is for mesh .*, not ${meshId}`));
  });

  it('gives up on an unreachable member within timeout + 2 s', async () => {
    const [closedPort] = await freePorts(1);
    const started = Date.now();
    await failingJoin(b, ['--invite', strayInvite().token, '--via', `127.0.0.1:${closedPort}`], /could not reach 127\.0\.0\.1/);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 2_000 + 1_500); // + CLI start-up
  });

  it('gives up on a member that accepts but never answers within timeout + 2 s', async () => {
    const blackhole: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as {port: number}).port;
    try {
      const started = Date.now();
      await failingJoin(b, ['--invite', strayInvite().token, '--via', `127.0.0.1:${port}`], /could not reach 127\.0\.0\.1/);
      expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 2_000 + 1_500);
    } finally {
      blackhole.close();
    }
  });

  it('refuses to join a mesh twice', async () => {
    const joined = await b.cliJson<{meshId: string; members: number}>(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', a.endpoint, '--json']);
    expect(joined).toEqual({meshId, members: 2});
    const again = await b.cli(['mesh', 'join', meshId, '--invite', await a.invite(meshId), '--via', a.endpoint]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already a member of mesh/);
    expect((await b.call('mesh.list', {})).map((m) => m.meshId)).toEqual([meshId]);
    expect(await interfaceOf(b, meshId)).toBe(interfaceName(meshId, (await b.call('status', {})).nodeId));
  });
});
