/**
 * Interoperability of the certificates `wgmesh certs` makes: real mutual-TLS
 * handshakes with node:tls (what @grpc/grpc-js runs on), configured the way the
 * gRPC transport is (present the node certificate, trust only the CA, demand a
 * client certificate), and `openssl verify` where openssl is installed.
 */
import {execFile} from 'node:child_process';
import {mkdir, mkdtemp, readFile, rm} from 'node:fs/promises';
import {createServer as createNetServer} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tls from 'node:tls';
import {promisify} from 'node:util';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {initCertificateAuthority, issueNodeCertificateFiles, type NodeCertificateFiles} from '../src/certs/index.js';
import {commandAvailable, skipWithout, type Availability} from '@wgmesh/testkit';

const execFileAsync = promisify(execFile);

/** The PEM files of one node, as the transport would read them from its config. */
interface Credentials {
  key: Buffer;
  cert: Buffer;
  ca: Buffer;
}

async function credentials(files: NodeCertificateFiles): Promise<Credentials> {
  const [key, cert, ca] = await Promise.all([readFile(files.privateKeyPath), readFile(files.certificatePath), readFile(files.caCertificatePath)]);
  return {key, cert, ca};
}

/** How one handshake went, from both ends. */
interface Outcome {
  ok: boolean;
  serverError?: string;
  clientError?: string;
}

/**
 * One mutual-TLS exchange: the server sends a greeting once it has accepted
 * the client (with TLS 1.3 the client's side of the handshake finishes before
 * the server has checked the client certificate, so only the greeting proves
 * both sides accepted each other).
 */
async function handshake(server: Credentials, client: Credentials | Omit<Credentials, 'key' | 'cert'>, target: {host: string; servername?: string}): Promise<Outcome> {
  const outcome: Outcome = {ok: false};
  const tlsServer = tls.createServer({...server, requestCert: true, rejectUnauthorized: true}, (socket) => socket.end('hello'));
  tlsServer.on('tlsClientError', (error) => (outcome.serverError ??= error.message));
  await new Promise<void>((resolve, reject) => {
    tlsServer.once('error', reject);
    tlsServer.listen(0, target.host, () => resolve());
  });
  const {port} = tlsServer.address() as {port: number};
  try {
    await new Promise<void>((resolve) => {
      let received = '';
      const socket = tls.connect({...client, host: target.host, port, ...(target.servername ? {servername: target.servername} : {})});
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('error', (error) => (outcome.clientError ??= error.message));
      socket.on('close', () => {
        outcome.ok = received === 'hello';
        resolve();
      });
    });
  } finally {
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  }
  return outcome;
}

/**
 * What a server that demands a client certificate makes of `client`'s, without
 * refusing it: node's server drops a refused client without saying why, so the
 * reason is read here.
 */
async function clientCertificateVerdict(server: Credentials, client: Credentials): Promise<{authorized: boolean; authorizationError?: string}> {
  let verdict: {authorized: boolean; authorizationError?: string} | undefined;
  const tlsServer = tls.createServer({...server, requestCert: true, rejectUnauthorized: false}, (socket) => {
    verdict = {authorized: socket.authorized, ...(socket.authorizationError ? {authorizationError: String(socket.authorizationError)} : {})};
    socket.end('hello');
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', () => resolve()));
  const {port} = tlsServer.address() as {port: number};
  try {
    await new Promise<void>((resolve) => {
      const socket = tls.connect({...client, host: '127.0.0.1', port});
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });
  } finally {
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  }
  if (!verdict) throw new Error('the server never completed a handshake');
  return verdict;
}

/** Whether this machine has an IPv6 loopback to listen on. */
async function ipv6Loopback(): Promise<Availability> {
  const server = createNetServer();
  return new Promise((resolve) => {
    server.once('error', (error) => resolve({ok: false, reason: `this machine has no IPv6 loopback (::1): ${error.message}`}));
    server.listen(0, '::1', () => server.close(() => resolve({ok: true})));
  });
}

const openssl = commandAvailable('openssl', ['version'], 'openssl');

describe('certificates in real mutual TLS', () => {
  let dir: string;
  let alpha: NodeCertificateFiles;
  let beta: NodeCertificateFiles;
  let stranger: NodeCertificateFiles;
  let a: Credentials;
  let b: Credentials;
  let s: Credentials;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wgmesh-certs-tls-'));
    await initCertificateAuthority({outDir: join(dir, 'ca')});
    await initCertificateAuthority({outDir: join(dir, 'other-ca')});
    alpha = await issueNodeCertificateFiles({caDir: join(dir, 'ca'), outDir: join(dir, 'alpha'), name: 'alpha', hosts: ['alpha.mesh.test', '127.0.0.1', '::1']});
    beta = await issueNodeCertificateFiles({caDir: join(dir, 'ca'), outDir: join(dir, 'beta'), name: 'beta', hosts: ['beta.mesh.test', '127.0.0.1', '::1']});
    stranger = await issueNodeCertificateFiles({caDir: join(dir, 'other-ca'), outDir: join(dir, 'stranger'), name: 'stranger', hosts: ['127.0.0.1', '::1']});
    [a, b, s] = await Promise.all([credentials(alpha), credentials(beta), credentials(stranger)]);
  });
  afterAll(async () => {
    if (dir) await rm(dir, {recursive: true, force: true});
  });

  it('two nodes of one CA accept each other over an IPv4 address SAN, both ways', async () => {
    expect(await handshake(a, b, {host: '127.0.0.1'})).toEqual({ok: true});
    expect(await handshake(b, a, {host: '127.0.0.1'})).toEqual({ok: true});
  });

  it('and over a DNS SAN', async () => {
    expect(await handshake(a, b, {host: '127.0.0.1', servername: 'alpha.mesh.test'})).toEqual({ok: true});
  });

  it('and over an IPv6 address SAN', async (context) => {
    if (skipWithout('the IPv6 address SAN handshake', await ipv6Loopback())) context.skip();
    expect(await handshake(a, b, {host: '::1'})).toEqual({ok: true});
  });

  it('a server refuses a client whose certificate comes from another CA', async () => {
    // The client trusts the server's CA, so only the server's check can fail.
    const outcome = await handshake(a, {...s, ca: a.ca}, {host: '127.0.0.1'});
    expect(outcome.ok).toBe(false);
    expect(outcome.serverError).toBeDefined();
    // Why: the stranger's issuer is not the CA the server trusts (and a node of the right CA passes the same check).
    expect(await clientCertificateVerdict(a, {...s, ca: a.ca})).toEqual({authorized: false, authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'});
    expect(await clientCertificateVerdict(a, b)).toEqual({authorized: true});
  });

  it('a client refuses a server whose certificate comes from another CA', async () => {
    // The server trusts the client's CA, so only the client's check can fail.
    const outcome = await handshake({...s, ca: a.ca}, a, {host: '127.0.0.1'});
    expect(outcome.ok).toBe(false);
    expect(outcome.clientError).toMatch(/certificate/i);
  });

  it('a server refuses a client with no certificate', async () => {
    const outcome = await handshake(a, {ca: a.ca}, {host: '127.0.0.1'});
    expect(outcome.ok).toBe(false);
    expect(outcome.serverError).toBeDefined();
  });

  it('a client refuses a server reached by a name its certificate does not list', async () => {
    const outcome = await handshake(a, b, {host: '127.0.0.1', servername: 'beta.mesh.test'});
    expect(outcome.ok).toBe(false);
    expect(outcome.clientError).toMatch(/does not match|altnames/i);
  });

  describe('openssl', () => {
    it('verifies node certificates for both TLS purposes against their CA only', async (context) => {
      if (skipWithout('the openssl verify check', openssl)) context.skip();
      for (const purpose of ['sslserver', 'sslclient']) {
        const {stdout} = await execFileAsync('openssl', ['verify', '-x509_strict', '-purpose', purpose, '-CAfile', alpha.caCertificatePath, alpha.certificatePath]);
        expect(stdout.trim()).toBe(`${alpha.certificatePath}: OK`);
      }
      const refused = await execFileAsync('openssl', ['verify', '-CAfile', alpha.caCertificatePath, stranger.certificatePath]).then(
        () => undefined,
        (error: {code: number; stdout: string; stderr: string}) => error,
      );
      expect(refused?.code).not.toBe(0);
      expect(`${refused?.stdout}${refused?.stderr}`).toMatch(/unable to get local issuer certificate/);
    });

    it('issues from a CA made by openssl (RSA), and that certificate works in mutual TLS', async (context) => {
      if (skipWithout('the openssl CA check', openssl)) context.skip();
      const caDir = join(dir, 'openssl-ca');
      await mkdir(caDir);
      await execFileAsync('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=openssl CA',
        '-keyout', join(caDir, 'ca.key'), '-out', join(caDir, 'ca.crt'),
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      ]);
      const gamma = await issueNodeCertificateFiles({caDir, outDir: join(dir, 'gamma'), name: 'gamma', hosts: ['127.0.0.1']});
      const delta = await issueNodeCertificateFiles({caDir, outDir: join(dir, 'delta'), name: 'delta', hosts: ['127.0.0.1']});
      const {stdout} = await execFileAsync('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(caDir, 'ca.crt'), gamma.certificatePath]);
      expect(stdout.trim()).toBe(`${gamma.certificatePath}: OK`);
      expect(await handshake(await credentials(gamma), await credentials(delta), {host: '127.0.0.1'})).toEqual({ok: true});
      expect((await handshake(await credentials(gamma), a, {host: '127.0.0.1'})).ok).toBe(false);
    });
  });
});
