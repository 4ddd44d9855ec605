/**
 * The CLI's view modules without a daemon: human formats, colour rules, the
 * `mesh show` table, JMESPath queries with error positions, and the Graphviz
 * graph, whose DOT is fed to the real `dot` with hostile record text.
 */
import {spawnSync} from 'node:child_process';
import {truncate, type MeshShowNode, type MeshShowView} from '@wgmesh/core/client';
import {commandAvailable, meshShowNode, meshShowView, skipWithout} from '@wgmesh/testkit';
import fc from 'fast-check';
import {describe, expect, it} from 'vitest';
import {colourEnabled} from '../src/cli/colour.js';
import {formatAge, formatBytes, printable} from '../src/cli/format.js';
import {buildMeshGraph, htmlText, isExitRoute, meshGraphDot, renderDot, requireDot} from '@wgmesh/core/graph';
import {renderMeshTable} from '../src/cli/mesh-table.js';
import {evaluateQuery, formatQueryResult, locateSyntaxError} from '../src/cli/query.js';
import {renderTable} from '../src/cli/table.js';

const MESH_A = 'aaaaaaaaaaaaaaaaaaaaaaaaaa';
const MESH_B = 'bbbbbbbbbbbbbbbbbbbbbbbbbb';
const id = (n: number): string => n.toString(16).padStart(32, '0');

/** A node as `mesh show --json` prints it, a reachable peer unless patched. */
function node(n: number, patch: Partial<MeshShowNode> = {}): MeshShowNode {
  return meshShowNode(id(n), {
    wgPublicKey: `${'A'.repeat(42)}${n % 10}=`,
    address: `fd00::${n.toString(16)}`,
    controlEndpoint: `192.0.2.${n}:4000`,
    wgEndpoint: `192.0.2.${n}:51820`,
    ...patch,
  });
}

function mesh(meshId: string, nodes: MeshShowNode[], aliasConflicts: MeshShowView['aliasConflicts'] = []): MeshShowView {
  return meshShowView(meshId, nodes, {aliasConflicts});
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;

describe('human formats', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [10 * 1024, '10 KiB'],
    [3.25 * 1024 ** 2, '3.3 MiB'],
    [5 * 1024 ** 3, '5 GiB'],
  ])('formatBytes(%d) is %s', (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  it.each([
    [12, '12s ago'],
    [65, '1m 5s ago'],
    [300, '5m ago'],
    [3 * 3600 + 120 + 7, '3h 2m ago'],
    [2 * 86_400 + 3600, '2d 1h ago'],
    [-30, 'just now'],
  ])('formatAge of %d s is %s', (seconds, text) => expect(formatAge(1_000_000_000 - seconds * 1000, 1_000_000_000)).toBe(text));

  it('makes record text inert on a terminal and truncates by code point', () => {
    expect(printable('\u001b[31mred\nnext\u2028')).toBe('\\x1b[31mred\\x0anext\\u2028');
    expect(truncate('🚀🚀🚀🚀', 3)).toBe('🚀🚀…');
    expect(truncate('short', 10)).toBe('short');
  });
});

describe('colour', () => {
  it.each([
    [true, {}, true],
    [false, {}, false],
    [true, {NO_COLOR: '1'}, false],
    [true, {NO_COLOR: ''}, true],
    [false, {FORCE_COLOR: '1'}, true],
    [true, {FORCE_COLOR: '0'}, true],
    [false, {FORCE_COLOR: '1', NO_COLOR: '1'}, false],
    [true, {TERM: 'dumb'}, false],
  ])('TTY %s with %j: %s', (isTTY, env, expected) => expect(colourEnabled({isTTY}, env)).toBe(expected));

  it('keeps columns aligned when cells are coloured', () => {
    const red = (text: string) => `\u001b[31m${text}\u001b[39m`;
    const plain = renderTable(['A', 'B'], [['x', 'y'], ['long', 'z']]);
    const styled = renderTable(['A', 'B'], [[{text: 'x', style: red}, 'y'], ['long', {text: 'z', style: red}]]);
    expect(styled).not.toBe(plain);
    expect(styled.replace(ANSI, '')).toBe(plain);
  });
});

describe('mesh show table', () => {
  const now = 1_700_000_000_000;
  const owner = node(1, {alias: 'web', aliasOwner: id(1), aliasConflict: true, self: true});
  const loser = node(2, {alias: 'web', aliasOwner: id(1), aliasConflict: true, stats: {latestHandshakeMs: now - 12_000, rxBytes: 1536, txBytes: 10 * 1024 ** 2}});
  const stale = node(3, {alias: 'db', aliasOwner: id(3), stats: {latestHandshakeMs: now - 600_000, rxBytes: 0, txBytes: 0}});
  const client = node(4, {role: 'client', controlEndpoint: null, wgEndpoint: null, stats: {latestHandshakeMs: null, rxBytes: 0, txBytes: 0}, homePeer: id(3)});
  const hostile = node(5, {alias: 'x\u001b[2J\nEVIL', aliasOwner: null, description: 'desc\u001b]0;title\u0007'});
  const view = mesh(MESH_A, [owner, loser, stale, client, hostile], [{alias: 'web', owner: id(1), others: [id(2)]}]);

  it('shows a NATed client\'s reflexive endpoint, its NAT behaviour and a direct path', () => {
    const natted = node(6, {role: 'client', controlEndpoint: null, wgEndpoint: null, stats: null, homePeer: id(3), nat: {endpoint: '198.18.1.1:51820', mapping: 'endpoint-independent'}, path: 'direct'});
    const symmetric = node(7, {role: 'client', controlEndpoint: null, wgEndpoint: null, stats: null, homePeer: id(3), nat: {endpoint: null, mapping: 'varies'}, path: 'relayed'});
    const open = node(8, {nat: {endpoint: '192.0.2.8:51820', mapping: 'none'}});
    const lines = renderMeshTable(mesh(MESH_A, [owner, stale, natted, symmetric, open]), {now, colour: false}).split('\n');
    const row = (address: string) => lines.find((line) => line.includes(`${address} `))!.split(/\s{2,}/);
    expect(row('fd00::6').slice(2, 4)).toEqual(['client (home fd00::3, direct)', '198.18.1.1:51820 (nat endpoint-independent)']);
    expect(row('fd00::7').slice(2, 4)).toEqual(['client (home fd00::3)', '- (nat varies)']);
    expect(row('fd00::8').slice(2, 4)).toEqual(['peer', '192.0.2.8:51820 (nat none)']);
  });

  it('shows alias, address, role, endpoint, relative handshake and transfer, and marks the alias conflict', () => {
    const text = renderMeshTable(view, {now, colour: false});
    const lines = text.split('\n');
    expect(lines[0]).toBe(`mesh ${MESH_A}  prefix fd00::/64  5 nodes`);
    expect(lines[1]!.split(/\s{2,}/)).toEqual(['ALIAS', 'ADDRESS', 'ROLE', 'ENDPOINT', 'HANDSHAKE', 'TRANSFER']);
    const row = (address: string) => lines.find((line) => line.includes(`${address} `))!.split(/\s{2,}/);
    expect(row('fd00::1')).toEqual(['web*', 'fd00::1', 'peer', '192.0.2.1:51820', '(self)', '-']);
    expect(row('fd00::2')).toEqual(['web!', 'fd00::2', 'peer', '192.0.2.2:51820', '12s ago', '1.5 KiB rx, 10 MiB tx']);
    expect(row('fd00::3')).toEqual(['db', 'fd00::3', 'peer', '192.0.2.3:51820', '10m ago', '0 B rx, 0 B tx']);
    // A client's role names its home peer by address.
    expect(row('fd00::4')).toEqual(['-', 'fd00::4', 'client (home fd00::3)', '-', 'never', '0 B rx, 0 B tx']);
    expect(text).toContain('alias web is claimed by 2 nodes: it resolves to fd00::1 (*, in the mesh longest), not to fd00::2 (!)');
    expect(text).not.toMatch(ANSI);
    // The hostile alias is shown, escaped: it neither clears the screen nor starts a new line.
    expect(text).toContain('x\\x1b[2J\\x0aEVIL (invalid)');
    expect(text.split('\n')).toHaveLength(2 + 5 + 1);
  });

  it('adds ids, control endpoints, services, routes and descriptions with --wide, escaped', () => {
    const text = renderMeshTable(mesh(MESH_A, [node(7, {services: {ssh: '22'}, routes: [{destination: '::/0', path: [MESH_A]}]}), hostile]), {now, colour: false, wide: true});
    expect(text.split('\n')[1]!.split(/\s{2,}/).slice(6)).toEqual(['ID', 'CONTROL', 'SERVICES', 'ROUTES', 'DESCRIPTION']);
    expect(text).toContain(id(7));
    expect(text).toMatch(new RegExp(`ssh=22 +::/0 via \\[${MESH_A}\\]`));
    expect(text).toContain('desc\\x1b]0;title\\x07');
    expect(text).not.toContain('\u001b');
  });

  it('colours only when asked, without changing the text', () => {
    const coloured = renderMeshTable(view, {now, colour: true});
    expect(coloured).toMatch(ANSI);
    expect(coloured.replace(ANSI, '')).toBe(renderMeshTable(view, {now, colour: false}));
  });
});

describe('mesh query', () => {
  const doc = mesh(MESH_A, [node(1, {alias: 'web', aliasOwner: id(1), services: {ssh: '22'}}), node(2, {role: 'client', homePeer: id(1)})]);
  const json = JSON.parse(JSON.stringify(doc)) as Parameters<typeof evaluateQuery>[0];

  it('evaluates JMESPath over the mesh view', () => {
    expect(evaluateQuery(json, "nodes[?role=='peer'].address")).toEqual(['fd00::1']);
    expect(evaluateQuery(json, 'nodes[?services.ssh].{alias: alias, port: services.ssh}')).toEqual([{alias: 'web', port: '22'}]);
    expect(evaluateQuery(json, "nodes[?role=='client'].homePeer | [0]")).toBe(id(1));
    expect(evaluateQuery(json, 'length(nodes)')).toBe(2);
    expect(evaluateQuery(json, 'nothing')).toBeNull();
    expect(formatQueryResult('plain')).toBe('plain');
    expect(formatQueryResult(['a'])).toBe('[\n  "a"\n]');
  });

  it.each([
    ['a b', 2, /unexpected token/],
    ['nodes[?x', 8, /unexpected end/],
    ['nodes[0', 7, /unexpected end/],
    ['nodes | | x', 8, /./],
    ['a # b', 2, /unknown character/],
    ['a."b', 2, /./],
    ['`{', 0, /./],
    ['nodes[].address]', 15, /./],
  ])('locates the syntax error of %j at offset %d', (expression, offset, reason) => {
    const location = locateSyntaxError(expression);
    expect(location?.offset).toBe(offset);
    expect(location?.reason).toMatch(reason);
    expect(() => evaluateQuery(json, expression)).toThrow(new RegExp(`^syntax error in the query at column ${offset + 1} `));
  });

  it('reports evaluation errors in one line, an unknown function with its column', () => {
    expect(() => evaluateQuery(json, 'nodes[0].nope(@)')).toThrow(/^unknown function nope\(\) in the query at column 10$/);
    expect(() => evaluateQuery(json, 'abs(meshId)')).toThrow(/^the query failed: .*abs\(\)/);
    expect(() => evaluateQuery(json, '   ')).toThrow(/empty/);
    expect(() => evaluateQuery(json, 'a'.repeat(5000))).toThrow(/at most 4096/);
  });

  it('never fails to locate an error, whatever the expression', () => {
    fc.assert(
      fc.property(fc.string({maxLength: 40, unit: fc.constantFrom(...'ab.[]?*|&!=<>\'"`{}():,@$ 0-9'.split(''))}), (expression) => {
        const location = locateSyntaxError(expression);
        if (location !== undefined) {
          expect(location.offset).toBeGreaterThanOrEqual(0);
          expect(location.offset).toBeLessThanOrEqual(expression.length);
        }
      }),
      {numRuns: 300},
    );
  });
});

/** Strings a hostile member could put into its record (aliases are only length-checked on the wire). */
const HOSTILE = [
  'a"b',
  'back\\slash',
  'end\\',
  '\\',
  '"',
  '\\"',
  'new\nline',
  'cr\rlf\r\n',
  '{brace}',
  '}',
  '<b>html</b>',
  '<',
  '>',
  '<>',
  '&amp;',
  '&',
  'ünïcødé ☃ 🚀 中文',
  'x -- y',
  '-> z',
  'nul\u0000byte',
  'sep\u2028arator',
  'lone \ud800 surrogate',
  'non-char \uffff',
  'tab\there',
  '\u001b[31mred',
  '"]; evil -> node; a [label="',
  '>]; subgraph cluster_x { injected } <',
  '\\N \\G \\L',
];

/** Two meshes with every kind of edge: a bridge, a client homed on a peer, an exit and a relayed exit. */
function hostileViews(text: (i: number) => string): MeshShowView[] {
  const bridge = (meshId: string, self: boolean) =>
    node(1, {alias: text(0), aliasOwner: id(1), description: text(1), services: {[text(2) || 'k']: text(3)}, self, routes: [{destination: '::/0', path: [meshId]}]});
  const a = mesh(MESH_A, [
    bridge(MESH_A, true),
    node(2, {alias: text(4), aliasOwner: id(1), aliasConflict: true, description: text(5)}),
    node(3, {role: 'client', homePeer: id(1), alias: text(6), aliasOwner: null, services: {[text(7) || 'k']: text(8), other: text(9)}}),
  ]);
  const b = mesh(MESH_B, [bridge(MESH_B, true), node(4, {alias: text(10), aliasOwner: id(4), routes: [{destination: text(11) + '/0', path: [MESH_A, text(12)]}]})]);
  return [a, b];
}

/** Render with the real `dot`; its exit code, stderr and the number of nodes and edges in the SVG. */
function renderSvg(dot: string): {status: number | null; stderr: string; nodes: number; edges: number} {
  const result = spawnSync('dot', ['-Tsvg'], {input: dot, encoding: 'utf8', timeout: 20_000});
  return {status: result.status, stderr: result.stderr, nodes: (result.stdout.match(/class="node"/g) ?? []).length, edges: (result.stdout.match(/class="edge"/g) ?? []).length};
}

const hasDot = !skipWithout('the Graphviz rendering tests', commandAvailable('dot', ['-V'], 'graphviz'));

describe('mesh graph', () => {
  it('escapes record text for HTML-like labels', () => {
    expect(htmlText('<b>"x" & \'y\'</b>\nnext')).toBe('&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;<BR/>next');
    expect(htmlText('nul\u0000 \ud800 \uffff')).toBe('nul\uFFFD \uFFFD \uFFFD');
    expect(isExitRoute('::/0')).toBe(true);
    expect(isExitRoute('0.0.0.0/0')).toBe(true);
    expect(isExitRoute('fd00::/64')).toBe(false);
  });

  it('draws meshes, nodes by alias or address, home, bridge and exit edges', () => {
    const views = hostileViews((i) => ['gw', 'gateway', 'ssh', '22', 'web', '', 'phone', 'http', '80', 'x', 'exit2', '::', MESH_B][i] ?? '');
    const {summary} = buildMeshGraph(views);
    expect(summary).toEqual({meshes: 2, nodes: 5, homeEdges: 1, bridgeEdges: 1, exitEdges: 3});
    const {dot} = meshGraphDot(views);
    expect(dot).toContain('<B>gw</B><BR/>fd00::1');
    // node 2 claims "web" but the alias belongs to node 1: it is labelled by its address.
    expect(dot).toContain('<B>fd00::2</B><BR/><FONT COLOR="red">alias "web" belongs to gw</FONT>');
    expect(dot).toMatch(/"m0_0+3" -> "m0_0+1" \[\s*label = <home>;\s*style = "dashed";/);
    expect(dot).toMatch(/"m0_0+1" -> "m1_0+1" \[\s*label = <bridge>;/);
    expect(dot).toContain(`via ${MESH_A} &gt; ${MESH_B}`);
  });

  it.skipIf(!hasDot)('produces DOT that `dot -Tsvg` accepts for hostile aliases, descriptions, services and routes', () => {
    const views = hostileViews((i) => HOSTILE.slice(i).join(' | '));
    const {dot, summary} = meshGraphDot(views);
    const svg = renderSvg(dot);
    expect(svg.stderr).toBe('');
    expect(svg.status).toBe(0);
    // Nothing in the text created or removed a node or an edge.
    expect(svg.nodes).toBe(summary.nodes + 1);
    expect(svg.edges).toBe(summary.homeEdges + summary.bridgeEdges + summary.exitEdges);
    for (const text of HOSTILE) {
      const {dot: single, summary: one} = meshGraphDot(hostileViews(() => text));
      const result = renderSvg(single);
      expect(result.status, `dot rejected ${JSON.stringify(text)}: ${result.stderr}`).toBe(0);
      expect(result.nodes).toBe(one.nodes + 1);
    }
  });

  it.skipIf(!hasDot)('stays valid for arbitrary unicode in every record field (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({unit: 'binary', maxLength: 70}), fc.constantFrom(...HOSTILE)), {minLength: 13, maxLength: 13}), (texts) => {
        const {dot, summary} = meshGraphDot(hostileViews((i) => texts[i]!));
        const svg = renderSvg(dot);
        expect(svg.status, svg.stderr).toBe(0);
        expect(svg.nodes).toBe(summary.nodes + 1);
        expect(svg.edges).toBe(summary.homeEdges + summary.bridgeEdges + summary.exitEdges);
      }),
      {numRuns: 25},
    );
  });

  it.skipIf(!hasDot)('renders SVG and PNG with dot, and reports a missing dot with how to install it', async () => {
    const {dot} = meshGraphDot(hostileViews(() => 'n'));
    const program = requireDot('svg', process.env.PATH);
    expect((await renderDot(program, dot, 'svg')).toString()).toContain('<svg');
    expect((await renderDot(program, dot, 'png')).subarray(1, 4).toString()).toBe('PNG');
    await expect(renderDot(program, 'digraph {', 'svg')).rejects.toThrow(/Graphviz .* exited with 1: .*syntax error/);
    expect(() => requireDot('png', '/nonexistent')).toThrow(/--format png needs 'dot', which is not installed .*apt-get install graphviz/);
  });
});
