/**
 * This node's mutual-TLS material: read the three PEM files once, check that
 * they make sense together (parse, key matches certificate, certificate issued
 * by the CA and currently valid) and say exactly which file is wrong, instead
 * of letting a later handshake fail with an OpenSSL message.
 */
import {X509Certificate, createPrivateKey, type KeyObject} from 'node:crypto';
import {readFile, stat} from 'node:fs/promises';
import type {PeerCertificate} from 'node:tls';
import {ConfigError} from '@wgmesh/core';
import type {TlsPaths} from './settings.js';

/** The PEM bytes handed to TLS, and what was learnt checking them. */
export interface TlsMaterial {
  /** The CA certificate(s) peers must chain to. */
  ca: Buffer;
  /** This node's certificate (chain). */
  certificate: Buffer;
  /** This node's private key. Never log it. */
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
 * Read and check the CA, certificate and key files.
 * @param now current time in ms (certificate validity).
 * @throws ConfigError naming the config key and file that is missing, unreadable, malformed or inconsistent.
 */
export async function loadTlsMaterial(paths: TlsPaths, now: number): Promise<TlsMaterial> {
  const [ca, certificate, privateKey] = await Promise.all([
    readPem('caCertificatePath', paths.caCertificatePath),
    readPem('certificatePath', paths.certificatePath),
    readPem('privateKeyPath', paths.privateKeyPath),
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
  const key = parsePrivateKey(paths.privateKeyPath, privateKey);
  if (!leaf.checkPrivateKey(key)) {
    throw new ConfigError(`config key privateKeyPath: ${paths.privateKeyPath} is not the private key of the certificate in ${paths.certificatePath}`);
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
  const mode = (await stat(paths.privateKeyPath)).mode;
  if ((mode & 0o077) !== 0) {
    warnings.push(`private key ${paths.privateKeyPath} is readable by other users (mode ${(mode & 0o777).toString(8)}); run 'chmod 600 ${paths.privateKeyPath}'`);
  }
  return {ca, certificate, privateKey, commonName: commonNameOf(leaf), notAfter, warnings};
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
