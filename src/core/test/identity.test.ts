import {execFileSync} from 'node:child_process';
import {createPublicKey, verify} from 'node:crypto';
import {mkdtemp, readFile, rm, stat} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {generateIdentity, generateWgPrivateKey, loadOrCreateIdentity, nodeIdFromSigningKey, verifySignature, wgPublicKeyFromPrivate} from '../src/index.js';
import {commandAvailable, skipWithout} from '@wgmesh/testkit';

const hasWg = !skipWithout('the `wg pubkey` comparison', commandAvailable('wg', ['--version'], 'wireguard-tools'));

describe('identity', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-identity-'));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  it('is created on first use with mode 0600 and reloaded unchanged', async () => {
    const file = join(dir, 'sub', 'identity.json');
    const first = await loadOrCreateIdentity(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const second = await loadOrCreateIdentity(file);
    expect(second.nodeId).toBe(first.nodeId);
    expect(second.wgPublicKey).toBe(first.wgPublicKey);
    expect(second.signingKey).toBe(first.signingKey);
  });

  it('derives the node id from the signing key', () => {
    const identity = generateIdentity();
    expect(identity.nodeId).toMatch(/^[0-9a-f]{32}$/);
    expect(nodeIdFromSigningKey(identity.signingKey)).toBe(identity.nodeId);
  });

  it('signs verifiably and rejects tampering', () => {
    const identity = generateIdentity();
    const data = Buffer.from('hello');
    const signature = identity.sign(data);
    expect(verifySignature(identity.signingKey, data, signature)).toBe(true);
    expect(verifySignature(identity.signingKey, Buffer.from('hellO'), signature)).toBe(false);
    expect(verifySignature(generateIdentity().signingKey, data, signature)).toBe(false);
    expect(verifySignature('not base64 at all', data, signature)).toBe(false);
    expect(verifySignature(identity.signingKey, data, signature.subarray(0, 10))).toBe(false);
  });

  it('refuses a small-order key whose "signature" OpenSSL takes for any message', () => {
    // The neutral point as the key, and as R with S = 0: [S]B = R + [k]A holds for every message,
    // so OpenSSL's check (node:crypto) says yes to anything. libsodium refuses small-order keys.
    const neutral = Buffer.alloc(32);
    neutral[0] = 1;
    const forged = Buffer.concat([neutral, Buffer.alloc(32)]);
    const message = Buffer.from('a record nobody signed');
    const openssl = createPublicKey({key: {kty: 'OKP', crv: 'Ed25519', x: neutral.toString('base64url')}, format: 'jwk'});
    expect(verify(null, message, openssl, forged)).toBe(true);
    expect(verifySignature(neutral.toString('base64'), message, forged)).toBe(false);
  });

  it('never shows the WireGuard private key in JSON or inspection', async () => {
    const identity = generateIdentity();
    expect(JSON.stringify(identity)).not.toContain(identity.wgPrivateKey);
    const {inspect} = await import('node:util');
    expect(inspect(identity)).not.toContain(identity.wgPrivateKey);
  });

  it('rotates its WireGuard key in place: same node id and signing key, the retired pair still derives its pair keys, nothing private shown', async () => {
    const identity = generateIdentity();
    const peer = generateIdentity();
    const {nodeId, signingKey, wgPublicKey: oldKey} = identity;
    const oldPairKey = Buffer.from(identity.sharedKey(peer.wgPublicKey));
    const privateKey = generateWgPrivateKey();
    identity.rotateWgKey(privateKey, 1234);
    expect([identity.nodeId, identity.signingKey]).toEqual([nodeId, signingKey]);
    expect(identity.wgPublicKey).toBe(wgPublicKeyFromPrivate(privateKey));
    expect(identity.retiredWgKey).toEqual({publicKey: oldKey, retiredAt: 1234});
    expect(Buffer.from(identity.sharedKey(peer.wgPublicKey))).toEqual(Buffer.from(peer.sharedKey(identity.wgPublicKey)));
    expect(Buffer.from(identity.sharedKey(peer.wgPublicKey, oldKey))).toEqual(oldPairKey);
    expect(() => identity.sharedKey(peer.wgPublicKey, peer.wgPublicKey)).toThrow(/not a WireGuard key of this identity/);
    expect(() => identity.rotateWgKey('AAAA', 0)).toThrow(/32 bytes/);
    const {inspect} = await import('node:util');
    for (const shown of [JSON.stringify(identity), inspect(identity)]) expect(shown).not.toContain(privateKey);
  });

  it('rejects a corrupt identity file with a clear error', async () => {
    const file = join(dir, 'identity.json');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, '{"version":1,'));
    await expect(loadOrCreateIdentity(file)).rejects.toThrow(/identity file .* is not valid JSON/);
    expect(await readFile(file, 'utf8')).toBe('{"version":1,');
  });

  it.skipIf(!hasWg)('WireGuard public keys match `wg pubkey` exactly', () => {
    for (let i = 0; i < 5; i++) {
      const identity = generateIdentity();
      const fromWg = execFileSync('wg', ['pubkey'], {input: identity.wgPrivateKey + '\n'}).toString().trim();
      expect(identity.wgPublicKey).toBe(fromWg);
      const generated = execFileSync('wg', ['genkey']).toString().trim();
      expect(wgPublicKeyFromPrivate(generated)).toBe(execFileSync('wg', ['pubkey'], {input: generated}).toString().trim());
    }
  });
});
