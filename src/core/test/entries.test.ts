import {describe, expect, it} from 'vitest';
import {makeTestNode, testMeshId} from '@wgmesh/testkit';
import {
  compareEntries,
  encode,
  generateIdentity,
  isExpired,
  nodeAddress,
  signEntry,
  verifyEntry,
  type NodeIdentity,
  type NodeRecord,
} from '../src/index.js';

const meshId = testMeshId();
const now = Date.UTC(2026, 5, 1);
const options = {meshId, now, maxClockSkewMs: 60_000};

/** A record of `identity` in the test mesh, dated `now`, with `patch` applied. */
function record(identity: NodeIdentity, patch: Partial<NodeRecord> = {}): NodeRecord {
  return makeTestNode(meshId, {identity, now}).recordBody({controlEndpoint: '[fd00::1]:4000', wgEndpoint: '[fd00::1]:51820', ...patch});
}

describe('entry verification', () => {
  const alice = generateIdentity();
  const mallory = generateIdentity();

  it('accepts an owner-signed record and keeps its hash', () => {
    const signed = signEntry(alice, record(alice));
    const verified = verifyEntry({body: signed.body, signature: signed.signature}, options);
    expect(verified.value).toEqual(record(alice));
    expect(Buffer.from(verified.hash).equals(Buffer.from(signed.hash))).toBe(true);
  });

  it('refuses to sign an entry about another node', () => {
    expect(() => signEntry(mallory, record(alice))).toThrow(/only be signed by the node it describes/);
  });

  it('rejects a forged signature', () => {
    const signed = signEntry(alice, record(alice));
    const tampered = Buffer.from(signed.body);
    const forged = encode({...record(alice), alias: 'evil'});
    expect(() => verifyEntry({body: forged, signature: signed.signature}, options)).toThrow(/bad signature/);
    tampered[tampered.length - 1] ^= 1;
    expect(() => verifyEntry({body: tampered, signature: signed.signature}, options)).toThrow();
  });

  it("rejects a record that claims another node's id", () => {
    const body = encode(record(alice, {signingKey: mallory.signingKey}));
    expect(() => verifyEntry({body, signature: mallory.sign(body)}, options)).toThrow(/signing key belongs to another node/);
  });

  it("rejects a record that claims another node's address", () => {
    const body = encode(record(mallory, {address: nodeAddress(meshId, alice.nodeId, 0)}));
    expect(() => verifyEntry({body, signature: mallory.sign(body)}, options)).toThrow(/not its own/);
  });

  it('rejects records of another mesh, from the future, and clients with endpoints', () => {
    const other = signEntry(alice, record(alice, {meshId: testMeshId(), address: 'fd00::1'}));
    expect(() => verifyEntry(other, options)).toThrow(/belongs to mesh/);
    const future = signEntry(alice, record(alice, {updatedAt: now + 3_600_000}));
    expect(() => verifyEntry(future, options)).toThrow(/in the future/);
    const client = signEntry(alice, record(alice, {role: 'client'}));
    expect(() => verifyEntry(client, options)).toThrow(/must not advertise endpoints/);
  });

  it('rejects garbage, oversize and schema-violating bodies without throwing anything but a rejection', () => {
    expect(() => verifyEntry({body: Buffer.from([0xc1, 0xff, 0x00]), signature: new Uint8Array(64)}, options)).toThrow(/entry/);
    expect(() => verifyEntry({body: new Uint8Array(70_000), signature: new Uint8Array(64)}, options)).toThrow(/over the/);
    const body = encode({...record(alice), services: {x: 'y'.repeat(10_000)}});
    expect(() => verifyEntry({body, signature: alice.sign(body)}, options)).toThrow(/services/);
  });

  it('orders entries by version, then by content hash, identically from both sides', () => {
    const a = signEntry(alice, record(alice, {version: now + 1}));
    const b = signEntry(alice, record(alice, {version: now + 2}));
    expect(compareEntries(a, b)).toBeLessThan(0);
    expect(compareEntries(b, a)).toBeGreaterThan(0);
    const c = signEntry(alice, record(alice, {version: now + 2, alias: 'other'}));
    expect(Math.sign(compareEntries(b, c))).toBe(-Math.sign(compareEntries(c, b)));
    expect(compareEntries(b, c)).not.toBe(0);
    expect(compareEntries(b, b)).toBe(0);
  });

  it('expires entries older than the horizon', () => {
    const entry = signEntry(alice, record(alice));
    expect(isExpired(entry, now + 1000, 2000)).toBe(false);
    expect(isExpired(entry, now + 3000, 2000)).toBe(true);
  });
});
