/**
 * The certificate files on disk, as `wgmesh certs init` and `wgmesh certs
 * issue` lay them out: a CA directory with ca.crt (0644) and ca.key (0600), and
 * a node directory with NAME.crt (0644), a copy of ca.crt and, for a
 * certificate not issued for the node's own key, NAME.key (0600).
 * Nothing is overwritten unless asked, and every check runs before the first
 * byte is written, so a refused command leaves no half-made set behind.
 */
import {lstat, readdir, readFile, stat} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import {InvalidInputError} from '../errors.js';
import {createIdentity, loadIdentity, nodeIdFromSigningKey} from '../identity/identity.js';
import {writeFileAtomic} from '../util/files.js';
import {
  createCertificateAuthority,
  issueNodeCertificate,
  openCertificateAuthority,
  signingPublicKey,
  validateDays,
  type CertificateAuthority,
  type CertsDependencies,
  type CreateCertificateAuthorityOptions,
  type IssueNodeCertificateOptions,
} from './authority.js';
import {parseHosts, validateNodeName} from './names.js';

/** File name of the CA certificate, in the CA directory and beside every node certificate. */
export const CA_CERTIFICATE_FILE = 'ca.crt';
/** File name of the CA private key, in the CA directory only. */
export const CA_KEY_FILE = 'ca.key';

const CERTIFICATE_MODE = 0o644;
const KEY_MODE = 0o600;
// Far above any real PEM certificate or key (a few kilobytes).
const MAX_PEM_BYTES = 256 * 1024;

/** The files {@link initCertificateAuthority} wrote, with absolute paths. */
export interface CertificateAuthorityFiles {
  /** DIR/ca.crt: give it to every node. */
  readonly certificatePath: string;
  /** DIR/ca.key (0600): keep it secret; only issuing needs it. */
  readonly privateKeyPath: string;
  /** The CA's common name. */
  readonly commonName: string;
  /** When the CA expires. */
  readonly notAfter: Date;
}

/** The files {@link issueNodeCertificateFiles} wrote, with absolute paths: the transport's three TLS settings. */
export interface NodeCertificateFiles {
  /** The node's name (the certificate's CN). */
  readonly name: string;
  /** OUT/ca.crt, the config's `caCertificatePath`. */
  readonly caCertificatePath: string;
  /** OUT/NAME.crt, the config's `certificatePath`. */
  readonly certificatePath: string;
  /** OUT/NAME.key (0600), the config's `privateKeyPath`; undefined when issued for the node's own key (the daemon uses its identity). */
  readonly privateKeyPath: string | undefined;
  /** The node id the certificate proves, when issued for the node's key. */
  readonly nodeId: string | undefined;
  /** DNS subject alternative names. */
  readonly dnsNames: readonly string[];
  /** IP subject alternative names. */
  readonly ipAddresses: readonly string[];
  /** When the certificate expires. */
  readonly notAfter: Date;
  /** True when the requested validity was cut to the CA's expiry. */
  readonly truncated: boolean;
}

/** Options of {@link initCertificateAuthority}. */
export interface InitCertificateAuthorityOptions extends CreateCertificateAuthorityOptions {
  /** Directory to write ca.crt and ca.key into; created (0700) when missing. */
  readonly outDir: string;
  /** Overwrite existing files instead of refusing. */
  readonly force?: boolean;
}

/** Options of {@link issueNodeCertificateFiles}. */
export interface IssueNodeCertificateFilesOptions extends IssueNodeCertificateOptions {
  /** Directory holding the CA's ca.crt and ca.key. */
  readonly caDir: string;
  /** Directory to write NAME.crt, NAME.key and ca.crt into; created (0700) when missing. */
  readonly outDir: string;
  /**
   * A daemon's data directory: the certificate is issued for the signing key
   * of the identity there (created, as the daemon would, when there is none).
   * Excludes `signingKey`.
   */
  readonly dataDir?: string;
  /** Overwrite existing files instead of refusing. */
  readonly force?: boolean;
}

/** One file to write. */
interface PlannedFile {
  readonly path: string;
  readonly contents: string;
  readonly mode: number;
}

/** A file about to be written; `contents` when already known (an identical existing file is then no conflict). */
interface Target {
  readonly path: string;
  readonly contents?: string;
}

/** A short reason for a failed file operation, for a one-line message. */
function describeFsError(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    case 'EISDIR':
      return 'it is a directory';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return (error as Error).message;
  }
}

/** Read a PEM file of the CA directory, with a clear error for each way it can be missing or unreadable. */
async function readPemFile(path: string, what: string): Promise<Buffer> {
  try {
    // Size first: a PEM certificate or key is a few kilobytes, so never read a huge file whole.
    const info = await stat(path);
    if (info.isFile() && info.size > MAX_PEM_BYTES) throw new InvalidInputError(`${path} is ${info.size} bytes, too big to be a PEM ${what}`);
    return await readFile(path);
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new InvalidInputError(`no ${what} at ${path}; create a CA with 'wgmesh certs init --out DIR' and give that DIR to --ca`);
    }
    throw new InvalidInputError(`cannot read the ${what} ${path}: ${describeFsError(error)}`);
  }
}

/**
 * Refuse (unless `force`) to replace any planned file that exists; a file that
 * already holds exactly the planned contents is left alone and not a conflict.
 * Returns the files still to write.
 */
async function checkTargets<T extends Target>(files: readonly T[], force: boolean): Promise<T[]> {
  const toWrite: T[] = [];
  const conflicts: string[] = [];
  for (const file of files) {
    const existing = await lstat(file.path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw new InvalidInputError(`cannot check ${file.path}: ${describeFsError(error)}`);
    });
    if (existing === undefined) {
      toWrite.push(file);
      continue;
    }
    if (existing.isDirectory()) throw new InvalidInputError(`${file.path} is a directory; choose another --out`);
    const same =
      file.contents !== undefined &&
      existing.isFile() &&
      existing.size === Buffer.byteLength(file.contents) &&
      (await readFile(file.path, 'utf8').catch(() => undefined)) === file.contents;
    if (same) continue;
    if (!force) conflicts.push(file.path);
    toWrite.push(file);
  }
  if (conflicts.length > 0) {
    throw new InvalidInputError(`${conflicts.join(', ')} already ${conflicts.length === 1 ? 'exists' : 'exist'}; pass --force to overwrite, or choose another --out`);
  }
  return toWrite;
}

/**
 * Write the planned files, each atomically with its mode. Keys go first: if
 * we die half-way, what is left is a key without its certificate (useless, and
 * refused by the next run) rather than a certificate that looks complete.
 */
async function writeAll(files: readonly PlannedFile[]): Promise<void> {
  for (const file of [...files].sort((a, b) => a.mode - b.mode)) {
    try {
      await writeFileAtomic(file.path, file.contents, file.mode);
    } catch (error) {
      throw new InvalidInputError(`cannot write ${file.path}: ${describeFsError(error)}`);
    }
  }
}

/** Export a private key as unencrypted PKCS#8 PEM, the form OpenSSL, gRPC and Node all read. */
function privateKeyPem(key: CertificateAuthority['privateKey']): string {
  return key.export({type: 'pkcs8', format: 'pem'}).toString();
}

/**
 * Make a new CA and write OUT/ca.crt (0644) and OUT/ca.key (0600).
 * @throws InvalidInputError when a file exists (without `force`), the input is bad, or a file cannot be written.
 */
export async function initCertificateAuthority(options: InitCertificateAuthorityOptions, deps: CertsDependencies = {}): Promise<CertificateAuthorityFiles> {
  const outDir = resolve(options.outDir);
  const certificatePath = join(outDir, CA_CERTIFICATE_FILE);
  const privateKeyPath = join(outDir, CA_KEY_FILE);
  // Refuse before making a key.
  if (options.days !== undefined) validateDays(options.days);
  await checkTargets([{path: certificatePath}, {path: privateKeyPath}], options.force === true);
  const ca = await createCertificateAuthority(options, deps);
  await writeAll([
    {path: certificatePath, contents: ca.certificatePem, mode: CERTIFICATE_MODE},
    {path: privateKeyPath, contents: privateKeyPem(ca.privateKey), mode: KEY_MODE},
  ]);
  return {certificatePath, privateKeyPath, commonName: ca.commonName, notAfter: ca.notAfter};
}

/**
 * Open the CA in DIR (ca.crt and ca.key), checked as {@link openCertificateAuthority} does.
 * @throws InvalidInputError when a file is missing, unreadable, malformed or the two do not match.
 */
export async function loadCertificateAuthority(caDir: string, deps: CertsDependencies = {}): Promise<CertificateAuthority> {
  const dir = resolve(caDir);
  const certificatePath = join(dir, CA_CERTIFICATE_FILE);
  const privateKeyPath = join(dir, CA_KEY_FILE);
  const certificate = await readPemFile(certificatePath, 'CA certificate');
  const privateKey = await readPemFile(privateKeyPath, 'CA private key');
  return openCertificateAuthority(certificate, privateKey, {certificate: certificatePath, privateKey: privateKeyPath}, deps);
}

/** File name of a daemon's identity inside its data directory. */
const IDENTITY_FILE = 'identity.json';

/**
 * The signing key of the daemon identity in `dataDir`; a new identity is made
 * there when there is none, unless the directory holds meshes (those belong to
 * a lost identity, and the daemon refuses to start without it).
 * @throws InvalidInputError when the identity file is unreadable or lost.
 */
async function signingKeyOfDataDir(dataDir: string): Promise<string> {
  const file = join(resolve(dataDir), IDENTITY_FILE);
  try {
    const identity = await loadIdentity(file);
    if (identity) return identity.signingKey;
    const meshes = await readdir(join(resolve(dataDir), 'meshes')).catch(() => []);
    if (meshes.length > 0) throw new InvalidInputError(`${file} is missing but ${dataDir} holds meshes; restore the identity file before issuing its certificate`);
    return (await createIdentity(file)).signingKey;
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    throw new InvalidInputError(`cannot use the identity in --data-dir ${dataDir}: ${(error as Error).message}`);
  }
}

/**
 * Issue a node certificate from the CA in `caDir` and write OUT/NAME.crt
 * (0644) and OUT/ca.crt (0644; an identical existing copy is not a conflict,
 * so several nodes can share one OUT). For the node's own key (`signingKey`
 * or `dataDir`) nothing else is written: the daemon's identity holds the
 * private key. Otherwise a new key pair is made and OUT/NAME.key (0600) written.
 * @throws InvalidInputError for bad input, a bad CA, existing files (without `force`) or a write failure.
 */
export async function issueNodeCertificateFiles(options: IssueNodeCertificateFilesOptions, deps: CertsDependencies = {}): Promise<NodeCertificateFiles> {
  // Input first: a typo should not be reported as a CA problem.
  const name = validateNodeName(options.name);
  if (name.toLowerCase() === 'ca') {
    throw new InvalidInputError("the node name 'ca' is taken by the CA's own files (ca.crt, ca.key); choose another --name");
  }
  parseHosts(options.hosts);
  if (options.days !== undefined) validateDays(options.days);
  if (options.dataDir !== undefined && options.signingKey !== undefined) {
    throw new InvalidInputError('give either --data-dir or --signing-key (both name the node key the certificate is for), not both');
  }
  if (options.signingKey !== undefined) signingPublicKey(options.signingKey);
  const ca = await loadCertificateAuthority(options.caDir, deps);
  const outDir = resolve(options.outDir);
  const caCertificatePath = join(outDir, CA_CERTIFICATE_FILE);
  const certificatePath = join(outDir, `${name}.crt`);
  const force = options.force === true;
  // Into the CA's own directory, the CA's ca.crt is the copy (even if its PEM is laid out differently from ours).
  const caCopies: PlannedFile[] = outDir === resolve(options.caDir) ? [] : [{path: caCertificatePath, contents: ca.certificatePem, mode: CERTIFICATE_MODE}];
  const forNodeKey = options.dataDir !== undefined || options.signingKey !== undefined;
  const privateKeyPath = forNodeKey ? undefined : join(outDir, `${name}.key`);
  await checkTargets<Target>([...caCopies, {path: certificatePath}, ...(privateKeyPath ? [{path: privateKeyPath}] : [])], force);
  const signingKey = options.dataDir !== undefined ? await signingKeyOfDataDir(options.dataDir) : options.signingKey;
  const node = await issueNodeCertificate(ca, {...options, signingKey}, deps);
  const planned = [{path: certificatePath, contents: node.certificatePem, mode: CERTIFICATE_MODE}];
  if (privateKeyPath && node.privateKey) planned.push({path: privateKeyPath, contents: privateKeyPem(node.privateKey), mode: KEY_MODE});
  // Only rewrite ca.crt when it is missing or different (and allowed).
  await writeAll([...planned, ...(await checkTargets(caCopies, force))]);
  return {
    name,
    caCertificatePath,
    certificatePath,
    privateKeyPath,
    nodeId: signingKey === undefined ? undefined : nodeIdFromSigningKey(signingKey),
    dnsNames: node.altNames.dnsNames,
    ipAddresses: node.altNames.ipAddresses,
    notAfter: node.notAfter,
    truncated: node.truncated,
  };
}
