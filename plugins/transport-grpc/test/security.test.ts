/**
 * Mutual TLS with node keys: who may talk to whom, which node the member
 * learns, what each side sees when it is refused, what the server logs, and
 * what a daemon does with missing or broken certificate files (CA mode).
 */
import {execFile} from 'node:child_process';
import {readFile, writeFile, chmod} from 'node:fs/promises';
import {promisify} from 'node:util';
import {join} from 'node:path';
import {credentials, type ServiceError} from '@grpc/grpc-js';
import {LogLimiter, systemClock} from '@wgmesh/core';
import {testMeshId, SetMeshDaemon, SetSyncSession} from '@wgmesh/testkit/compliance';
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest';
import backendsHook from '../src/hooks/backends.js';
import {ControlClient} from '../src/generated/wgmesh/v1/control.js';
import {Harness, logged} from './helpers/harness.js';
import {makePki, type NodeFiles, type Pki} from './helpers/pki.js';

const run = promisify(execFile);

let pki: Pki;
const harness = new Harness();

beforeAll(async () => {
  pki = await makePki();
});
afterEach(() => harness.closeAll());
afterAll(() => pki?.cleanup());

/** A listening transport serving one toy mesh: CA mode with `node`'s files, default mode with `null`. */
async function server(node: NodeFiles | null = pki.alpha, section: Record<string, unknown> = {}) {
  const daemon = new SetMeshDaemon();
  const built = await harness.create({...(node ? {node} : {}), section});
  const {port} = await built.transport.listen(daemon.handlers);
  const meshId = testMeshId();
  daemon.add(meshId, ['x'], new Uint8Array([1]));
  return {...built, daemon, port, meshId};
}

/**
 * One snapshot call from a hand-made grpc-js client with the given TLS
 * material: its error, or null. Without `ca` the client accepts any server certificate.
 */
async function rawCall(port: number, tls: {ca?: string; key?: string; cert?: string}): Promise<ServiceError | null> {
  const [ca, key, cert] = await Promise.all([tls.ca ? readFile(tls.ca) : null, tls.key ? readFile(tls.key) : null, tls.cert ? readFile(tls.cert) : null]);
  const verify = tls.ca ? {} : {rejectUnauthorized: false};
  const client = new ControlClient(`127.0.0.1:${port}`, credentials.createSsl(ca, key, cert, verify), {'grpc.ssl_target_name_override': 'localhost'});
  try {
    return await new Promise((resolve) => {
      const call = client.fetchSnapshot({meshId: testMeshId()}, {deadline: Date.now() + 3_000});
      call.on('data', () => undefined);
      call.on('error', (error: ServiceError) => resolve(error));
      call.on('end', () => resolve(null));
    });
  } finally {
    client.close();
  }
}

describe('the plugin', () => {
  it('announces the grpc transport through its hook and its package.json', async () => {
    const factories = await backendsHook();
    expect(factories.map((factory) => `${factory.kind}:${factory.name}`)).toEqual(['transport:grpc']);
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {wgmesh: {backends: unknown[]}; oclif: {hooks: Record<string, string>}};
    expect(pkg.wgmesh.backends).toEqual([expect.objectContaining({kind: 'transport', name: 'grpc'})]);
    expect(pkg.oclif.hooks['wgmesh:backends']).toBe('./dist/hooks/backends.js');
  });
});

/** A self-signed certificate made by openssl for a new key of `type` (`ed25519`, `ec`, `rsa`), CN `cn`: its key and certificate files. */
async function selfSigned(type: 'ed25519' | 'ec' | 'rsa', cn: string): Promise<{key: string; cert: string}> {
  const key = join(pki.dir, `self-${type}-${cn}.key`);
  const cert = join(pki.dir, `self-${type}-${cn}.pem`);
  const keyOptions = type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : type === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ed25519'];
  await run('openssl', ['req', '-x509', ...keyOptions, '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${cn}`]);
  return {key, cert};
}

describe('default mode: node keys, no certificate files', () => {
  it('two nodes talk, and the member learns the caller\'s node id on every kind of call', async () => {
    const {port, meshId, daemon} = await server(null);
    const client = await harness.create();
    const endpoint = `127.0.0.1:${port}`;
    await client.transport.fetchSnapshot(endpoint, meshId);
    await client.transport.sync(endpoint, meshId, 'set', new SetSyncSession(new Set(['y']), 4));
    await client.transport.message(endpoint, meshId, new Uint8Array([1]));
    const {nodeId, signingKey} = client.identity;
    expect(daemon.peers.map((peer) => [peer.nodeId, peer.signingKey, peer.authenticatedAs])).toEqual([
      [nodeId, signingKey, nodeId],
      [nodeId, signingKey, nodeId],
      [nodeId, signingKey, nodeId],
    ]);
  });

  it('a certificate naming another node proves only its own key', async () => {
    const {port, daemon} = await server(null);
    const victim = await harness.create();
    const forged = await selfSigned('ed25519', victim.identity.nodeId);
    const error = await rawCall(port, {key: forged.key, cert: forged.cert});
    expect(error?.code).toBe(5); // NOT_FOUND: the toy daemon has no mesh of the raw call's random id
    expect(daemon.peers).toHaveLength(1);
    expect(daemon.peers[0]?.nodeId).toMatch(/^[0-9a-f]{32}$/);
    expect(daemon.peers[0]?.nodeId).not.toBe(victim.identity.nodeId);
    expect(daemon.peers[0]?.authenticatedAs).toBe(daemon.peers[0]?.nodeId);
  });

  it.each(['ec', 'rsa'] as const)('a client with a self-signed %s certificate is refused, and the server logs why', async (type) => {
    const {port, logger, daemon} = await server(null);
    const {key, cert} = await selfSigned(type, 'not-a-node');
    const error = await rawCall(port, {key, cert});
    expect(error?.code).toBe(14); // UNAVAILABLE: the connection is closed before any call
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('the certificate key is not Ed25519'), {timeout: 5_000});
    expect(daemon.peers).toEqual([]);
  });

  it('a client with no certificate is refused, and the server logs why', async () => {
    const {port, logger, daemon} = await server(null);
    const error = await rawCall(port, {});
    expect(error?.code).toBe(14);
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('no client certificate presented'), {timeout: 5_000});
    expect(daemon.peers).toEqual([]);
  });

  it('a server that proves no Ed25519 key is refused by the client', async () => {
    // A member whose certificate is an ECDSA one: build its transport around hand-made material.
    const {GrpcTransport} = await import('../src/transport.js');
    const {resolveSettings} = await import('../src/settings.js');
    const {recordingLogger} = await import('@wgmesh/testkit/compliance');
    const {key, cert} = await selfSigned('ec', 'ecdsa-server');
    const [certificate, privateKey] = await Promise.all([readFile(cert), readFile(key)]);
    const daemon = new SetMeshDaemon();
    const meshId = testMeshId();
    daemon.add(meshId, ['x']);
    const ecdsaServer = new GrpcTransport({
      settings: resolveSettings({listenAddress: '127.0.0.1'}, {gRPCPort: 0, timeoutMs: 3_000}),
      material: {mode: 'self', ca: null, certificate, privateKey, commonName: 'ecdsa-server', notAfter: new Date(), warnings: []},
      logger: recordingLogger(),
      limiter: new LogLimiter({clock: systemClock}),
    });
    try {
      const {port} = await ecdsaServer.listen(daemon.handlers);
      const {transport} = await harness.create();
      await expect(transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array())).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
      expect(daemon.peers).toEqual([]);
    } finally {
      await ecdsaServer.close();
    }
  });
});

describe('CA mode', () => {
  it('two nodes of one CA talk, and the member learns the caller\'s node id and certificate name', async () => {
    const {port, meshId, daemon} = await server();
    const {transport} = await harness.create({node: pki.beta});
    await transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array([1]));
    expect(daemon.peers.map((peer) => [peer.authenticatedAs, peer.nodeId, peer.signingKey])).toEqual([['beta', pki.beta.identity.nodeId, pki.beta.identity.signingKey]]);
  });

  it('works without privateKeyPath: the node key is the certificate key', async () => {
    const {port, meshId, daemon} = await server({...pki.alpha, privateKeyPath: undefined as never});
    const {transport} = await harness.create({node: {...pki.beta, privateKeyPath: undefined as never}});
    await transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array([1]));
    expect(daemon.peers.map((peer) => peer.nodeId)).toEqual([pki.beta.identity.nodeId]);
  });

  it('a client of the CA whose certificate key is not Ed25519 is refused, and the server logs why', async () => {
    const {port, logger, daemon} = await server();
    const error = await rawCall(port, {ca: pki.caPath, key: pki.ecdsa.privateKeyPath, cert: pki.ecdsa.certificatePath});
    expect(error?.code).toBe(14);
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('the certificate key is not Ed25519'), {timeout: 5_000});
    expect(daemon.peers).toEqual([]);
  });

  it('a client with a node key but no certificate of the CA is refused', async () => {
    const {port, logger, daemon} = await server();
    const {transport} = await harness.create();
    await expect(transport.message(`127.0.0.1:${port}`, testMeshId(), new Uint8Array())).rejects.toMatchObject({code: 'PEER_UNREACHABLE'});
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('certificate not signed by our CA'), {timeout: 5_000});
    expect(daemon.peers).toEqual([]);
  });

  it('a client with no certificate is refused, and the server logs why', async () => {
    const {port, logger, daemon} = await server();
    const error = await rawCall(port, {ca: pki.caPath});
    expect(error?.code).toBe(14); // UNAVAILABLE: the connection is closed before any call
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('no client certificate presented'), {timeout: 5_000});
    expect(daemon.peers).toEqual([]);
  });

  it('a client whose certificate comes from a foreign CA is refused, and the server logs why', async () => {
    const {port, logger, daemon} = await server();
    const error = await rawCall(port, {ca: pki.caPath, key: pki.rogue.privateKeyPath, cert: pki.rogue.certificatePath});
    expect(error?.code).toBe(14);
    await vi.waitFor(() => expect(logged(logger, 'warn').join('\n')).toContain('certificate not signed by our CA'), {timeout: 5_000});
    expect(daemon.peers).toEqual([]);
  });

  it('the transport reports a refused client certificate in words', async () => {
    // The rogue node trusts the real CA (so it accepts the server) but holds a foreign certificate:
    // build its transport around hand-made material, as loadTlsMaterial would refuse that combination.
    const {port, meshId} = await server();
    const {GrpcTransport} = await import('../src/transport.js');
    const {resolveSettings} = await import('../src/settings.js');
    const {recordingLogger} = await import('@wgmesh/testkit/compliance');
    const [ca, certificate, privateKey] = await Promise.all([readFile(pki.caPath), readFile(pki.rogue.certificatePath), readFile(pki.rogue.privateKeyPath)]);
    const rogue = new GrpcTransport({
      settings: resolveSettings({}, {timeoutMs: 3_000}),
      material: {mode: 'ca', ca, certificate, privateKey, commonName: 'rogue', notAfter: new Date(), warnings: []},
      logger: recordingLogger(),
      limiter: new LogLimiter({clock: systemClock}),
    });
    try {
      await expect(rogue.message(`127.0.0.1:${port}`, meshId, new Uint8Array())).rejects.toMatchObject({
        code: 'PEER_UNREACHABLE',
        message: expect.stringMatching(/(probably|may have) refused our certificate \(is certificatePath issued by the CA that member trusts\?\)/),
      });
    } finally {
      await rogue.close();
    }
  });

  it('a server whose certificate comes from a foreign CA is refused by the client', async () => {
    const {port, meshId, daemon} = await server({...pki.rogue});
    const {transport} = await harness.create({node: pki.beta});
    await expect(transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array())).rejects.toMatchObject({
      code: 'PEER_UNREACHABLE',
      message: expect.stringContaining("TLS failure: the member's certificate is not signed by our CA"),
    });
    expect(daemon.peers).toEqual([]);
  });

  it('checks the dialled address against the server certificate, unless told not to', async () => {
    const {port, meshId} = await server(pki.elsewhere);
    const strict = await harness.create({node: pki.beta});
    await expect(strict.transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array())).rejects.toMatchObject({
      code: 'PEER_UNREACHABLE',
      message: expect.stringContaining("the member's certificate does not list 127.0.0.1"),
    });
    const lax = await harness.create({node: pki.beta, section: {verifyServerName: false}});
    await expect(lax.transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array())).resolves.toBeInstanceOf(Uint8Array);
  });
});

describe('certificate configuration errors name the key and the file', () => {
  const attempt = (node: object, section: Record<string, unknown> = {}) =>
    harness.create({node: node as never, section}).then(
      () => undefined,
      (error: unknown) => error as Error & {code: string},
    );

  it('a partial set', async () => {
    const error = await attempt({caCertificatePath: pki.caPath, privateKeyPath: pki.alpha.privateKeyPath, identity: pki.alpha.identity});
    expect(error).toMatchObject({code: 'CONFIG', message: expect.stringContaining('certificatePath is not set')});
  });

  it.each([
    ['a certificate of the CA for another node', () => ({...pki.alpha, identity: pki.beta.identity})],
    ['a certificate of the CA for an ECDSA key', () => ({...pki.ecdsa, identity: pki.beta.identity})],
  ])('%s: one line saying so, with the command that issues the right one', async (_what, node) => {
    const error = await attempt(node());
    const {nodeId, signingKey} = pki.beta.identity;
    expect(error).toMatchObject({code: 'CONFIG'});
    expect(error?.message).toContain(`is not for this node's key (node id ${nodeId}); issue one for it with 'wgmesh certs issue --ca CA_DIR --signing-key ${signingKey}`);
    expect(error?.message).not.toContain('\n');
  });

  it('a missing file', async () => {
    const missing = join(pki.dir, 'missing.pem');
    const error = await attempt({...pki.alpha, certificatePath: missing});
    expect(error?.message).toBe(`config key certificatePath: cannot read ${missing}: no such file`);
  });

  it('a file that is not PEM', async () => {
    const junk = join(pki.dir, 'junk.pem');
    await writeFile(junk, 'hello');
    expect((await attempt({...pki.alpha, caCertificatePath: junk}))?.message).toContain(`${junk} holds no PEM certificate`);
    await chmod(junk, 0o600);
    expect((await attempt({...pki.alpha, privateKeyPath: junk}))?.message).toBe(`config key privateKeyPath: ${junk} is not a PEM private key`);
  });

  it('a key that belongs to another certificate', async () => {
    const error = await attempt({...pki.alpha, privateKeyPath: pki.beta.privateKeyPath});
    expect(error?.message).toContain('is not the private key of the certificate');
  });

  it('a certificate from another CA', async () => {
    const error = await attempt({...pki.rogue, caCertificatePath: pki.caPath});
    expect(error?.message).toContain(`was not issued by the CA in ${pki.caPath}`);
  });

  it('a leaf certificate given as the CA', async () => {
    const error = await attempt({...pki.alpha, caCertificatePath: pki.beta.certificatePath});
    expect(error?.message).toContain('is not a CA');
  });

  it('a bad grpc section key', async () => {
    expect((await attempt(pki.alpha, {maxConcurrentSyncs: 0}))?.message).toBe('config key grpc.maxConcurrentSyncs: must be an integer number of sessions from 1 to 4096');
    expect((await attempt(pki.alpha, {keepaliveTimeMs: 5_000, keepaliveTimeoutMs: 6_000}))?.message).toContain('keepaliveTimeoutMs must be less than keepaliveTimeMs');
    expect((await attempt(pki.alpha, {plaintext: true}))?.code).toBe('CONFIG');
  });

  it('a private key readable by others is a warning, not an error', async () => {
    await chmod(pki.beta.privateKeyPath, 0o644);
    try {
      const {logger} = await harness.create({node: pki.beta});
      expect(logged(logger, 'warn').join('\n')).toContain(`chmod 600 ${pki.beta.privateKeyPath}`);
    } finally {
      await chmod(pki.beta.privateKeyPath, 0o600);
    }
  });
});
