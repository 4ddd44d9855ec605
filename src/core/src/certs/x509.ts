/**
 * Encoding and signing of X.509 v3 certificates, in-process.
 *
 * Keys, signatures and certificate parsing come from `node:crypto`; the DER
 * structures come from @peculiar/asn1-x509. (We do not use @peculiar/x509's
 * high-level generator: it needs a global Reflect-metadata polyfill through
 * tsyringe, and the ASN.1 layer underneath it needs none.) The ASN.1 packages
 * cost a few hundred milliseconds to load, so they are imported on first use:
 * a daemon that never makes a certificate never loads them.
 */
import {createHash, sign, type KeyObject} from 'node:crypto';
import type {Name} from '@peculiar/asn1-x509';
import ipaddr from 'ipaddr.js';
import {InvalidInputError} from '../errors.js';
import type {SubjectAltNames} from './names.js';

/** What a certificate is for: a CA that signs node certificates, or a node (TLS server and client at once). */
export type CertificateProfile = 'ca' | 'node';

/** The issuing CA as the encoder needs it. */
export interface CertificateIssuer {
  /** The CA certificate's subject, copied into the new certificate's issuer field. */
  readonly name: Name;
  /** The CA's subject key identifier, copied into the authority key identifier. */
  readonly keyIdentifier: ArrayBuffer;
  /** The CA's private key. */
  readonly privateKey: KeyObject;
}

/** Everything that goes into one certificate. */
export interface CertificateSpec {
  readonly profile: CertificateProfile;
  /** Positive, at most 20 bytes, first byte below 0x80 (RFC 5280 4.1.2.2). */
  readonly serialNumber: Uint8Array;
  /** The subject's CN (the only attribute of the subject name). */
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject's public key. */
  readonly publicKey: KeyObject;
  /** Subject alternative names (node certificates). */
  readonly altNames?: SubjectAltNames;
  /** The signer; absent for a self-signed certificate, which is then signed by `selfPrivateKey`. */
  readonly issuer?: CertificateIssuer;
  /** The private key of `publicKey`, used only for a self-signed certificate. */
  readonly selfPrivateKey?: KeyObject;
}

/** What a CA certificate says about itself, read from its DER. */
export interface CertificateAuthorityDetails {
  readonly subject: Name;
  readonly keyIdentifier: ArrayBuffer;
  /** `false` when a key-usage extension is present and does not allow signing certificates. */
  readonly mayIssue: boolean;
}

const OID = {
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

// KeyUsage bits (RFC 5280 4.2.1.3), as @peculiar/asn1-x509 numbers them.
const KEY_USAGE = {digitalSignature: 1, keyCertSign: 32, cRLSign: 64} as const;

/** How a key of a given type signs a certificate. */
export interface SignatureAlgorithm {
  /** The signature algorithm's OID, written in the certificate twice. */
  readonly oid: string;
  /** The digest node:crypto signs with; null for Ed25519, which hashes inside the signature. */
  readonly hash: string | null;
  /** RSA's AlgorithmIdentifier carries an explicit NULL; ECDSA's carries nothing (RFC 5758). */
  readonly nullParameters: boolean;
}

const ECDSA_BY_CURVE: Record<string, SignatureAlgorithm> = {
  prime256v1: {oid: '1.2.840.10045.4.3.2', hash: 'sha256', nullParameters: false},
  secp384r1: {oid: '1.2.840.10045.4.3.3', hash: 'sha384', nullParameters: false},
  secp521r1: {oid: '1.2.840.10045.4.3.4', hash: 'sha512', nullParameters: false},
};
const RSA_SHA256: SignatureAlgorithm = {oid: '1.2.840.113549.1.1.11', hash: 'sha256', nullParameters: true};
/** RFC 8410: id-Ed25519, no parameters, no separate digest. */
const ED25519: SignatureAlgorithm = {oid: '1.3.101.112', hash: null, nullParameters: false};
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/**
 * The signature algorithm for a signing key. Besides the P-256 keys `certs
 * init` makes, this accepts the other ECDSA curves and RSA, so a CA made with
 * openssl works too, and Ed25519, the key of a node's self-issued certificate.
 * @throws InvalidInputError for any other key type.
 */
export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  if (key.asymmetricKeyType === 'ec') {
    const algorithm = ECDSA_BY_CURVE[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (algorithm) return algorithm;
  }
  if (key.asymmetricKeyType === 'rsa') return RSA_SHA256;
  if (key.asymmetricKeyType === 'ed25519') return ED25519;
  const what = key.asymmetricKeyType === 'ec' ? `ec ${key.asymmetricKeyDetails?.namedCurve ?? '(unknown curve)'}` : key.asymmetricKeyType ?? 'unknown';
  throw new InvalidInputError(`unsupported CA key type ${what}: wgmesh signs with ECDSA (P-256, P-384, P-521), RSA or Ed25519 keys`);
}

/** Load the ASN.1 packages on first use (see the module comment). */
async function loadAsn1() {
  const [schema, x509] = await Promise.all([import('@peculiar/asn1-schema'), import('@peculiar/asn1-x509')]);
  return {schema, x509};
}

/** Wrap DER in PEM armour with 64-character lines, as OpenSSL writes it. */
export function toPem(der: Uint8Array, label: string): string {
  const base64 = Buffer.from(der).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's contents. */
function keyIdentifierOf(subjectPublicKey: ArrayBuffer): ArrayBuffer {
  const digest = createHash('sha1').update(new Uint8Array(subjectPublicKey)).digest();
  return new Uint8Array(digest).buffer;
}

/** The IP text the ASN.1 package's converter parses: it understands only the full, uncompressed IPv6 form. */
function ipForEncoder(address: string): string {
  const parsed = ipaddr.parse(address);
  return parsed.kind() === 'ipv6' ? (parsed as ipaddr.IPv6).toNormalizedString() : parsed.toString();
}

/**
 * Encode and sign a certificate; returns it in PEM.
 * @throws InvalidInputError when the signing key's type is not supported.
 */
export async function encodeCertificate(spec: CertificateSpec): Promise<string> {
  const {schema, x509} = await loadAsn1();
  const {AsnConvert, OctetString} = schema;
  const signingKey = spec.issuer?.privateKey ?? spec.selfPrivateKey;
  if (!signingKey) throw new TypeError('encodeCertificate: a self-signed certificate needs selfPrivateKey');
  const algorithm = signatureAlgorithmFor(signingKey);

  const subjectPublicKeyInfo = AsnConvert.parse(spec.publicKey.export({type: 'spki', format: 'der'}), x509.SubjectPublicKeyInfo);
  const subjectKeyId = keyIdentifierOf(subjectPublicKeyInfo.subjectPublicKey);
  const subject = new x509.Name([
    new x509.RelativeDistinguishedName([
      new x509.AttributeTypeAndValue({type: OID.commonName, value: new x509.AttributeValue({utf8String: spec.commonName})}),
    ]),
  ]);

  const extension = (extnID: string, critical: boolean, value: unknown) =>
    new x509.Extension({extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value))});
  const extensions = [
    // A CA signs only end-entity certificates (path length 0): a stolen node key cannot mint more CAs.
    extension(OID.basicConstraints, true, new x509.BasicConstraints(spec.profile === 'ca' ? {cA: true, pathLenConstraint: 0} : {cA: false})),
    extension(
      OID.keyUsage,
      true,
      new x509.KeyUsage(spec.profile === 'ca' ? KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign : KEY_USAGE.digitalSignature),
    ),
    extension(OID.subjectKeyIdentifier, false, new x509.SubjectKeyIdentifier(subjectKeyId)),
    extension(
      OID.authorityKeyIdentifier,
      false,
      new x509.AuthorityKeyIdentifier({keyIdentifier: new x509.KeyIdentifier(spec.issuer?.keyIdentifier ?? subjectKeyId)}),
    ),
  ];
  if (spec.profile === 'node') {
    // Every daemon is a TLS server to its peers and a TLS client of them, with one certificate.
    extensions.push(extension(OID.extKeyUsage, false, new x509.ExtendedKeyUsage([OID.serverAuth, OID.clientAuth])));
    const names = [
      ...(spec.altNames?.dnsNames ?? []).map((dNSName) => new x509.GeneralName({dNSName})),
      ...(spec.altNames?.ipAddresses ?? []).map((address) => new x509.GeneralName({iPAddress: ipForEncoder(address)})),
    ];
    if (names.length > 0) extensions.push(extension(OID.subjectAltName, false, new x509.SubjectAlternativeName(names)));
  }

  const signatureAlgorithm = () =>
    new x509.AlgorithmIdentifier({algorithm: algorithm.oid, ...(algorithm.nullParameters ? {parameters: DER_NULL} : {})});
  const tbsCertificate = new x509.TBSCertificate({
    version: x509.Version.v3,
    serialNumber: new Uint8Array(spec.serialNumber).buffer,
    signature: signatureAlgorithm(),
    issuer: spec.issuer?.name ?? subject,
    validity: new x509.Validity({notBefore: spec.notBefore, notAfter: spec.notAfter}),
    subject,
    subjectPublicKeyInfo,
    extensions: new x509.Extensions(extensions),
  });
  const tbs = new Uint8Array(AsnConvert.serialize(tbsCertificate));
  // ECDSA signatures in X.509 are the DER ECDSA-Sig-Value, node's 'der' encoding; RSA ignores the option.
  const signature = sign(algorithm.hash, tbs, {key: signingKey, dsaEncoding: 'der'});
  const certificate = new x509.Certificate({
    tbsCertificate,
    tbsCertificateRaw: tbs.buffer,
    signatureAlgorithm: signatureAlgorithm(),
    signatureValue: new Uint8Array(signature).buffer,
  });
  return toPem(new Uint8Array(AsnConvert.serialize(certificate)), 'CERTIFICATE');
}

/**
 * Read what issuing needs from a CA certificate's DER: its subject, its key
 * identifier (the extension if present, else computed the way OpenSSL does)
 * and whether its key usage allows signing certificates.
 * @throws InvalidInputError when the DER is not a certificate.
 */
export async function readCertificateAuthority(der: Uint8Array, source: string): Promise<CertificateAuthorityDetails> {
  const {schema, x509} = await loadAsn1();
  let certificate: InstanceType<typeof x509.Certificate>;
  try {
    certificate = schema.AsnConvert.parse(der, x509.Certificate);
  } catch {
    throw new InvalidInputError(`${source} is not a valid X.509 certificate`);
  }
  const tbs = certificate.tbsCertificate;
  const find = (oid: string) => tbs.extensions?.find((e) => e.extnID === oid);
  const skiExtension = find(OID.subjectKeyIdentifier);
  const keyIdentifier = skiExtension
    ? schema.AsnConvert.parse(skiExtension.extnValue, x509.SubjectKeyIdentifier).buffer
    : keyIdentifierOf(tbs.subjectPublicKeyInfo.subjectPublicKey);
  const keyUsageExtension = find(OID.keyUsage);
  const mayIssue = keyUsageExtension
    ? (schema.AsnConvert.parse(keyUsageExtension.extnValue, x509.KeyUsage).toNumber() & KEY_USAGE.keyCertSign) !== 0
    : true;
  return {subject: tbs.subject, keyIdentifier, mayIssue};
}
