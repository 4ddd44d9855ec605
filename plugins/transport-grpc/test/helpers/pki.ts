/**
 * Throwaway certificates for the transport tests' CA mode, made with the
 * openssl CLI: a CA with two nodes, a foreign CA with a rogue node, a node of
 * the real CA whose certificate lists only a name nobody dials (for
 * server-name checks), each certificate for its node's Ed25519 node key, and
 * one certificate of the real CA for an ECDSA key (a key that is no node's).
 */
import {execFile} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {generateIdentity, type NodeIdentity} from '@wgmesh/core';

const run = promisify(execFile);

/** The three files a node is configured with, and the node identity whose key the certificate is for. */
export interface NodeFiles {
  caCertificatePath: string;
  certificatePath: string;
  privateKeyPath: string;
  identity: NodeIdentity;
}

/** Every file the tests use. */
export interface Pki {
  dir: string;
  /** Nodes of the real CA: alpha, beta; `elsewhere` lists only DNS:elsewhere.test. */
  alpha: NodeFiles;
  beta: NodeFiles;
  elsewhere: NodeFiles;
  /** A node of a foreign CA that trusts only the foreign CA. */
  rogue: NodeFiles;
  /** A certificate of the real CA for an ECDSA P-256 key (its `identity` is an unrelated node's). */
  ecdsa: NodeFiles;
  /** The real CA's certificate and the foreign one. */
  caPath: string;
  foreignCaPath: string;
  /** Remove everything. */
  cleanup(): Promise<void>;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function makeCa(dir: string, name: string): Promise<{cert: string; key: string}> {
  const cert = join(dir, `${name}.pem`);
  const key = join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return {cert, key};
}

/** A node certificate from `ca`: for a new node identity's Ed25519 key, or with `ecdsa` for a new P-256 key. */
async function makeNode(dir: string, name: string, ca: {cert: string; key: string}, altNames: string, ecdsa = false): Promise<NodeFiles> {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const cert = join(dir, `${name}.pem`);
  const ext = join(dir, `${name}.ext`);
  const identity = generateIdentity();
  await writeFile(ext, `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
  if (ecdsa) {
    await run('openssl', ['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
  } else {
    await writeFile(key, identity.tlsPrivateKey().export({type: 'pkcs8', format: 'pem'}), {mode: 0o600});
    await run('openssl', ['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${name}`]);
  }
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-out', cert, '-days', '1', '-extfile', ext]);
  await chmod(key, 0o600);
  return {caCertificatePath: ca.cert, certificatePath: cert, privateKeyPath: key, identity};
}

/** Make the whole set in a new temporary directory. */
export async function makePki(): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'wgmesh-grpc-pki-'));
  try {
    const [ca, foreign] = await Promise.all([makeCa(dir, 'ca'), makeCa(dir, 'foreign-ca')]);
    const loopback = 'IP:127.0.0.1,IP:::1,DNS:localhost';
    const [alpha, beta, elsewhere, rogue, ecdsa] = await Promise.all([
      makeNode(dir, 'alpha', ca, loopback),
      makeNode(dir, 'beta', ca, loopback),
      makeNode(dir, 'elsewhere', ca, 'DNS:elsewhere.test'),
      makeNode(dir, 'rogue', foreign, loopback),
      makeNode(dir, 'ecdsa', ca, loopback, true),
    ]);
    return {dir, alpha, beta, elsewhere, rogue, ecdsa, caPath: ca.cert, foreignCaPath: foreign.cert, cleanup: () => rm(dir, {recursive: true, force: true})};
  } catch (error) {
    await rm(dir, {recursive: true, force: true});
    throw error;
  }
}
