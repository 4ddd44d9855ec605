/**
 * A daemon's TLS identity is its node key, with real daemons (stub WireGuard):
 * - by default (no certificate files) two daemons form a mesh, and a client
 *   whose certificate key is not Ed25519 is refused at the handshake, with a
 *   log line saying why;
 * - in CA mode (certificates issued with `wgmesh certs issue --data-dir`) two
 *   daemons form a mesh, and a daemon whose certificate is not for its node
 *   key refuses to start with one line giving the command that issues the
 *   right one.
 */
import {execFile} from 'node:child_process';
import {readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {credentials, type ServiceError} from '@grpc/grpc-js';
import {generateMeshId, loadIdentity} from '@wgmesh/core';
import {afterAll, afterEach, describe, expect, it} from 'vitest';
import {parse as parseYaml, stringify} from 'yaml';
import {ControlClient} from '../plugins/transport-grpc/src/generated/wgmesh/v1/control.js';
import {killAllDaemons, runCli, waitFor} from './helpers/cli.js';
import {MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

const run = promisify(execFile);

describe('TLS identity is the node key (real daemons)', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode;

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
    await killAllDaemons();
  });
  afterAll(() => killAllDaemons());

  /** A and B in one mesh, B joined through A with A's invite; by default with no certificate files, with `ca` in CA mode. */
  async function twoMembers(ca: boolean): Promise<string> {
    cluster = await MeshCluster.create(`wgmesh-node-tls-${ca ? 'ca' : 'keys'}-`, {ca});
    [a, b] = (await cluster.addNodes([{name: 'a', logLevel: 'debug'}, {name: 'b'}])) as [MeshNode, MeshNode];
    const {meshId} = await a.call('mesh.create', {});
    await b.call('mesh.join', {invite: await a.invite(meshId), via: a.endpoint});
    const ids = await Promise.all([a, b].map(async (node) => (await node.call('status', {})).nodeId));
    await waitFor(async () => (await Promise.all([a.view(meshId), b.view(meshId)])).every((view) => ids.every((id) => view.includes(id))), 10_000, 'A and B to see each other');
    return meshId;
  }

  it.each([
    {mode: 'no certificate files', ca: false},
    {mode: 'CA mode, certificates issued with --data-dir', ca: true},
  ])('two daemons form a mesh: $mode', async ({ca}) => {
    const meshId = await twoMembers(ca);
    expect((await b.view(meshId)).length).toBe(2);
  });

  it('without certificate files, a client whose certificate key is not Ed25519 is refused at the handshake, and the daemon logs why', async () => {
    await twoMembers(false);
    const dir = cluster!.sandbox.dir;
    const [key, cert] = [join(dir, 'p256.key'), join(dir, 'p256.pem')];
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=p256']);
    const mark = a.logMark();
    const creds = credentials.createSsl(null, await readFile(key), await readFile(cert), {rejectUnauthorized: false});
    const client = new ControlClient(a.endpoint, creds, {'grpc.ssl_target_name_override': 'wgmesh.invalid'});
    try {
      const error = await new Promise<ServiceError | null>((resolve) => {
        const call = client.fetchSnapshot({meshId: generateMeshId()}, {deadline: Date.now() + 5_000});
        call.on('data', () => undefined);
        call.on('error', (failure: ServiceError) => resolve(failure));
        call.on('end', () => resolve(null));
      });
      expect(error?.code).toBe(14); // UNAVAILABLE: the connection is closed before any call
    } finally {
      client.close();
    }
    await waitFor(
      () => a.logLinesSince(mark).some((line) => line.msg === 'refused a connection: client certificate not accepted' && line.reason === 'the certificate key is not Ed25519, so it proves no node'),
      5_000,
      'A to log the refusal',
    );
  });

  it('in CA mode, a daemon whose certificate is not for its node key refuses to start, in one line that says how to issue one', async () => {
    await twoMembers(true);
    await b.kill('SIGTERM');
    // A certificate of the same CA, issued the old way: for a new key pair, not for B's node key.
    const legacy = join(cluster!.sandbox.dir, 'legacy');
    const issued = await runCli(['certs', 'issue', '--ca', cluster!.pki!.caDir, '--name', 'b', '--host', '127.0.0.1', '--out', legacy, '--json'], cluster!.sandbox.env);
    expect(issued.code, issued.stderr).toBe(0);
    const {certificatePath, privateKeyPath} = JSON.parse(issued.stdout) as {certificatePath: string; privateKeyPath: string};
    const config = parseYaml(await readFile(b.configFile, 'utf8')) as Record<string, unknown>;
    await writeFile(b.configFile, stringify({...config, certificatePath, privateKeyPath}));
    const identity = await loadIdentity(join(b.dataDir, 'identity.json'));
    const result = await runCli(['daemon', '--config', b.configFile, '--log-level', 'warn'], cluster!.sandbox.env, 15_000);
    expect(result.code).not.toBe(0);
    const errorLines = result.stderr.split('\n').filter((line) => line.startsWith('Error:'));
    expect(errorLines).toHaveLength(1);
    expect(errorLines[0]).toContain(`config key certificatePath: the certificate in ${certificatePath} is not for this node's key (node id ${identity?.nodeId})`);
    expect(errorLines[0]).toContain(`wgmesh certs issue --ca CA_DIR --signing-key ${identity?.signingKey}`);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
