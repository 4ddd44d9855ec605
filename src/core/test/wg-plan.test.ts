import {describe, expect, it} from 'vitest';
import {interfaceName, meshPrefix, type NodeRecord, type Role} from '../src/index.js';
import {homePeer, planWireGuard} from '../src/runtime/wg-plan.js';
import {makeTestNode, testMeshId} from '@wgmesh/testkit';

const meshId = testMeshId();

/** A record of a fresh node with `role` (clients advertise no endpoints). */
function node(role: Role): NodeRecord {
  const endpoints = role === 'peer' ? {controlEndpoint: '192.0.2.1:4000', wgEndpoint: '192.0.2.1:51820'} : {controlEndpoint: null, wgEndpoint: null};
  return makeTestNode(meshId).recordBody({role, ...endpoints});
}

describe('WireGuard plan', () => {
  const peers = [node('peer'), node('peer'), node('peer')];
  const clients = [node('client'), node('client'), node('client'), node('client')];
  const all = [...peers, ...clients];
  const prefix = meshPrefix(meshId);

  it('gives a peer every other peer with its /128 plus its clients, and its own clients', () => {
    const self = peers[0]!;
    const plan = planWireGuard({selfId: self.id, self, live: all, prefix, keepaliveSeconds: 0});
    expect(plan.addresses).toEqual([`${self.address}/64`]);
    const allowed = plan.peers.flatMap((peer) => peer.allowedIps);
    // Every other node's /128 appears exactly once: no two peers share an allowed IP.
    expect(allowed.sort()).toEqual(all.filter((n) => n.id !== self.id).map((n) => `${n.address}/128`).sort());
    for (const other of peers.slice(1)) {
      const entry = plan.peers.find((peer) => peer.publicKey === other.wgPublicKey);
      expect(entry?.allowedIps[0]).toBe(`${other.address}/128`);
      expect(entry?.endpoint).toBe(other.wgEndpoint);
    }
  });

  it('gives a client exactly its home peer with the whole mesh prefix, chosen the same by everyone', () => {
    for (const client of clients) {
      const plan = planWireGuard({selfId: client.id, self: client, live: all, prefix, keepaliveSeconds: 25});
      const home = homePeer(client.id, peers)!;
      expect(plan.peers).toEqual([{publicKey: home.wgPublicKey, endpoint: home.wgEndpoint, allowedIps: [prefix], keepaliveSeconds: 25}]);
      // The home peer lists the client, and only the home peer does.
      const holders = peers.filter((peer) =>
        planWireGuard({selfId: peer.id, self: peer, live: all, prefix, keepaliveSeconds: 0}).peers.some((p) => p.publicKey === client.wgPublicKey),
      );
      expect(holders.map((h) => h.id)).toEqual([home.id]);
    }
  });

  it('re-homes a client only when its home peer goes away', () => {
    const client = clients[0]!;
    const home = homePeer(client.id, peers)!;
    const others = peers.filter((p) => p.id !== home.id);
    const next = homePeer(client.id, others)!;
    expect(next.id).not.toBe(home.id);
    expect(homePeer(client.id, [...others].reverse())!.id).toBe(next.id);
    expect(homePeer(client.id, [])).toBeUndefined();
  });
});

describe('interface names', () => {
  it('are at most 15 characters, stable, and differ per mesh and per node', () => {
    const name = interfaceName(meshId, 'a'.repeat(32));
    expect(name).toMatch(/^wgm[a-z2-7]{10}$/);
    expect(interfaceName(meshId, 'a'.repeat(32))).toBe(name);
    expect(interfaceName(meshId, 'b'.repeat(32))).not.toBe(name);
    expect(interfaceName(testMeshId(), 'a'.repeat(32))).not.toBe(name);
  });
});
