/**
 * `wgmesh certs init` and `wgmesh certs issue` through the real CLI (bin/run.js,
 * after the build), with HOME and every XDG dir in a sandbox.
 */
import {X509Certificate, createPrivateKey} from 'node:crypto';
import {readFile, stat} from 'node:fs/promises';
import {join} from 'node:path';
import {certificateNode, generateIdentity, loadIdentity} from '@wgmesh/core';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {parse as parseYaml} from 'yaml';
import {makeSandbox, runCli, type Sandbox} from './helpers/cli.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

describe('wgmesh certs', () => {
  let sandbox: Sandbox;
  let caDir: string;
  let outDir: string;

  beforeAll(async () => {
    sandbox = await makeSandbox('wgmesh-certs-cli-');
    caDir = join(sandbox.dir, 'ca');
    outDir = join(sandbox.dir, 'node-alpha');
  });
  afterAll(async () => {
    await sandbox?.cleanup();
  });

  const certs = (...args: string[]) => runCli(['certs', ...args], sandbox.env);
  const mode = async (file: string) => (await stat(file)).mode & 0o777;

  /** A failed run: exit 1, nothing on stdout, one `Error:` line on stderr. */
  function expectOneLineError(result: {code: number; stdout: string; stderr: string}, pattern: RegExp): void {
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^Error: /);
    expect(result.stderr).toMatch(pattern);
    expect(result.stderr).not.toMatch(/\bat .*\.js:\d+/);
  }

  it('init writes a CA (key 0600) and tells what to do next', async () => {
    const result = await certs('init', '--out', caDir);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(join(caDir, 'ca.crt'));
    expect(result.stdout).toContain(join(caDir, 'ca.key'));
    expect(result.stdout).toContain(`wgmesh certs issue --ca ${caDir}`);
    expect(await mode(join(caDir, 'ca.key'))).toBe(0o600);
    const certificate = new X509Certificate(await readFile(join(caDir, 'ca.crt')));
    expect(certificate.ca).toBe(true);
    expect(certificate.checkPrivateKey(createPrivateKey(await readFile(join(caDir, 'ca.key'))))).toBe(true);
  });

  it('init refuses to overwrite the CA in one line, and --json reports errors as JSON', async () => {
    const before = await readFile(join(caDir, 'ca.key'), 'utf8');
    expectOneLineError(await certs('init', '--out', caDir), /ca\.crt, .*ca\.key already exist; pass --force/);
    const json = await certs('init', '--out', caDir, '--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({error: {code: 'INVALID_INPUT', message: expect.stringContaining('already exist')}});
    expect(await readFile(join(caDir, 'ca.key'), 'utf8')).toBe(before);
  });

  it('init --json prints the written paths', async () => {
    const dir = join(sandbox.dir, 'ca-json');
    const result = await certs('init', '--out', dir, '--name', 'Test mesh CA', '--days', '30', '--json');
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as {certificatePath: string; privateKeyPath: string; commonName: string; notAfter: string};
    expect(json).toEqual({certificatePath: join(dir, 'ca.crt'), privateKeyPath: join(dir, 'ca.key'), commonName: 'Test mesh CA', notAfter: expect.any(String)});
    const days = (Date.parse(json.notAfter) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  it('issue writes the node certificate, key and CA copy and prints config lines that point at them', async () => {
    const result = await certs('issue', '--ca', caDir, '--name', 'alpha', '--host', 'alpha.mesh.test', '--host', '192.0.2.10,fd00::1', '--out', outDir);
    expect(result.code, result.stderr).toBe(0);
    const configLines = result.stdout.split('\n').filter((line) => /^(caCertificatePath|certificatePath|privateKeyPath): /.test(line));
    expect(configLines).toHaveLength(3);
    const config = parseYaml(configLines.join('\n')) as Record<string, string>;
    expect(config).toEqual({
      caCertificatePath: join(outDir, 'ca.crt'),
      certificatePath: join(outDir, 'alpha.crt'),
      privateKeyPath: join(outDir, 'alpha.key'),
    });
    expect(await mode(config.privateKeyPath!)).toBe(0o600);
    expect(await readFile(config.caCertificatePath!, 'utf8')).toBe(await readFile(join(caDir, 'ca.crt'), 'utf8'));

    const ca = new X509Certificate(await readFile(config.caCertificatePath!));
    const certificate = new X509Certificate(await readFile(config.certificatePath!));
    expect(certificate.verify(ca.publicKey)).toBe(true);
    expect(certificate.subject).toBe('CN=alpha');
    expect(certificate.checkHost('alpha.mesh.test')).toBe('alpha.mesh.test');
    expect(certificate.checkIP('192.0.2.10')).toBe('192.0.2.10');
    expect(certificate.checkIP('fd00::1')).toBe('fd00::1');
    expect(certificate.keyUsage).toEqual(expect.arrayContaining([SERVER_AUTH, CLIENT_AUTH]));
    expect(certificate.checkPrivateKey(createPrivateKey(await readFile(config.privateKeyPath!)))).toBe(true);
  });

  it('issue --json prints the written paths and the SANs', async () => {
    const result = await certs('issue', '--ca', caDir, '--name', 'beta', '--host', 'fd00::2', '--out', outDir, '--days', '10', '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      name: 'beta',
      caCertificatePath: join(outDir, 'ca.crt'),
      certificatePath: join(outDir, 'beta.crt'),
      privateKeyPath: join(outDir, 'beta.key'),
      nodeId: null,
      dnsNames: [],
      ipAddresses: ['fd00::2'],
      notAfter: expect.any(String),
      truncated: false,
    });
  });

  it('issue --data-dir issues for the key of the identity there (made if missing), writes no key, and prints two config lines', async () => {
    const dataDir = join(sandbox.dir, 'data-gamma');
    const out = join(sandbox.dir, 'node-gamma');
    const result = await certs('issue', '--ca', caDir, '--data-dir', dataDir, '--name', 'gamma', '--host', '127.0.0.1', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    expect(await mode(join(dataDir, 'identity.json'))).toBe(0o600);
    const identity = await loadIdentity(join(dataDir, 'identity.json'));
    const certificate = new X509Certificate(await readFile(join(out, 'gamma.crt')));
    expect(certificateNode(certificate)).toEqual({nodeId: identity?.nodeId, signingKey: identity?.signingKey});
    expect(certificate.verify(new X509Certificate(await readFile(join(caDir, 'ca.crt'))).publicKey)).toBe(true);
    await expect(stat(join(out, 'gamma.key'))).rejects.toMatchObject({code: 'ENOENT'});
    expect(result.stdout).toContain(`with node id ${identity?.nodeId}`);
    const configLines = result.stdout.split('\n').filter((line) => /^(caCertificatePath|certificatePath|privateKeyPath): /.test(line));
    expect(parseYaml(configLines.join('\n'))).toEqual({caCertificatePath: join(out, 'ca.crt'), certificatePath: join(out, 'gamma.crt')});
    // Again for the same data dir: the same identity, so the same key.
    const again = await certs('issue', '--ca', caDir, '--data-dir', dataDir, '--name', 'gamma', '--host', '127.0.0.1', '--out', out, '--force', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({nodeId: identity?.nodeId, privateKeyPath: null});
  });

  it('issue --signing-key issues for that key', async () => {
    const identity = generateIdentity();
    const out = join(sandbox.dir, 'node-delta');
    const result = await certs('issue', '--ca', caDir, '--signing-key', identity.signingKey, '--name', 'delta', '--host', 'delta.test', '--out', out, '--json');
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({nodeId: identity.nodeId, privateKeyPath: null, certificatePath: join(out, 'delta.crt')});
    expect(certificateNode(new X509Certificate(await readFile(join(out, 'delta.crt'))))?.signingKey).toBe(identity.signingKey);
  });

  it('issue without a node key warns that no daemon accepts the certificate as its own', async () => {
    const result = await certs('issue', '--ca', caDir, '--name', 'epsilon', '--host', 'e.test', '--out', join(sandbox.dir, 'node-epsilon'));
    expect(result.code, result.stderr).toBe(0);
    // oclif wraps warnings to the terminal width with a ' ›' margin.
    expect(result.stderr.replace(/\s*›\s*/g, ' ').replace(/\s+/g, ' ')).toContain('no wgmesh daemon accepts it as its own; issue with --data-dir or --signing-key');
  });

  it('issue explains every bad input in one line', async () => {
    expectOneLineError(await certs('issue', '--ca', caDir, '--signing-key', 'abc', '--name', 'zeta', '--host', 'z.test', '--out', outDir), /invalid --signing-key "abc"/);
    expectOneLineError(await certs('issue', '--ca', caDir, '--name', 'alpha', '--host', 'alpha.mesh.test', '--out', outDir), /alpha\.crt, .*alpha\.key already exist; pass --force/);
    expectOneLineError(await certs('issue', '--ca', caDir, '--name', 'gamma', '--host', 'gamma:4000', '--out', outDir), /invalid host "gamma:4000"/);
    expectOneLineError(await certs('issue', '--ca', caDir, '--name', 'not_valid', '--host', 'x.test', '--out', outDir), /invalid node name "not_valid"/);
    expectOneLineError(await certs('issue', '--ca', join(sandbox.dir, 'missing'), '--name', 'gamma', '--host', 'x.test', '--out', outDir), /no CA certificate at .*missing\/ca\.crt/);
    expectOneLineError(await certs('issue', '--ca', caDir, '--name', 'gamma', '--out', outDir), /give at least one --host/);
  });

  it('--help shows examples', async () => {
    for (const command of ['init', 'issue']) {
      const result = await certs(command, '--help');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('EXAMPLES');
      expect(result.stdout).toContain(`wgmesh certs ${command} `);
    }
  });
});
