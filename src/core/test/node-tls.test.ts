/** The node's TLS identity: a certificate over its Ed25519 node key, self-issued or issued by a CA for that key. */
import {X509Certificate, generateKeyPairSync} from 'node:crypto';
import {inspect} from 'node:util';
import {describe, expect, it} from 'vitest';
import {certificateNode, createCertificateAuthority, issueNodeCertificate, selfIssueTlsIdentity, signingPublicKey} from '../src/certs/index.js';
import {generateIdentity} from '../src/identity/identity.js';
import {InvalidInputError} from '../src/errors.js';

describe('selfIssueTlsIdentity', () => {
  it('issues a certificate over the node key, signed by it, naming the node id', async () => {
    const identity = generateIdentity();
    const tls = await selfIssueTlsIdentity(identity);
    const certificate = new X509Certificate(tls.certificatePem);
    expect(certificate.publicKey.asymmetricKeyType).toBe('ed25519');
    expect(certificate.subject).toBe(`CN=${identity.nodeId}`);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.checkPrivateKey(identity.tlsPrivateKey())).toBe(true);
    expect(certificateNode(certificate)).toEqual({nodeId: identity.nodeId, signingKey: identity.signingKey});
    expect({nodeId: tls.nodeId, signingKey: tls.signingKey}).toEqual({nodeId: identity.nodeId, signingKey: identity.signingKey});
  });

  it('keeps the private key out of enumeration, JSON and inspect', async () => {
    const tls = await selfIssueTlsIdentity(generateIdentity());
    expect(tls.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(Object.keys(tls)).not.toContain('privateKeyPem');
    expect(JSON.stringify(tls)).not.toContain('PRIVATE KEY');
    expect(inspect(tls)).not.toContain('PRIVATE KEY');
    expect({...tls}).not.toHaveProperty('privateKeyPem');
  });
});

describe('certificateNode', () => {
  it('proves no node for a key that is not Ed25519', async () => {
    const ca = await createCertificateAuthority();
    expect(certificateNode(ca.certificate)).toBeUndefined();
  });
});

describe('issueNodeCertificate for a node key', () => {
  it('issues from the CA for the given Ed25519 key and makes no key pair', async () => {
    const ca = await createCertificateAuthority();
    const identity = generateIdentity();
    const node = await issueNodeCertificate(ca, {name: 'n1', hosts: ['127.0.0.1'], signingKey: identity.signingKey});
    const certificate = new X509Certificate(node.certificatePem);
    expect(node.privateKey).toBeUndefined();
    expect(certificate.verify(ca.certificate.publicKey)).toBe(true);
    expect(certificateNode(certificate)).toEqual({nodeId: identity.nodeId, signingKey: identity.signingKey});
  });

  it.each(['', 'abc', Buffer.alloc(31).toString('base64'), Buffer.alloc(33).toString('base64')])('refuses the signing key %j in one line', (key) => {
    expect(() => signingPublicKey(key)).toThrow(InvalidInputError);
    expect(() => signingPublicKey(key)).toThrow(/^invalid --signing-key .*: give the node's Ed25519 signing key, 32 bytes in base64/);
  });

  it('accepts a raw Ed25519 public key', () => {
    const raw = generateKeyPairSync('ed25519').publicKey.export({format: 'jwk'}).x!;
    expect(signingPublicKey(Buffer.from(raw, 'base64url').toString('base64')).asymmetricKeyType).toBe('ed25519');
  });
});
