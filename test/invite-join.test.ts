/**
 * Onboarding with invites, as a user types it, with real daemons (stub
 * WireGuard, gRPC on node keys, no certificate files): `mesh invite` on the
 * admin, `mesh join --invite` on new nodes, one of them while the admin is
 * stopped; a used-up invite refused in one line; `mesh invites` and the
 * admin state in `status` and `mesh list`.
 */
import type {InviteListItem, MeshSummary, StatusView} from '@wgmesh/core/client';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

describe('invites with real daemons', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, c: MeshNode, d: MeshNode;
  let meshId = '';

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-invite-join-');
    [a, b, c, d] = (await cluster.addNodes(['a', 'b', 'c', 'd'].map((name) => ({name})))) as [MeshNode, MeshNode, MeshNode, MeshNode];
    ({meshId} = await a.cliJson<{meshId: string}>(['mesh', 'create']));
  });
  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('joins with the printed line alone, and shows who is an admin', async () => {
    const invite = await a.cli(['mesh', 'invite', meshId, '--uses', '1', '--expires', '1h']);
    expect(invite.code, invite.stderr).toBe(0);
    const line = invite.stdout.trim();
    expect(line).toMatch(/^wgm1-[A-Za-z0-9_-]+$/);
    expect(invite.stderr).toMatch(/^invite [0-9a-f]{32}: 1 use\(s\) as peer, until /);
    expect(await b.cliJson(['mesh', 'join', '--invite', line])).toEqual({meshId, members: 2});
    const status = await a.cliJson<StatusView>(['status']);
    expect(status.meshes.find((mesh) => mesh.meshId === meshId)?.admin).toBe('authority');
    expect((await b.cliJson<MeshSummary[]>(['mesh', 'list']))[0]?.admin).toBeUndefined();
    expect((await a.cli(['mesh', 'list'])).stdout).toMatch(/ADMIN[\s\S]*authority/);

    // The same single-use line again, on another node: one line saying why, nothing left behind.
    const again = await c.cli(['mesh', 'join', '--invite', line]);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/the invite is used up \(1 of 1 use\)/);
    expect(await c.cliJson<MeshSummary[]>(['mesh', 'list'])).toEqual([]);
    const listed = await a.cliJson<InviteListItem[]>(['mesh', 'invites', meshId]);
    expect(listed.map((item) => [item.used, item.uses, item.state])).toEqual([[1, 1, 'used up']]);
  });

  it('joins through another member while the admin is stopped', async () => {
    await waitFor(async () => (await a.view(meshId)).length === 2, 10_000, 'a to see b');
    // Issued while both are up: the line names a first, then b.
    const issued = await a.cliJson<{token: string; endpoints: string[]}>(['mesh', 'invite', meshId, '--uses', '2']);
    expect(issued.endpoints).toEqual([a.endpoint, b.endpoint]);
    await a.kill('SIGTERM');
    // a's record is held even while it is down: three records.
    expect(await c.cliJson(['mesh', 'join', meshId, '--invite', issued.token])).toEqual({meshId, members: 3});
    const cId = (await c.call('status', {})).nodeId;
    await waitFor(async () => (await b.view(meshId)).includes(cId), 10_000, 'b to see c');
    // The admin comes back and learns of c from the members.
    await a.start();
    await waitFor(async () => (await a.view(meshId)).includes(cId), 15_000, 'a to see c after its restart');
    // The second use of the same line, by d, still works; a third would not.
    expect(await d.cliJson(['mesh', 'join', '--invite', issued.token])).toEqual({meshId, members: 4});
  });

  it('refuses an expired invite before asking any member, saying when it expired', async () => {
    const issued = await a.cliJson<{token: string; expiresAt: number}>(['mesh', 'invite', meshId, '--expires', '1s']);
    await waitFor(() => Date.now() > issued.expiresAt, 5_000, 'the invite to expire');
    const [e] = (await cluster!.addNodes([{name: 'e'}])) as [MeshNode];
    const refused = await e.cli(['mesh', 'join', '--invite', issued.token]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/the invite expired at .*ask an admin for a new one/);
    expect(await e.cliJson<MeshSummary[]>(['mesh', 'list'])).toEqual([]);
  });
});
