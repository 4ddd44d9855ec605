/**
 * Node metadata and the views over it, end to end: three real daemons on
 * loopback (gRPC with mutual TLS, stub WireGuard), driven by the real CLI.
 * One shared cluster; the tests run in order. Covers `node alias`,
 * `node describe`, `service delete` errors, alias conflicts resolved the same
 * way on every node, `mesh show` (table and JSON), `mesh query` and
 * `mesh graph` (DOT fed to the real `dot`, SVG/PNG, Graphviz missing).
 */
import {spawnSync} from 'node:child_process';
import {mkdir, readFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {MeshShowView} from '@wgmesh/core/client';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {killAllDaemons, runCli, waitFor, type CliResult} from './helpers/cli.js';
import {MeshCluster, type MeshNode} from './helpers/mesh-cluster.js';

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/;

/** A failed command: exit 1, one line on stderr, no stack trace. */
function expectOneLineError(result: CliResult, message: RegExp): void {
  expect(result.code, result.stdout + result.stderr).toBe(1);
  expect(result.stderr.trim().split('\n'), result.stderr).toHaveLength(1);
  expect(result.stderr).toMatch(/^Error: /);
  expect(result.stderr).toMatch(message);
}

describe('node metadata, mesh show, query and graph on three daemons', () => {
  let cluster: MeshCluster | undefined;
  let a: MeshNode, b: MeshNode, c: MeshNode;
  let meshId = '';
  const ids = new Map<MeshNode, string>();
  const idOf = (node: MeshNode): string => ids.get(node)!;
  const show = (node: MeshNode, mesh = meshId): Promise<MeshShowView> => node.call('mesh.show', {meshId: mesh});
  const nodeIn = (view: MeshShowView, node: MeshNode) => view.nodes.find((candidate) => candidate.id === idOf(node))!;

  beforeAll(async () => {
    cluster = await MeshCluster.create('wgmesh-meta-');
    [a, b, c] = (await cluster.addNodes(['a', 'b', 'c'].map((name) => ({name})))) as [MeshNode, MeshNode, MeshNode];
    for (const node of cluster.nodes) ids.set(node, (await node.call('status', {})).nodeId);
    ({meshId} = await a.call('mesh.create', {}));
    // Joined one after the other, so B has been in the mesh longer than C.
    await b.call('mesh.join', {meshId, invite: await a.invite(meshId), via: a.endpoint}, 20_000);
    await c.call('mesh.join', {meshId, invite: await a.invite(meshId), via: b.endpoint}, 20_000);
    await waitFor(async () => (await Promise.all([a, b, c].map((node) => node.view(meshId)))).every((view) => view.length === 3), 15_000, 'all three to see three members');
  });

  afterAll(async () => {
    await cluster?.close();
    await killAllDaemons();
  });

  it('resolves an alias two nodes claim to the same owner on every node (the one in the mesh longest) and marks the conflict', async () => {
    // C claims it first, B (which joined earlier) second: B still gets it.
    const first = await c.cliJson<{alias: string; meshIds: string[]; aliasLost: unknown[]}>(['node', 'alias', 'WEB']);
    expect(first).toEqual({alias: 'web', meshIds: [meshId], aliasLost: []});
    const human = await b.cli(['node', 'alias', 'web', '--mesh', meshId]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout.trim()).toBe(`alias set to "web" in mesh ${meshId}`);
    expect(human.stderr).toBe('');

    const bothClaims = async (node: MeshNode) => (await show(node)).nodes.filter((n) => n.alias === 'web').length === 2;
    await waitFor(async () => (await Promise.all([a, b, c].map(bothClaims))).every(Boolean), 10_000, 'every node to see both claims');

    const views = await Promise.all([a, b, c].map((node) => node.cliJson<MeshShowView>(['mesh', 'show', meshId])));
    for (const view of views) {
      expect(view.aliasConflicts).toEqual([{alias: 'web', owner: idOf(b), others: [idOf(c)]}]);
      expect(nodeIn(view, b)).toMatchObject({alias: 'web', aliasOwner: idOf(b), aliasConflict: true});
      expect(nodeIn(view, c)).toMatchObject({alias: 'web', aliasOwner: idOf(b), aliasConflict: true});
      expect(nodeIn(view, a)).toMatchObject({alias: null, aliasOwner: null, aliasConflict: false, homePeer: null});
    }

    // The table marks the owner with * and the loser with !, and explains.
    const table = await a.cli(['mesh', 'show', meshId]);
    const row = (node: MeshNode) => table.stdout.split('\n').find((line) => line.includes(` ${nodeIn(views[0]!, node).address} `)) ?? '';
    expect(row(b)).toMatch(/^web\* /);
    expect(row(c)).toMatch(/^web! /);
    expect(table.stdout).toContain(`alias web is claimed by 2 nodes: it resolves to ${nodeIn(views[0]!, b).address}`);

    // Claiming it again on C warns that the name belongs to B.
    const again = await c.cli(['node', 'alias', 'web']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`^Warning: in mesh ${meshId} the alias web already belongs to ${nodeIn(views[0]!, b).address.replace(/[.:]/g, '\\$&')} \\(node ${idOf(b)}\\)`));
    const againJson = await c.cliJson<{aliasLost: unknown[]}>(['node', 'alias', 'web']);
    expect(againJson.aliasLost).toEqual([{meshId, alias: 'web', owner: idOf(b), ownerAddress: nodeIn(views[0]!, b).address}]);

    // Every node's query resolves the name to B's address.
    for (const node of [a, b, c]) {
      const query = await node.cli(['mesh', 'query', meshId, "nodes[?alias=='web' && aliasOwner==id].address | [0]"]);
      expect(query.stdout.trim()).toBe(nodeIn(views[0]!, b).address);
    }
  });

  it('sets and clears descriptions and services everywhere, and rejects bad values in one line', async () => {
    const text = 'build box "α" <rack 3> {x} \\ -- y';
    expect((await a.cli(['node', 'describe', text])).stdout.trim()).toBe(`description set to ${JSON.stringify(text)} in mesh ${meshId}`);
    await waitFor(async () => nodeIn(await show(c), a).description === text, 10_000, 'C to see the description');
    expect((await a.cliJson<{description: string | null}>(['node', 'describe', '--clear'])).description).toBeNull();
    await waitFor(async () => nodeIn(await show(b), a).description === null, 10_000, 'B to see the description removed');
    expect((await c.cli(['node', 'alias', '--clear', '--mesh', meshId])).stdout.trim()).toBe(`alias removed in mesh ${meshId}`);

    const errors = await Promise.all([
      a.cli(['node', 'alias', 'bad-']),
      a.cli(['node', 'alias', 'under_score']),
      a.cli(['node', 'alias', 'x', '--clear']),
      a.cli(['node', 'alias']),
      a.cli(['node', 'describe', '']),
      a.cli(['node', 'describe', 'x'.repeat(257)]),
      a.cli(['node', 'describe', 'two\nlines']),
      a.cli(['node', 'alias', 'ok', '--mesh', 'aaaaaaaaaaaaaaaaaaaaaaaaaa']),
      a.cli(['node', 'describe', 'ok', '--mesh', 'Not-A-Mesh']),
      a.cli(['service', 'delete', 'never-set']),
      a.cli(['mesh', 'show', 'aaaaaaaaaaaaaaaaaaaaaaaaaa']),
      a.cli(['mesh', 'query', 'aaaaaaaaaaaaaaaaaaaaaaaaaa', 'nodes']),
      a.cli(['mesh', 'graph', 'aaaaaaaaaaaaaaaaaaaaaaaaaa']),
    ]);
    const expected = [
      /invalid alias "bad-": an alias is one DNS label/,
      /invalid alias "under_score"/,
      /give a new alias or --clear, not both/,
      /give the alias, or --clear to remove it/,
      /the description is empty; to remove it use --clear/,
      /description: must be at most 256 characters/,
      /description: must be one line without control characters/,
      /not a member of mesh aaaaaaaaaaaaaaaaaaaaaaaaaa/,
      /'Not-A-Mesh' is not a mesh id/,
      new RegExp(`service 'never-set' is not set on this node in mesh ${meshId}`),
      /not a member of mesh aaaaaaaaaaaaaaaaaaaaaaaaaa/,
      /not a member of mesh aaaaaaaaaaaaaaaaaaaaaaaaaa/,
      /not a member of mesh aaaaaaaaaaaaaaaaaaaaaaaaaa/,
    ];
    errors.forEach((result, index) => expectOneLineError(result, expected[index]!));

    const json = await a.cli(['node', 'alias', 'bad-', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({error: {code: 'INVALID_INPUT', message: expect.stringMatching(/invalid alias "bad-"/)}});
    // A service that is set is deleted, and a second delete names it.
    await a.call('service.set', {key: 'ssh', value: '22'});
    expect((await a.cli(['service', 'delete', 'ssh'])).code).toBe(0);
    expectOneLineError(await a.cli(['service', 'delete', 'ssh']), /service 'ssh' is not set on this node/);
  });

  it('fails in one line without a daemon, and checks aliases and expressions before looking for one', async () => {
    const env = cluster!.sandbox.env;
    const socket = join(cluster!.sandbox.dir, 'nobody.sock');
    const results = await Promise.all(
      [['node', 'alias', 'x'], ['node', 'describe', 'x'], ['mesh', 'query', meshId, 'nodes'], ['mesh', 'graph'], ['mesh', 'show', meshId]].map((args) => runCli([...args, '--socket', socket], env)),
    );
    for (const result of results) expectOneLineError(result, new RegExp(`not running at ${socket}`));
    expectOneLineError(await runCli(['node', 'alias', 'no spaces', '--socket', socket], env), /invalid alias "no spaces"/);
    const syntax = await runCli(['mesh', 'query', meshId, "nodes[?role=='peer'", '--socket', socket], env);
    expectOneLineError(syntax, /syntax error in the query at column 20 \(at the end\): unexpected end of expression/);
    const json = await runCli(['mesh', 'query', meshId, 'nodes[0] nodes', '--json', '--socket', socket], env);
    expect(JSON.parse(json.stdout)).toEqual({error: {code: 'INVALID_INPUT', message: expect.stringMatching(/column 10 \(near "nodes"\)/)}});
  });

  it('shows one member over IPC when asked by node id, with the same fields the whole view has for it', async () => {
    const whole = await show(b);
    const one = await b.call('mesh.show', {meshId, nodeId: idOf(c)});
    expect(one.nodes).toEqual(whole.nodes.filter((node) => node.id === idOf(c)));
    expect(one.nodes).toHaveLength(1);
    expect((await b.call('mesh.show', {meshId, nodeId: '0'.repeat(32)})).nodes).toEqual([]);
    await expect(b.call('mesh.show', {meshId, nodeId: 'not-a-node-id'})).rejects.toMatchObject({code: 'INVALID_INPUT'});
  });

  it('queries exactly the JSON mesh show prints; --json prints the raw result', async () => {
    const [shown, whole, keys] = await Promise.all([
      b.cliJson<MeshShowView>(['mesh', 'show', meshId]),
      b.cliJson<MeshShowView>(['mesh', 'query', meshId, '{meshId: meshId, prefix: prefix, nodes: nodes, aliasConflicts: aliasConflicts}']),
      b.cliJson<string[]>(['mesh', 'query', meshId, 'keys(@)']),
    ]);
    // `inbound` counts gossip and a member's `clockLagMs` is measured on each heartbeat: both move between two
    // calls; everything else is the same document.
    expect(keys.sort()).toEqual(Object.keys(shown).sort());
    const steady = (nodes: MeshShowView['nodes']) => nodes.map(({clockLagMs: _lag, ...node}) => node);
    expect({...whole, nodes: steady(whole.nodes)}).toEqual({meshId: shown.meshId, prefix: shown.prefix, nodes: steady(shown.nodes), aliasConflicts: shown.aliasConflicts});

    const [count, none, text, textJson, list] = await Promise.all([
      b.cli(['mesh', 'query', meshId, 'length(nodes)', '--json']),
      b.cli(['mesh', 'query', meshId, 'nodes[0].nothing', '--json']),
      b.cli(['mesh', 'query', meshId, 'meshId']),
      b.cli(['mesh', 'query', meshId, 'meshId', '--json']),
      b.cli(['mesh', 'query', meshId, "nodes[?self].id"]),
    ]);
    expect(JSON.parse(count.stdout)).toBe(3);
    expect(JSON.parse(none.stdout)).toBeNull();
    expect(text.stdout).toBe(`${meshId}\n`);
    expect(JSON.parse(textJson.stdout)).toBe(meshId);
    expect(JSON.parse(list.stdout)).toEqual([idOf(b)]);
    expectOneLineError(await b.cli(['mesh', 'query', meshId, 'nodes[].nope(@)']), /unknown function nope\(\) in the query at column 9/);
  });

  it('shows a readable table by default, coloured only when forced and never with NO_COLOR', async () => {
    const {NO_COLOR: _unset, ...colourable} = cluster!.sandbox.env;
    const run = (env: NodeJS.ProcessEnv) => runCli(['mesh', 'show', meshId, '--config', a.configFile], env);
    const [plain, piped, forced, both] = await Promise.all([
      run(cluster!.sandbox.env),
      run(colourable),
      run({...colourable, FORCE_COLOR: '1'}),
      run({...colourable, FORCE_COLOR: '1', NO_COLOR: '1'}),
    ]);
    const lines = plain.stdout.trim().split('\n');
    expect(lines[0]).toBe(`mesh ${meshId}  prefix ${(await show(a)).prefix}  3 nodes  this node is an admin (holds the authority key)`);
    expect(lines[1]!.split(/\s{2,}/)).toEqual(['ALIAS', 'ADDRESS', 'ROLE', 'ENDPOINT', 'HANDSHAKE', 'TRANSFER']);
    // The stub driver reports no handshake and no bytes for the other two peers.
    expect(lines.filter((line) => / peer +\S+ +never +0 B rx, 0 B tx$/.test(line))).toHaveLength(2);
    expect(lines.filter((line) => / \(self\) +-$/.test(line))).toHaveLength(1);
    for (const result of [plain, piped, both]) expect(result.stdout).not.toMatch(ANSI);
    expect(forced.stdout).toMatch(ANSI);
    expect(forced.stdout.replace(new RegExp(ANSI.source, 'g'), '')).toBe(plain.stdout);
  });

  it('graphs every mesh with bridges; hostile text stays valid DOT; renders SVG and PNG; says how to install Graphviz', async () => {
    // A second mesh that A and B are both in: both become bridges.
    const second = (await a.call('mesh.create', {})).meshId;
    await b.call('mesh.join', {meshId: second, invite: await a.invite(second), via: a.endpoint}, 20_000);
    // Hostile text a user can type: quotes, backslashes, braces, markup, unicode, a DOT edge operator.
    const hostile = 'x"; evil -> y; <b>{z}</b> \\ -- ☃ ]';
    await c.call('node.set', {description: hostile});
    await c.call('service.set', {key: 'k"{}<>\\--', value: 'v\n"]}<i>'});
    await waitFor(async () => nodeIn(await show(b), c).services['k"{}<>\\--'] !== undefined && nodeIn(await show(b), c).description === hostile, 10_000, 'B to see the hostile record');

    const graph = await b.cli(['mesh', 'graph']);
    expect(graph.code, graph.stderr).toBe(0);
    const svg = spawnSync('dot', ['-Tsvg'], {input: graph.stdout, encoding: 'utf8'});
    expect(svg.stderr).toBe('');
    expect(svg.status).toBe(0);
    expect(svg.stdout.match(/class="node"/g)).toHaveLength(5);
    expect(svg.stdout.match(/class="edge"/g)).toHaveLength(2);
    const summary = await b.cliJson<{meshIds: string[]; summary: Record<string, number>; data: string}>(['mesh', 'graph']);
    expect(summary.meshIds.sort()).toEqual([meshId, second].sort());
    expect(summary.summary).toEqual({meshes: 2, nodes: 5, homeEdges: 0, bridgeEdges: 2, exitEdges: 0});

    const out = join(cluster!.sandbox.dir, 'graphs');
    await mkdir(out, {recursive: true});
    const [svgFile, pngFile] = await Promise.all([
      b.cli(['mesh', 'graph', meshId, '--format', 'svg', '--output', join(out, 'mesh.svg')]),
      b.cli(['mesh', 'graph', '--format', 'png', '-o', join(out, 'mesh.png')]),
    ]);
    expect(svgFile.stdout.trim()).toBe(`wrote the svg graph of 1 mesh(es) to ${join(out, 'mesh.svg')}`);
    expect(await readFile(join(out, 'mesh.svg'), 'utf8')).toMatch(/<svg[\s\S]*<\/svg>/);
    expect(pngFile.code, pngFile.stderr).toBe(0);
    expect((await readFile(join(out, 'mesh.png'))).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    // Without Graphviz on PATH: one line that says how to install it; DOT still works.
    const noDot = {...cluster!.sandbox.env, PATH: join(cluster!.sandbox.dir, 'empty-path')};
    const missing = await runCli(['mesh', 'graph', '--format', 'svg', '--config', b.configFile], noDot);
    expectOneLineError(missing, /--format svg needs 'dot', which is not installed or not on PATH; install Graphviz \(Debian\/Ubuntu: apt-get install graphviz/);
    const dotOnly = await runCli(['mesh', 'graph', '--config', b.configFile], noDot);
    expect(dotOnly.code).toBe(0);
    expect(dotOnly.stdout).toMatch(/^digraph "wgmesh" \{/);
  });
});
