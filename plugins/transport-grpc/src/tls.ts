/**
 * This node's mutual-TLS material. The TLS identity is always the node key:
 * by default the certificate the node issued itself over that key (no files);
 * in CA mode a certificate from the CA for that key, read from the configured
 * files once and checked (parse, issued for this node's key, key matches,
 * issued by the CA and currently valid), saying exactly which file is wrong
 * instead of letting a later handshake fail with an OpenSSL message.
 */
import {X509Certificate, createPrivateKey, type KeyObject} from 'node:crypto';
import {readFile, stat} from 'node:fs/promises';
import type {PeerCertificate} from 'node:tls';
import {certificateNode, ConfigError, type CertificateNode, type TlsIdentity} from '@wgmesh/core';
import type {TlsPaths} from './settings.js';

/**
 * How peers are accepted: `self` (default) any peer proving an Ed25519 key in
 * the handshake, identified as that key's node; `ca` the same, and its
 * certificate must also chain to the CA.
 */
export type TlsMode = 'self' | 'ca';

/** The PEM bytes handed to TLS, and what was learnt checking them. */
export interface TlsMaterial {
  /** See {@link TlsMode}. */
  mode: TlsMode;
  /** The CA certificate(s) peers must chain to (CA mode), else null. */
  ca: Buffer | null;
  /** This node's certificate (chain), over its node key. */
  certificate: Buffer;
  /** This node's private key (the node key). Not enumerable; never log it. */
  privateKey: Buffer;
  /** The certificate's subject CN, for logs. */
  commonName: string;
  /** When the certificate expires. */
  notAfter: Date;
  /** Things worth a warning that do not stop the daemon (e.g. a key readable by others). */
  warnings: string[];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const HOW_TO_ISSUE = "issue a new one with 'wgmesh certs issue'";

/** Build material, keeping the private key out of enumeration (logs, JSON, inspect). */
function material(fields: Omit<TlsMaterial, 'privateKey'>, privateKey: Buffer): TlsMaterial {
  const built = {...fields} as TlsMaterial;
  Object.defineProperty(built, 'privateKey', {value: privateKey, enumerable: false});
  return built;
}

/** The default material: the certificate this node issued itself over its node key. */
export function selfIssuedMaterial(tls: TlsIdentity): TlsMaterial {
  const certificate = new X509Certificate(tls.certificatePem);
  return material(
    {mode: 'self', ca: null, certificate: Buffer.from(tls.certificatePem), commonName: tls.nodeId, notAfter: new Date(certificate.validTo), warnings: []},
    Buffer.from(tls.privateKeyPem),
  );
}

async function readPem(key: keyof TlsPaths, file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new ConfigError(`config key ${key}: cannot read ${file}: ${reason}`);
  }
}

function parseCertificates(key: keyof TlsPaths, file: string, pem: Buffer): X509Certificate[] {
  const blocks = pem.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new ConfigError(`config key ${key}: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return blocks.map((block) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new ConfigError(`config key ${key}: ${file} holds a certificate that does not parse (${(error as Error).message})`);
    }
  });
}

function parsePrivateKey(file: string, pem: Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    // The parser's message may quote the input; say nothing about the content of a key file.
    throw new ConfigError(`config key privateKeyPath: ${file} is not a PEM private key`);
  }
}

function commonNameOf(certificate: X509Certificate): string {
  const match = /^CN=(.*)$/m.exec(certificate.subject);
  return match?.[1] ?? certificate.fingerprint256;
}

/**
 * Read and check the CA mode files: the CA, this node's certificate (which
 * must be for the node key of `own`) and, when configured, its private key
 * (else the node key is used).
 * @param now current time in ms (certificate validity).
 * @throws ConfigError naming the config key and file that is missing, unreadable, malformed or inconsistent.
 */
export async function loadTlsMaterial(paths: TlsPaths, own: TlsIdentity, now: number): Promise<TlsMaterial> {
  const [ca, certificate, privateKey] = await Promise.all([
    readPem('caCertificatePath', paths.caCertificatePath),
    readPem('certificatePath', paths.certificatePath),
    paths.privateKeyPath === null ? Buffer.from(own.privateKeyPem) : readPem('privateKeyPath', paths.privateKeyPath),
  ]);
  const authorities = parseCertificates('caCertificatePath', paths.caCertificatePath, ca);
  const notCa = authorities.find((authority) => !authority.ca);
  if (notCa) {
    throw new ConfigError(
      `config key caCertificatePath: ${paths.caCertificatePath} holds a certificate that is not a CA (${notCa.subject.replace(/\n/g, ', ')}); point it at the CA certificate made by 'wgmesh certs init'`,
    );
  }
  const [leaf, ...intermediates] = parseCertificates('certificatePath', paths.certificatePath, certificate);
  if (!leaf) throw new ConfigError(`config key certificatePath: ${paths.certificatePath} holds no PEM certificate`);
  if (certificateNode(leaf)?.signingKey !== own.signingKey) {
    throw new ConfigError(
      `config key certificatePath: the certificate in ${paths.certificatePath} is not for this node's key (node id ${own.nodeId}); ` +
        `issue one for it with 'wgmesh certs issue --ca CA_DIR --signing-key ${own.signingKey} --name NAME --host HOST --out DIR' ` +
        "(or --data-dir with this daemon's data directory instead of --signing-key)",
    );
  }
  const keyFile = paths.privateKeyPath ?? 'the node key';
  const key = parsePrivateKey(keyFile, privateKey);
  if (!leaf.checkPrivateKey(key)) {
    throw new ConfigError(`config key privateKeyPath: ${keyFile} is not the private key of the certificate in ${paths.certificatePath}`);
  }
  // With intermediates in the certificate file, TLS checks the chain; without, the leaf must come straight from the CA.
  const issued = authorities.some((authority) => leaf.checkIssued(authority) && leaf.verify(authority.publicKey));
  if (!issued && intermediates.length === 0) {
    throw new ConfigError(
      `config key certificatePath: the certificate in ${paths.certificatePath} was not issued by the CA in ${paths.caCertificatePath}; ${HOW_TO_ISSUE} from that CA`,
    );
  }
  const notBefore = Date.parse(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (now < notBefore) {
    throw new ConfigError(`config key certificatePath: the certificate in ${paths.certificatePath} is not valid before ${leaf.validFrom}; check this host's clock`);
  }
  if (now > notAfter.getTime()) {
    throw new ConfigError(`config key certificatePath: the certificate in ${paths.certificatePath} expired on ${leaf.validTo}; ${HOW_TO_ISSUE}`);
  }
  const warnings: string[] = [];
  const fileMode = paths.privateKeyPath === null ? 0o600 : (await stat(paths.privateKeyPath)).mode;
  if ((fileMode & 0o077) !== 0) {
    warnings.push(`private key ${keyFile} is readable by other users (mode ${(fileMode & 0o777).toString(8)}); run 'chmod 600 ${keyFile}'`);
  }
  return material({mode: 'ca', ca, certificate, commonName: commonNameOf(leaf), notAfter, warnings}, privateKey);
}

/**
 * The node a peer's certificate proves: its Ed25519 key and node id, or
 * undefined when the certificate does not parse or its key is not Ed25519.
 * (The handshake proved the peer holds the certificate's key.)
 */
export function peerNode(certificate: PeerCertificate | undefined): CertificateNode | undefined {
  if (!certificate?.raw) return undefined;
  try {
    return certificateNode(new X509Certificate(certificate.raw));
  } catch {
    return undefined;
  }
}

/** The name a peer's verified certificate proves: its subject CN, else its SHA-256 fingerprint. */
export function peerIdentity(certificate: PeerCertificate | undefined): string | undefined {
  if (!certificate || Object.keys(certificate).length === 0) return undefined;
  const cn: unknown = certificate.subject?.CN;
  if (typeof cn === 'string' && cn.length > 0) return cn;
  if (Array.isArray(cn) && typeof cn[0] === 'string') return cn[0];
  return certificate.fingerprint256;
}

/** Plain-words reason for a failed certificate check, from OpenSSL's verify code. */
export function describeVerifyError(code: string | undefined): string {
  switch (code) {
    case undefined:
    case '':
      return 'no reason given';
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
      return `certificate not signed by our CA (${code})`;
    case 'CERT_HAS_EXPIRED':
      return `certificate expired (${code})`;
    case 'CERT_NOT_YET_VALID':
      return `certificate not yet valid (${code})`;
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return `certificate does not list the host that was dialled (${code})`;
    default:
      return code;
  }
}
