/**
 * Mutual TLS: who may talk to whom, what each side sees when it is refused,
 * what the server logs, and what a daemon does with missing or broken
 * certificate files.
 */
import {readFile, writeFile, chmod} from 'node:fs/promises';
import {join} from 'node:path';
import {credentials, type ServiceError} from '@grpc/grpc-js';
import {testMeshId, SetMeshDaemon} from '@wgmesh/core/testkit/compliance';
import {afterAll, afterEach, beforeAll, describe, expect, it, vi} from 'vitest';
import backendsHook from '../src/hooks/backends.js';
import {ControlClient} from '../src/generated/wgmesh/v1/control.js';
import {Harness, logged} from './helpers/harness.js';
import {makePki, type Pki} from './helpers/pki.js';

let pki: Pki;
const harness = new Harness();

beforeAll(async () => {
  pki = await makePki();
});
afterEach(() => harness.closeAll());
afterAll(() => pki?.cleanup());

async function server(node = pki.alpha, section: Record<string, unknown> = {}) {
  const daemon = new SetMeshDaemon();
  const built = await harness.create({node, section});
  const {port} = await built.transport.listen(daemon.handlers);
  const meshId = testMeshId();
  daemon.add(meshId, ['x'], new Uint8Array([1]));
  return {...built, daemon, port, meshId};
}

/** One snapshot call from a hand-made grpc-js client with the given TLS material: its error, or null. */
async function rawCall(port: number, tls: {ca: string; key?: string; cert?: string}): Promise<ServiceError | null> {
  const [ca, key, cert] = await Promise.all([readFile(tls.ca), tls.key ? readFile(tls.key) : null, tls.cert ? readFile(tls.cert) : null]);
  const client = new ControlClient(`127.0.0.1:${port}`, credentials.createSsl(ca, key, cert), {'grpc.ssl_target_name_override': 'localhost'});
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

describe('mutual TLS', () => {
  it('two nodes of one CA talk, and the member learns the caller by its certificate', async () => {
    const {port, meshId, daemon} = await server();
    const {transport} = await harness.create({node: pki.beta});
    await transport.message(`127.0.0.1:${port}`, meshId, new Uint8Array([1]));
    expect(daemon.peers.map((peer) => peer.authenticatedAs)).toEqual(['beta']);
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
    const {recordingLogger} = await import('@wgmesh/core/testkit/compliance');
    const [ca, certificate, privateKey] = await Promise.all([readFile(pki.caPath), readFile(pki.rogue.certificatePath), readFile(pki.rogue.privateKeyPath)]);
    const rogue = new GrpcTransport({
      settings: resolveSettings({}, {timeoutMs: 3_000}),
      material: {ca, certificate, privateKey, commonName: 'rogue', notAfter: new Date(), warnings: []},
      logger: recordingLogger(),
    });
    try {
      await expect(rogue.message(`127.0.0.1:${port}`, meshId, new Uint8Array())).rejects.toMatchObject({
        code: 'PEER_UNREACHABLE',
        message: expect.stringContaining('it probably refused our certificate'),
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

describe('without certificates', () => {
  it('the daemon starts, opens no port, and refuses to join or reach peers with instructions', async () => {
    const {transport, logger} = await harness.create();
    await expect(transport.listen(new SetMeshDaemon().handlers)).resolves.toEqual({port: 0});
    expect(logged(logger, 'warn').join('\n')).toContain('wgmesh certs init');
    const meshId = testMeshId();
    for (const attempt of [
      () => transport.fetchSnapshot('127.0.0.1:4000', meshId),
      () => transport.message('127.0.0.1:4000', meshId, new Uint8Array()),
    ]) {
      const error = await attempt().catch((caught: unknown) => caught);
      expect(error).toMatchObject({code: 'NO_CERTIFICATES'});
      expect((error as Error).message).toMatch(/wgmesh certs init --out DIR.*wgmesh certs issue.*caCertificatePath, certificatePath and privateKeyPath/);
    }
  });
});

describe('certificate configuration errors name the key and the file', () => {
  const attempt = (node: object, section: Record<string, unknown> = {}) =>
    harness.create({node: node as never, section}).then(
      () => undefined,
      (error: unknown) => error as Error & {code: string},
    );

  it('a partial set', async () => {
    const error = await attempt({caCertificatePath: pki.caPath, certificatePath: pki.alpha.certificatePath});
    expect(error).toMatchObject({code: 'CONFIG', message: expect.stringContaining('privateKeyPath is not set')});
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
    const error = await attempt({...pki.alpha, certificatePath: pki.rogue.certificatePath, privateKeyPath: pki.rogue.privateKeyPath});
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
