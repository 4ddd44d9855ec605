/**
 * A CA-mode node whose certificate does not cover the control endpoint it
 * advertises, with real daemons (stub WireGuard, grpc on loopback). Members
 * check the dialled host against the certificate, so such a node would join
 * and then be unreachable to every member. It is refused at create and join
 * with a message that names the host, the names the certificate covers and
 * what to do; at start each mesh it advertises such a host in shows the same
 * problem in `status` and the log. Members that dial a node whose certificate
 * does not cover its host say so, naming the peer and the cause, a few times
 * a minute rather than on every try.
 */
import {afterEach, describe, expect, it} from 'vitest';
import {readFile, writeFile} from 'node:fs/promises';
import {parse, stringify} from 'yaml';
import {killAllDaemons, waitFor} from './helpers/cli.js';
import {LOG_LEVEL, MeshCluster, parseLogLines, type MeshNode} from './helpers/mesh-cluster.js';

/** Rewrite keys of a node's YAML config (takes effect at its next start). */
async function editConfig(node: MeshNode, edit: (config: Record<string, unknown>) => void): Promise<void> {
  const config = parse(await readFile(node.configFile, 'utf8')) as Record<string, unknown>;
  edit(config);
  await writeFile(node.configFile, stringify(config));
}

/** Collapse oclif's wrapping of an error to one line. */
function oneLine(text: string): string {
  return text.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ');
}

describe('a certificate that does not cover the advertised endpoint (CA mode)', () => {
  let cluster: MeshCluster | undefined;

  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
    await killAllDaemons();
  });

  it('join and create with an endpoint the certificate does not list fail, naming the host, the listed names and the fix', async () => {
    cluster = await MeshCluster.create('wgmesh-cert-host-', {ca: true});
    const [alpha, beta] = await cluster.addNodes([{name: 'alpha'}, {name: 'beta'}]);
    const {meshId} = await alpha!.call('mesh.create', {});
    // beta's certificate lists 127.0.0.1 only: members dialling "localhost" would refuse it.
    const joined = await beta!.cli(['mesh', 'join', meshId, '--invite', await alpha!.invite(meshId), '--via', alpha!.endpoint, '--endpoint', 'localhost']);
    expect(joined.code, joined.stdout).not.toBe(0);
    const message = oneLine(joined.stderr);
    expect(message).toContain("'localhost'");
    expect(message).toContain('IP 127.0.0.1');
    expect(message).toMatch(/wgmesh certs issue .*--host localhost/);
    expect((await beta!.call('mesh.list', {})).map((mesh) => mesh.meshId)).toEqual([]);
    const created = await beta!.cli(['mesh', 'create', '--endpoint', 'localhost']);
    expect(created.code).not.toBe(0);
    expect(oneLine(created.stderr)).toContain("'localhost'");
    // The covered host still works.
    await beta!.call('mesh.join', {invite: await alpha!.invite(meshId), via: alpha!.endpoint, endpoint: '127.0.0.1'});
  }, 60_000);

  it('at start, a mesh advertising a host the certificate does not list is shown in status and logged, and members log the failure named and rate-limited', async () => {
    cluster = await MeshCluster.create('wgmesh-cert-start-', {ca: true});
    const [alpha, beta] = await cluster.addNodes([{name: 'alpha', config: {syncInterval: '200ms'}}, {name: 'beta'}]);
    const {meshId} = await alpha!.call('mesh.create', {});
    await beta!.call('mesh.join', {invite: await alpha!.invite(meshId), via: alpha!.endpoint});
    const betaId = (await beta!.call('status', {})).nodeId;
    // beta gets a certificate for another address and restarts: it still advertises 127.0.0.1.
    await beta!.kill('SIGTERM');
    const files = await cluster.pki!.issue('beta-moved', {dataDir: beta!.dataDir}, '127.0.0.9');
    await editConfig(beta!, (config) => Object.assign(config, files));
    await beta!.start();
    const status = await beta!.call('status', {});
    const problem = status.meshes.find((mesh) => mesh.meshId === meshId)?.problem ?? '';
    expect(problem).toContain("'127.0.0.1'");
    expect(problem).toContain('IP 127.0.0.9');
    expect(problem).toContain('wgmesh mesh set');
    const startLines = parseLogLines(beta!.logs()).filter((line) => line.level >= LOG_LEVEL.error && String(line.msg).includes('certificate'));
    expect(startLines.length).toBeGreaterThan(0);

    // alpha dials beta at 127.0.0.1 and refuses its certificate: its log names beta and the cause, a few times, not on every try.
    const mark = alpha!.logMark();
    const started = Date.now();
    await waitFor(() => alpha!.logLinesSince(mark).some((line) => JSON.stringify(line).includes('does not list 127.0.0.1')), 20_000, 'alpha to log the refused certificate');
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 8_000 - (Date.now() - started))));
    const failures = alpha!.logLinesSince(mark).filter((line) => line.level >= LOG_LEVEL.warn && JSON.stringify(line).includes('127.0.0.1'));
    console.log(`alpha logged ${failures.length} line(s) about beta in ${((Date.now() - started) / 1000).toFixed(1)} s`, failures.slice(0, 3));
    expect(failures.some((line) => JSON.stringify(line).includes(betaId))).toBe(true);
    expect(failures.length).toBeLessThanOrEqual(5);
  }, 90_000);
});
