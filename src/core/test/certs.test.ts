import {X509Certificate, createPrivateKey, generateKeyPairSync} from 'node:crypto';
import {chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {AsnConvert} from '@peculiar/asn1-schema';
import {BasicConstraints, Certificate, ExtendedKeyUsage, KeyUsage, KeyUsageFlags, SubjectAlternativeName} from '@peculiar/asn1-x509';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {
  CA_CERTIFICATE_FILE,
  CA_KEY_FILE,
  DEFAULT_CA_DAYS,
  DEFAULT_NODE_DAYS,
  createCertificateAuthority,
  initCertificateAuthority,
  issueNodeCertificate,
  issueNodeCertificateFiles,
  loadCertificateAuthority,
  openCertificateAuthority,
  parseHosts,
  validateNodeName,
} from '../src/certs/index.js';
import {encodeCertificate} from '../src/certs/x509.js';
import {InvalidInputError} from '../src/errors.js';
import {SimulatedClock} from '@wgmesh/testkit';

const DAY_MS = 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** The extensions of a PEM certificate, decoded independently of the code under test. */
function extensionsOf(pem: string) {
  const der = new X509Certificate(pem).raw;
  const certificate = AsnConvert.parse(der, Certificate);
  const byOid = new Map((certificate.tbsCertificate.extensions ?? []).map((e) => [e.extnID, e]));
  const get = (oid: string) => {
    const extension = byOid.get(oid);
    if (!extension) throw new Error(`certificate has no extension ${oid}`);
    return extension;
  };
  return {
    version: certificate.tbsCertificate.version,
    basicConstraints: () => ({critical: get('2.5.29.19').critical, value: AsnConvert.parse(get('2.5.29.19').extnValue, BasicConstraints)}),
    keyUsage: () => ({critical: get('2.5.29.15').critical, flags: AsnConvert.parse(get('2.5.29.15').extnValue, KeyUsage).toNumber()}),
    extKeyUsage: () => [...AsnConvert.parse(get('2.5.29.37').extnValue, ExtendedKeyUsage)],
    altNames: () => [...AsnConvert.parse(get('2.5.29.17').extnValue, SubjectAlternativeName)],
    has: (oid: string) => byOid.has(oid),
  };
}

/** The InvalidInputError `promise` rejects with (fails the test if it resolves or throws something else). */
async function inputError(promise: Promise<unknown>): Promise<InvalidInputError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidInputError);
  return error as InvalidInputError;
}

/** The whole-second time X.509 keeps. */
const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;

describe('names', () => {
  it('accepts DNS-label node names and rejects anything that is not one', () => {
    for (const name of ['node-1', 'a', 'N0DE', 'x'.repeat(63)]) expect(validateNodeName(name)).toBe(name);
    for (const name of ['', '-node', 'node-', 'node.example', 'node_1', 'a b', '../etc', 'x'.repeat(64)]) {
      expect(() => validateNodeName(name), name).toThrow(InvalidInputError);
    }
  });

  it('sorts hosts into DNS names and canonical IPs, IPv6 included, without duplicates', () => {
    const sans = parseHosts(['Node1.Example.COM.', '192.0.2.10', 'FD00:0:0::1', '[fd00::2]', 'fd00::1', 'localhost', 'node1.example.com']);
    expect(sans.dnsNames).toEqual(['node1.example.com', 'localhost']);
    expect(sans.ipAddresses).toEqual(['192.0.2.10', 'fd00::1', 'fd00::2']);
  });

  it('rejects an empty host list, ports, zones, shorthand IPv4 and other junk with a one-line message', () => {
    expect(() => parseHosts([])).toThrow(/at least one --host/);
    for (const host of ['node1:4000', '[fd00::1]:4000', 'fe80::1%eth0', '127.1', '1.2.3.256', 'node_1.example', 'a..b', '', 'http://x', `${'a'.repeat(63)}.`.repeat(5)]) {
      let error: unknown;
      try {
        parseHosts([host]);
      } catch (e) {
        error = e;
      }
      expect(error, host).toBeInstanceOf(InvalidInputError);
      expect((error as Error).message, host).not.toContain('\n');
    }
  });
});

describe('certificate authority', () => {
  it('is self-signed, CA:true (critical, path length 0), may sign certificates, P-256, valid 10 years by default', async () => {
    const clock = new SimulatedClock(Date.UTC(2030, 5, 1, 12, 0, 0));
    const ca = await createCertificateAuthority({}, {clock});
    const certificate = new X509Certificate(ca.certificatePem);
    expect(certificate.ca).toBe(true);
    expect(certificate.checkIssued(certificate)).toBe(true);
    expect(certificate.verify(certificate.publicKey)).toBe(true);
    expect(certificate.checkPrivateKey(ca.privateKey)).toBe(true);
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(certificate.subject).toBe(`CN=${ca.commonName}`);
    expect(ca.commonName).toMatch(/^wgmesh CA [0-9a-f]{8}$/);

    const extensions = extensionsOf(ca.certificatePem);
    expect(extensions.version).toBe(2); // v3
    expect(extensions.basicConstraints()).toEqual({critical: true, value: expect.objectContaining({cA: true, pathLenConstraint: 0})});
    expect(extensions.keyUsage()).toEqual({critical: true, flags: KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign});

    expect(new Date(certificate.validTo).getTime()).toBe(seconds(clock.now() + DEFAULT_CA_DAYS * DAY_MS));
    expect(new Date(certificate.validFrom).getTime()).toBeLessThanOrEqual(clock.now());
    expect(ca.notAfter.getTime()).toBe(new Date(certificate.validTo).getTime());
  });

  it('takes a name and a validity, and rejects bad ones', async () => {
    const clock = new SimulatedClock(Date.UTC(2030, 0, 1));
    const ca = await createCertificateAuthority({commonName: 'Example mesh CA', days: 30}, {clock});
    expect(new X509Certificate(ca.certificatePem).subject).toBe('CN=Example mesh CA');
    expect(ca.notAfter.getTime()).toBe(clock.now() + 30 * DAY_MS);
    await expect(createCertificateAuthority({days: 0})).rejects.toThrow(InvalidInputError);
    await expect(createCertificateAuthority({days: 1.5})).rejects.toThrow(InvalidInputError);
    await expect(createCertificateAuthority({commonName: 'x'.repeat(65)})).rejects.toThrow(InvalidInputError);
  });

  it('gives two CAs different names and keys', async () => {
    const [a, b] = await Promise.all([createCertificateAuthority(), createCertificateAuthority()]);
    expect(a.commonName).not.toBe(b.commonName);
    expect(a.certificate.publicKey.equals(b.certificate.publicKey)).toBe(false);
  });
});

describe('node certificates', () => {
  it('verify against their CA only, carry every SAN (IPv6 too), both EKUs and CN = name', async () => {
    const clock = new SimulatedClock(Date.UTC(2030, 5, 1, 12, 0, 0));
    const ca = await createCertificateAuthority({}, {clock});
    const other = await createCertificateAuthority({}, {clock});
    const node = await issueNodeCertificate(ca, {name: 'node-1', hosts: ['node1.example.com', 'localhost', '192.0.2.10', 'fd00::1', '[fd00:0:0:0::abcd]']}, {clock});
    const certificate = new X509Certificate(node.certificatePem);

    expect(certificate.verify(ca.certificate.publicKey)).toBe(true);
    expect(certificate.checkIssued(ca.certificate)).toBe(true);
    expect(certificate.verify(other.certificate.publicKey)).toBe(false);
    expect(certificate.checkIssued(other.certificate)).toBe(false);
    expect(certificate.ca).toBe(false);
    expect(certificate.subject).toBe('CN=node-1');
    expect(certificate.issuer).toBe(ca.certificate.subject);
    expect(certificate.checkPrivateKey(node.privateKey)).toBe(true);
    expect(node.privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');

    expect(certificate.checkHost('node1.example.com')).toBe('node1.example.com');
    expect(certificate.checkHost('localhost')).toBe('localhost');
    expect(certificate.checkHost('node2.example.com')).toBeUndefined();
    expect(certificate.checkIP('192.0.2.10')).toBe('192.0.2.10');
    expect(certificate.checkIP('fd00::1')).toBe('fd00::1');
    expect(certificate.checkIP('fd00:0:0:0:0:0:0:1')).toBe('fd00:0:0:0:0:0:0:1');
    expect(certificate.checkIP('fd00::abcd')).toBe('fd00::abcd');
    expect(certificate.checkIP('fd00::2')).toBeUndefined();
    expect(certificate.checkIP('192.0.2.11')).toBeUndefined();
    expect(certificate.subjectAltName).toBe('DNS:node1.example.com, DNS:localhost, IP Address:192.0.2.10, IP Address:FD00:0:0:0:0:0:0:1, IP Address:FD00:0:0:0:0:0:0:ABCD');

    expect(certificate.keyUsage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]));
    const extensions = extensionsOf(node.certificatePem);
    expect(extensions.extKeyUsage().sort()).toEqual([SERVER_AUTH, CLIENT_AUTH].sort());
    expect(extensions.keyUsage()).toEqual({critical: true, flags: KeyUsageFlags.digitalSignature});
    expect(extensions.basicConstraints().critical).toBe(true);
    expect(extensions.basicConstraints().value.cA).toBe(false);
    expect(extensions.altNames()).toHaveLength(5);

    expect(new Date(certificate.validTo).getTime()).toBe(seconds(clock.now() + DEFAULT_NODE_DAYS * DAY_MS));
    expect(node.truncated).toBe(false);
  });

  it('get distinct positive serial numbers', async () => {
    const ca = await createCertificateAuthority();
    const serials = await Promise.all([1, 2, 3].map(async (i) => new X509Certificate((await issueNodeCertificate(ca, {name: `n${i}`, hosts: ['10.0.0.1']})).certificatePem).serialNumber));
    expect(new Set(serials).size).toBe(3);
    for (const serial of serials) expect(Number.parseInt(serial.slice(0, 2), 16)).toBeLessThan(0x80);
  });

  it('never outlive their CA: a longer validity is cut to the CA expiry', async () => {
    const clock = new SimulatedClock(Date.UTC(2030, 0, 1));
    const ca = await createCertificateAuthority({days: 10}, {clock});
    const node = await issueNodeCertificate(ca, {name: 'n', hosts: ['n.example'], days: 365}, {clock});
    expect(node.truncated).toBe(true);
    expect(node.notAfter.getTime()).toBe(ca.notAfter.getTime());
    const shorter = await issueNodeCertificate(ca, {name: 'n', hosts: ['n.example'], days: 3}, {clock});
    expect(shorter.truncated).toBe(false);
    expect(shorter.notAfter.getTime()).toBe(clock.now() + 3 * DAY_MS);
  });

  it('reject bad names, hosts and validities', async () => {
    const ca = await createCertificateAuthority();
    await expect(issueNodeCertificate(ca, {name: 'bad name', hosts: ['x.example']})).rejects.toThrow(/invalid node name/);
    await expect(issueNodeCertificate(ca, {name: 'n', hosts: []})).rejects.toThrow(/at least one --host/);
    await expect(issueNodeCertificate(ca, {name: 'n', hosts: ['x.example:443']})).rejects.toThrow(/invalid host/);
    await expect(issueNodeCertificate(ca, {name: 'n', hosts: ['x.example'], days: -1})).rejects.toThrow(/--days/);
  });
});

describe('opening a CA', () => {
  const sources = {certificate: '/ca/ca.crt', privateKey: '/ca/ca.key'};

  it('accepts its own certificate and key', async () => {
    const ca = await createCertificateAuthority({commonName: 'Round trip'});
    const pem = ca.privateKey.export({type: 'pkcs8', format: 'pem'}).toString();
    const opened = await openCertificateAuthority(ca.certificatePem, pem, sources);
    expect(opened.commonName).toBe('Round trip');
    expect(opened.certificate.fingerprint256).toBe(ca.certificate.fingerprint256);
  });

  it('rejects a key of another CA, a non-CA certificate, garbage, an encrypted key and an expired CA, each in one line naming the file', async () => {
    const clock = new SimulatedClock(Date.UTC(2030, 0, 1));
    const ca = await createCertificateAuthority({days: 10}, {clock});
    const other = await createCertificateAuthority({}, {clock});
    const keyPem = (key: typeof ca.privateKey) => key.export({type: 'pkcs8', format: 'pem'}).toString();
    const node = await issueNodeCertificate(ca, {name: 'n', hosts: ['n.example']}, {clock});

    const cases: [() => Promise<unknown>, RegExp][] = [
      [() => openCertificateAuthority(ca.certificatePem, keyPem(other.privateKey), sources, {clock}), /\/ca\/ca\.key is not the private key of \/ca\/ca\.crt/],
      [() => openCertificateAuthority(node.certificatePem, keyPem(node.privateKey), sources, {clock}), /\/ca\/ca\.crt is not a CA certificate/],
      [() => openCertificateAuthority('not a certificate', keyPem(ca.privateKey), sources, {clock}), /\/ca\/ca\.crt is not a PEM certificate/],
      [() => openCertificateAuthority(ca.certificatePem, 'garbage', sources, {clock}), /\/ca\/ca\.key is not a PEM private key/],
      [
        () => openCertificateAuthority(ca.certificatePem, ca.privateKey.export({type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret'}).toString(), sources, {clock}),
        /\/ca\/ca\.key is encrypted/,
      ],
      [() => openCertificateAuthority(ca.certificatePem, keyPem(ca.privateKey), sources, {clock: new SimulatedClock(clock.now() + 11 * DAY_MS)}), /expired on/],
    ];
    for (const [open, message] of cases) {
      const error = await inputError(open());
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain('\n');
      expect(error.message).not.toContain('PRIVATE KEY');
    }
  });
});

describe('certificate files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-certs-'));
  });
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true});
  });

  const mode = async (file: string) => (await stat(file)).mode & 0o777;
  const certificateMode = 0o644 & ~process.umask();

  it('init writes ca.crt (0644) and ca.key (0600) that load back as a matching CA', async () => {
    const caDir = join(dir, 'new', 'ca');
    const files = await initCertificateAuthority({outDir: caDir});
    expect(files.certificatePath).toBe(join(caDir, CA_CERTIFICATE_FILE));
    expect(files.privateKeyPath).toBe(join(caDir, CA_KEY_FILE));
    expect(await mode(files.certificatePath)).toBe(certificateMode);
    expect(await mode(files.privateKeyPath)).toBe(0o600);
    expect(await mode(caDir)).toBe(0o700 & ~process.umask());
    const key = createPrivateKey(await readFile(files.privateKeyPath));
    expect(new X509Certificate(await readFile(files.certificatePath)).checkPrivateKey(key)).toBe(true);
    const loaded = await loadCertificateAuthority(caDir);
    expect(loaded.commonName).toBe(files.commonName);
  });

  it('init refuses to overwrite either file and leaves them untouched; --force replaces them', async () => {
    const first = await initCertificateAuthority({outDir: dir});
    const before = await readFile(first.certificatePath, 'utf8');
    const error = await inputError(initCertificateAuthority({outDir: dir}));
    expect(error.message).toContain(first.certificatePath);
    expect(error.message).toContain('--force');
    expect(await readFile(first.certificatePath, 'utf8')).toBe(before);

    // Only the key present still counts: a half-made CA is not silently completed.
    await rm(first.certificatePath);
    await expect(initCertificateAuthority({outDir: dir})).rejects.toThrow(first.privateKeyPath);

    const second = await initCertificateAuthority({outDir: dir, force: true});
    expect(await readFile(second.certificatePath, 'utf8')).not.toBe(before);
    expect(await mode(second.privateKeyPath)).toBe(0o600);
  });

  it('issue writes NAME.crt (0644), NAME.key (0600) and ca.crt, with absolute paths, and a second node can share the directory', async () => {
    const caDir = join(dir, 'ca');
    const ca = await initCertificateAuthority({outDir: caDir});
    const out = join(dir, 'nodes');
    const first = await issueNodeCertificateFiles({caDir, outDir: out, name: 'alpha', hosts: ['alpha.example', 'fd00::a']});
    expect(first).toMatchObject({
      name: 'alpha',
      caCertificatePath: join(out, 'ca.crt'),
      certificatePath: join(out, 'alpha.crt'),
      privateKeyPath: join(out, 'alpha.key'),
      dnsNames: ['alpha.example'],
      ipAddresses: ['fd00::a'],
      truncated: false,
    });
    expect(await mode(first.certificatePath)).toBe(certificateMode);
    expect(await mode(first.caCertificatePath)).toBe(certificateMode);
    expect(await mode(first.privateKeyPath)).toBe(0o600);
    expect(await readFile(first.caCertificatePath, 'utf8')).toBe(await readFile(ca.certificatePath, 'utf8'));
    const certificate = new X509Certificate(await readFile(first.certificatePath));
    expect(certificate.verify(new X509Certificate(await readFile(ca.certificatePath)).publicKey)).toBe(true);
    expect(certificate.checkPrivateKey(createPrivateKey(await readFile(first.privateKeyPath)))).toBe(true);

    // ca.crt is already there with the same contents: not a conflict.
    const second = await issueNodeCertificateFiles({caDir, outDir: out, name: 'beta', hosts: ['192.0.2.2']});
    expect(second.caCertificatePath).toBe(first.caCertificatePath);
    // Even into the CA's own directory.
    await issueNodeCertificateFiles({caDir, outDir: caDir, name: 'gamma', hosts: ['gamma.example']});
  });

  it('issue refuses existing node files and a different ca.crt, writing nothing; --force overwrites', async () => {
    const caDir = join(dir, 'ca');
    await initCertificateAuthority({outDir: caDir});
    const out = join(dir, 'out');
    const first = await issueNodeCertificateFiles({caDir, outDir: out, name: 'alpha', hosts: ['alpha.example']});
    const keyBefore = await readFile(first.privateKeyPath, 'utf8');
    const error = await inputError(issueNodeCertificateFiles({caDir, outDir: out, name: 'alpha', hosts: ['alpha.example']}));
    expect(error.message).toContain(first.certificatePath);
    expect(error.message).toContain(first.privateKeyPath);
    expect(await readFile(first.privateKeyPath, 'utf8')).toBe(keyBefore);

    // A ca.crt from another CA in the output directory is a conflict too, and nothing is written.
    const otherCa = join(dir, 'other-ca');
    await initCertificateAuthority({outDir: otherCa});
    await expect(issueNodeCertificateFiles({caDir: otherCa, outDir: out, name: 'beta', hosts: ['beta.example']})).rejects.toThrow(`${first.caCertificatePath} already exists`);
    await expect(stat(join(out, 'beta.key'))).rejects.toThrow(/ENOENT/);

    const forced = await issueNodeCertificateFiles({caDir, outDir: out, name: 'alpha', hosts: ['alpha.example'], force: true});
    expect(await readFile(forced.privateKeyPath, 'utf8')).not.toBe(keyBefore);
    expect(await mode(forced.privateKeyPath)).toBe(0o600);
  });

  it('issue reports a missing, unreadable or mismatched CA in one line, and checks input before touching the CA', async () => {
    const out = join(dir, 'out');
    let error = await inputError(issueNodeCertificateFiles({caDir: join(dir, 'nowhere'), outDir: out, name: 'n', hosts: ['n.example']}));
    expect(error.message).toMatch(/no CA certificate at .*nowhere\/ca\.crt; create a CA with 'wgmesh certs init/);

    const caDir = join(dir, 'ca');
    await initCertificateAuthority({outDir: caDir});
    const otherDir = join(dir, 'other');
    await initCertificateAuthority({outDir: otherDir});
    await writeFile(join(caDir, 'ca.key'), await readFile(join(otherDir, 'ca.key')));
    error = await inputError(issueNodeCertificateFiles({caDir, outDir: out, name: 'n', hosts: ['n.example']}));
    expect(error.message).toMatch(/ca\.key is not the private key of .*ca\.crt/);

    // Unreadable: a directory where the key should be (chmod would not stop root).
    await rm(join(caDir, 'ca.key'));
    await mkdir(join(caDir, 'ca.key'));
    error = await inputError(issueNodeCertificateFiles({caDir, outDir: out, name: 'n', hosts: ['n.example']}));
    expect(error.message).toMatch(/cannot read the CA private key .*ca\.key: it is a directory/);

    await rm(join(caDir, 'ca.key'), {recursive: true});
    error = await inputError(issueNodeCertificateFiles({caDir, outDir: out, name: 'n', hosts: ['n.example']}));
    expect(error.message).toMatch(/no CA private key at/);

    // Bad input is reported first, whatever the state of the CA.
    await expect(issueNodeCertificateFiles({caDir, outDir: out, name: 'bad_name', hosts: ['n.example']})).rejects.toThrow(/invalid node name/);
    await expect(issueNodeCertificateFiles({caDir, outDir: out, name: 'ca', hosts: ['n.example']})).rejects.toThrow(/taken by the CA's own files/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });

  it('issue works with a CA whose key is RSA or another ECDSA curve', async () => {
    for (const [type, options] of [
      ['rsa', {modulusLength: 2048}],
      ['ec', {namedCurve: 'secp384r1'}],
    ] as const) {
      // A self-signed CA certificate for the foreign key, written as `certs init` would.
      const {privateKey, publicKey} = generateKeyPairSync(type as 'rsa', options as {modulusLength: number});
      const caDir = join(dir, type);
      await mkdir(caDir);
      const now = Date.now();
      const pem = await encodeCertificate({
        profile: 'ca',
        serialNumber: new Uint8Array([1, 2, 3]),
        commonName: `${type} CA`,
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + DAY_MS),
        publicKey,
        selfPrivateKey: privateKey,
      });
      await writeFile(join(caDir, 'ca.crt'), pem);
      await writeFile(join(caDir, 'ca.key'), privateKey.export({type: 'pkcs8', format: 'pem'}));
      await chmod(join(caDir, 'ca.key'), 0o600);
      const files = await issueNodeCertificateFiles({caDir, outDir: join(dir, `${type}-out`), name: 'n', hosts: ['n.example']});
      const caCertificate = new X509Certificate(pem);
      expect(caCertificate.verify(caCertificate.publicKey)).toBe(true);
      expect(new X509Certificate(await readFile(files.certificatePath)).verify(caCertificate.publicKey)).toBe(true);
      expect(files.truncated).toBe(true);
    }
  });

  it('rejects a key that cannot sign (X25519) with a clear message', async () => {
    const {privateKey, publicKey} = generateKeyPairSync('x25519');
    const error = await inputError(
      encodeCertificate({profile: 'ca', serialNumber: new Uint8Array([1]), commonName: 'x', notBefore: new Date(), notAfter: new Date(), publicKey, selfPrivateKey: privateKey}),
    );
    expect(error.message).toMatch(/unsupported CA key type x25519/);
  });
});
