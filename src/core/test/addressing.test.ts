import ipaddr from 'ipaddr.js';
import {describe, expect, it} from 'vitest';
import {assertMeshId, base32, freeAddressCounter, generateMeshId, isMeshId, isNodeAddress, meshPrefix, nodeAddress} from '../src/index.js';

describe('mesh ids', () => {
  it('generates 26 base32 characters (130 bits of text for 128 random bits)', () => {
    const ids = new Set(Array.from({length: 200}, () => generateMeshId()));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(/^[a-z2-7]{26}$/);
  });

  it('encodes base32 as RFC 4648 (lower case, no padding)', () => {
    expect(base32(Buffer.from('foobar'))).toBe('mzxw6ytboi');
    expect(base32(Buffer.from('f'))).toBe('my');
  });

  it.each(['', 'abc', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxy1', 'abcdefghijklmnopqrstuvwxyz2', '../../etc/passwd', 'a b'])(
    'rejects malformed id %j with a message naming the format',
    (text) => {
      expect(isMeshId(text)).toBe(false);
      expect(() => assertMeshId(text)).toThrow(/is not a mesh id: expected 26 characters from a-z and 2-7/);
    },
  );
});

describe('mesh prefix', () => {
  it('derives fd + SHA-1(mesh id)[0..6] + 01 as a /64', () => {
    expect(meshPrefix('abc')).toBe('fda9:993e:3647:601::/64');
  });

  it('is different for different meshes', () => {
    expect(meshPrefix(generateMeshId())).not.toBe(meshPrefix(generateMeshId()));
  });
});

describe('node addresses', () => {
  const meshId = generateMeshId();
  const nodeId = '0123456789abcdef0123456789abcdef';

  it('lie in the mesh prefix and are deterministic', () => {
    const address = nodeAddress(meshId, nodeId);
    // All 64 bits of the prefix, not a textual prefix of it.
    expect(ipaddr.IPv6.parse(address).match(ipaddr.IPv6.parseCIDR(meshPrefix(meshId)))).toBe(true);
    expect(ipaddr.IPv6.parse(address).toByteArray().slice(0, 8)).toEqual(ipaddr.IPv6.parse(meshPrefix(meshId).replace('/64', '')).toByteArray().slice(0, 8));
    expect(nodeAddress(meshId, nodeId)).toBe(address);
  });

  it('verify only for the (mesh, node, counter) that made them', () => {
    const address = nodeAddress(meshId, nodeId, 3);
    expect(isNodeAddress(meshId, nodeId, 3, address)).toBe(true);
    expect(isNodeAddress(meshId, nodeId, 2, address)).toBe(false);
    expect(isNodeAddress(meshId, 'f'.repeat(32), 3, address)).toBe(false);
    expect(isNodeAddress(generateMeshId(), nodeId, 3, address)).toBe(false);
    expect(isNodeAddress(meshId, nodeId, 256, nodeAddress(meshId, nodeId, 256))).toBe(false);
  });

  it('bump the counter deterministically past taken addresses', () => {
    const taken = new Set([nodeAddress(meshId, nodeId, 0), nodeAddress(meshId, nodeId, 1)]);
    expect(freeAddressCounter(meshId, nodeId, taken)).toBe(2);
    expect(freeAddressCounter(meshId, nodeId, new Set())).toBe(0);
  });
});
