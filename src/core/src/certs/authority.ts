/**
 * The certificate authority of a mesh's control plane, in memory: make one,
 * open one from PEM (checking the certificate and key belong together and may
 * issue), and issue node certificates for the transport's mutual TLS. Files
 * are the job of ./files.ts.
 */
import {createPrivateKey, createPublicKey, generateKeyPair, X509Certificate, type KeyObject} from 'node:crypto';
import {promisify} from 'node:util';
import type {Clock, RandomSource} from '../contracts/clock.js';
import {InvalidInputError} from '../errors.js';
import {systemClock, systemRandom} from '../util/clock.js';
import {parseHosts, validateCommonName, validateNodeName, type SubjectAltNames} from './names.js';
import {encodeCertificate, readCertificateAuthority, signatureAlgorithmFor, type CertificateIssuer} from './x509.js';

/** Validity of a new CA, in days (10 years). */
export const DEFAULT_CA_DAYS = 3650;
/** Validity of a new node certificate, in days (2 years). */
export const DEFAULT_NODE_DAYS = 730;
/** The longest validity accepted, in days (100 years). */
export const MAX_CERTIFICATE_DAYS = 36_500;

const DAY_MS = 86_400_000;
/**
 * notBefore is set a little in the past so a peer whose clock lags ours by a
 * few minutes does not reject a certificate made a moment ago.
 */
export const BACKDATE_MS = 5 * 60_000;

/** The clock and randomness certificate code uses; real ones by default. */
export interface CertsDependencies {
  /** Sets notBefore/notAfter and decides whether a CA has expired. */
  readonly clock?: Clock;
  /** Serial numbers and the default CA name suffix (never key material: keys come from node:crypto). */
  readonly random?: RandomSource;
}

/** A CA ready to issue: its certificate and private key, checked to belong together. */
export interface CertificateAuthority {
  /** The CA certificate in PEM, as written to ca.crt and copied to every node. */
  readonly certificatePem: string;
  /** The parsed CA certificate. */
  readonly certificate: X509Certificate;
  /** The CA's private key. Never log it. */
  readonly privateKey: KeyObject;
  /** The CA certificate's common name. */
  readonly commonName: string;
  /** When the CA certificate expires. */
  readonly notAfter: Date;
}

/** Options of {@link createCertificateAuthority}. */
export interface CreateCertificateAuthorityOptions {
  /** The CA's common name; default `wgmesh CA <8 random hex digits>`, so two CAs are easy to tell apart. */
  readonly commonName?: string;
  /** Validity in days; default {@link DEFAULT_CA_DAYS}. */
  readonly days?: number;
}

/** Options of {@link issueNodeCertificate}. */
export interface IssueNodeCertificateOptions {
  /** The node's name: the certificate's CN and the base of its file names; one DNS label. */
  readonly name: string;
  /** Host names and IP addresses peers use to reach the node; at least one. */
  readonly hosts: readonly string[];
  /** Validity in days; default {@link DEFAULT_NODE_DAYS}. Cut to the CA's own expiry. */
  readonly days?: number;
  /**
   * The node's Ed25519 signing key (raw 32 bytes in base64): the certificate
   * is issued for that key, so it proves the node id, and no key pair is made.
   * Without it a new ECDSA key pair is made (a certificate no daemon accepts as its own).
   */
  readonly signingKey?: string;
}

/** A freshly issued node certificate with its new private key. */
export interface NodeCertificate {
  /** The node's name (the certificate's CN). */
  readonly name: string;
  /** The certificate in PEM. */
  readonly certificatePem: string;
  /** The node's new ECDSA P-256 private key, or undefined when issued for a given signing key. Never log it. */
  readonly privateKey: KeyObject | undefined;
  /** The subject alternative names the certificate carries. */
  readonly altNames: SubjectAltNames;
  /** When the certificate expires. */
  readonly notAfter: Date;
  /** True when the requested validity went past the CA's expiry and was cut to it. */
  readonly truncated: boolean;
}

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * ECDSA P-256: every TLS stack gRPC runs on supports it (Ed25519 certificates
 * are still missing from some), and it is fast and small.
 */
async function newKeyPair(): Promise<{publicKey: KeyObject; privateKey: KeyObject}> {
  return generateKeyPairAsync('ec', {namedCurve: 'prime256v1'});
}

/**
 * A random positive serial number of 16 bytes (RFC 5280 asks for at most 20,
 * and for uniqueness per CA, which 127 random bits give).
 */
export function serialNumber(random: RandomSource): Uint8Array {
  const bytes = new Uint8Array(random.bytes(16));
  // The first byte must be below 0x80 (positive) and not 0 (minimal DER).
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes;
}

/**
 * The key object of a node's Ed25519 signing key given as raw base64.
 * @throws InvalidInputError when it is not 32 bytes of base64.
 */
export function signingPublicKey(signingKeyBase64: string): KeyObject {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(signingKeyBase64)) {
    throw new InvalidInputError(`invalid --signing-key ${JSON.stringify(signingKeyBase64.slice(0, 60))}: give the node's Ed25519 signing key, 32 bytes in base64 (44 characters ending in '=')`);
  }
  const x = Buffer.from(signingKeyBase64, 'base64').toString('base64url');
  return createPublicKey({key: {kty: 'OKP', crv: 'Ed25519', x}, format: 'jwk'});
}

/**
 * Check a validity in days.
 * @throws InvalidInputError unless it is an integer from 1 to {@link MAX_CERTIFICATE_DAYS}.
 */
export function validateDays(days: number): number {
  if (!Number.isInteger(days) || days < 1 || days > MAX_CERTIFICATE_DAYS) {
    throw new InvalidInputError(`invalid --days ${days}: give a whole number of days from 1 to ${MAX_CERTIFICATE_DAYS}`);
  }
  return days;
}

/** The CN of a parsed certificate's subject (node prints the subject as `CN=...` lines). */
function commonNameOf(certificate: X509Certificate): string {
  const line = certificate.subject.split('\n').find((part) => part.startsWith('CN='));
  return line?.slice(3) ?? certificate.subject;
}

/**
 * Make a new self-signed CA with an ECDSA P-256 key: basicConstraints CA:true
 * (critical, path length 0), keyUsage keyCertSign + cRLSign.
 * @throws InvalidInputError for a bad name or validity.
 */
export async function createCertificateAuthority(options: CreateCertificateAuthorityOptions = {}, deps: CertsDependencies = {}): Promise<CertificateAuthority> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const days = validateDays(options.days ?? DEFAULT_CA_DAYS);
  const commonName = validateCommonName(options.commonName ?? `wgmesh CA ${Buffer.from(random.bytes(4)).toString('hex')}`);
  const {publicKey, privateKey} = await newKeyPair();
  const now = clock.now();
  const certificatePem = await encodeCertificate({
    profile: 'ca',
    serialNumber: serialNumber(random),
    commonName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + days * DAY_MS),
    publicKey,
    selfPrivateKey: privateKey,
  });
  const certificate = new X509Certificate(certificatePem);
  return {certificatePem, certificate, privateKey, commonName, notAfter: new Date(certificate.validTo)};
}

/** Where a CA's PEM came from, for error messages. */
export interface CertificateAuthoritySources {
  /** The CA certificate's file (or another label). */
  readonly certificate: string;
  /** The CA key's file (or another label). */
  readonly privateKey: string;
}

/**
 * Open a CA from its certificate and private key in PEM, and check that the
 * certificate is a CA that may sign certificates, that it has not expired, and
 * that the key is the certificate's.
 * @throws InvalidInputError naming the file and saying what to do.
 */
export async function openCertificateAuthority(
  certificatePem: string | Uint8Array,
  privateKeyPem: string | Uint8Array,
  sources: CertificateAuthoritySources,
  deps: CertsDependencies = {},
): Promise<CertificateAuthority> {
  const clock = deps.clock ?? systemClock;
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    throw new InvalidInputError(`${sources.certificate} is not a PEM certificate; give --ca the directory 'wgmesh certs init' wrote`);
  }
  const details = await readCertificateAuthority(new Uint8Array(certificate.raw), sources.certificate);
  if (!certificate.ca || !details.mayIssue) {
    throw new InvalidInputError(`${sources.certificate} is not a CA certificate (it may not sign certificates); give --ca the directory 'wgmesh certs init' wrote`);
  }
  const notAfter = new Date(certificate.validTo);
  if (notAfter.getTime() <= clock.now()) {
    throw new InvalidInputError(`the CA certificate ${sources.certificate} expired on ${notAfter.toISOString()}; make a new CA with 'wgmesh certs init' and reissue every node certificate`);
  }
  const keyText = typeof privateKeyPem === 'string' ? privateKeyPem : Buffer.from(privateKeyPem).toString('utf8');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyText);
  } catch {
    // PKCS#8 says "BEGIN ENCRYPTED PRIVATE KEY"; the older OpenSSL forms say "Proc-Type: 4,ENCRYPTED".
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m.test(keyText)) {
      throw new InvalidInputError(`${sources.privateKey} is encrypted; wgmesh needs the CA key unencrypted (decrypt a copy with 'openssl pkey -in ${sources.privateKey} -out ca.key')`);
    }
    throw new InvalidInputError(`${sources.privateKey} is not a PEM private key`);
  }
  if (privateKey.type !== 'private' || !certificate.checkPrivateKey(privateKey)) {
    throw new InvalidInputError(`${sources.privateKey} is not the private key of ${sources.certificate}; give --ca a directory holding a matching ca.crt and ca.key`);
  }
  // Refuse a key type we cannot sign with now, not after the user has typed the node's details.
  signatureAlgorithmFor(privateKey);
  return {certificatePem: certificate.toString(), certificate, privateKey, commonName: commonNameOf(certificate), notAfter};
}

/**
 * Issue a node certificate for the node's Ed25519 signing key (or, without
 * `signingKey`, a new ECDSA P-256 key): CN = name, SANs for
 * every host (DNS names and IPv4/IPv6 addresses), keyUsage digitalSignature,
 * extendedKeyUsage serverAuth + clientAuth (one certificate serves both ends of
 * mutual TLS). A validity that would outlive the CA is cut to the CA's expiry.
 * @throws InvalidInputError for a bad name, host or validity.
 */
export async function issueNodeCertificate(ca: CertificateAuthority, options: IssueNodeCertificateOptions, deps: CertsDependencies = {}): Promise<NodeCertificate> {
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? systemRandom;
  const name = validateNodeName(options.name);
  const altNames = parseHosts(options.hosts);
  const days = validateDays(options.days ?? DEFAULT_NODE_DAYS);
  const details = await readCertificateAuthority(new Uint8Array(ca.certificate.raw), 'the CA certificate');
  const issuer: CertificateIssuer = {name: details.subject, keyIdentifier: details.keyIdentifier, privateKey: ca.privateKey};
  const now = clock.now();
  const requested = now + days * DAY_MS;
  const truncated = requested > ca.notAfter.getTime();
  const {publicKey, privateKey} = options.signingKey === undefined ? await newKeyPair() : {publicKey: signingPublicKey(options.signingKey), privateKey: undefined};
  const certificatePem = await encodeCertificate({
    profile: 'node',
    serialNumber: serialNumber(random),
    commonName: name,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: truncated ? ca.notAfter : new Date(requested),
    publicKey,
    altNames,
    issuer,
  });
  const certificate = new X509Certificate(certificatePem);
  // Cheap insurance: never hand out a certificate the CA's own key does not verify.
  if (!certificate.checkIssued(ca.certificate) || !certificate.verify(ca.certificate.publicKey)) {
    throw new Error('internal error: the issued certificate does not verify against its CA');
  }
  return {name, certificatePem, privateKey, altNames, notAfter: new Date(certificate.validTo), truncated};
}
