/**
 * A daemon's TLS identity is its node key: the Ed25519 key that signs its
 * records. At start the daemon issues itself a certificate over that key, so
 * a TLS handshake proves which node is on the other end (the holder of the
 * key whose hash is the node id), with or without a CA. Certificates a CA
 * issues for the node key (`wgmesh certs issue --data-dir|--signing-key`)
 * prove the same plus the CA's approval.
 */
import {createPublicKey, type X509Certificate} from 'node:crypto';
import type {NodeIdentity} from '../identity/identity.js';
import {nodeIdFromSigningKey} from '../identity/identity.js';
import {systemClock, systemRandom} from '../util/clock.js';
import {BACKDATE_MS, DEFAULT_CA_DAYS, serialNumber, type CertsDependencies} from './authority.js';
import {encodeCertificate} from './x509.js';

const DAY_MS = 86_400_000;

/** This node's TLS identity, made from its node key; given to the transport only. */
export interface TlsIdentity {
  /** The node id the key proves. */
  readonly nodeId: string;
  /** The node's Ed25519 public key, raw 32 bytes in base64. */
  readonly signingKey: string;
  /** A certificate over the node key in PEM, issued by the node itself. */
  readonly certificatePem: string;
  /** The node key in PKCS#8 PEM, for the TLS stack. Not enumerable: never logged, never in JSON. */
  readonly privateKeyPem: string;
}

/** The node whose key a certificate carries. */
export interface CertificateNode {
  /** Node id of the key (see nodeIdFromSigningKey). */
  readonly nodeId: string;
  /** Ed25519 public key, raw 32 bytes in base64. */
  readonly signingKey: string;
}

/**
 * Issue this node a certificate over its own Ed25519 key (CN = node id,
 * valid for TLS server and client, ten years; it is made anew at every start).
 */
export async function selfIssueTlsIdentity(identity: NodeIdentity, deps: CertsDependencies = {}): Promise<TlsIdentity> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const privateKey = identity.tlsPrivateKey();
  const now = clock.now();
  const certificatePem = await encodeCertificate({
    profile: 'node',
    serialNumber: serialNumber(random),
    commonName: identity.nodeId,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + DEFAULT_CA_DAYS * DAY_MS),
    publicKey: createPublicKey(privateKey),
    selfPrivateKey: privateKey,
  });
  const tls = {nodeId: identity.nodeId, signingKey: identity.signingKey, certificatePem} as TlsIdentity;
  Object.defineProperty(tls, 'privateKeyPem', {value: privateKey.export({type: 'pkcs8', format: 'pem'}).toString(), enumerable: false});
  return Object.freeze(tls);
}

/**
 * The node a certificate's key belongs to: its Ed25519 key and node id, or
 * undefined when the key is of another type (RSA, ECDSA ...), which proves no node.
 */
export function certificateNode(certificate: X509Certificate): CertificateNode | undefined {
  const key = certificate.publicKey;
  if (key.asymmetricKeyType !== 'ed25519') return undefined;
  const x = key.export({format: 'jwk'}).x;
  if (typeof x !== 'string') return undefined;
  const signingKey = Buffer.from(x, 'base64url').toString('base64');
  return {nodeId: nodeIdFromSigningKey(signingKey), signingKey};
}
