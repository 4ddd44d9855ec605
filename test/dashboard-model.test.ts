/**
 * The dashboard's logic that needs no browser: the event-stream parser, how
 * an event changes a held mesh view, the graph's relations, and the
 * handshake column's colouring rule, and how the event stream reconnects.
 */
import type {MeshShowNode, MeshShowView} from '@wgmesh/core/client';
import {meshShowNode, meshShowView} from '@wgmesh/testkit';
import {describe, expect, it} from 'vitest';
import {layoutSignature, startingPlaces} from '../src/dashboard/graph-layout.js';
import {buildGraphModel, isExitRoute} from '../src/dashboard/graph-model.js';
import {applyMeshEvent, decodeMeshEvent} from '../src/dashboard/mesh-events.js';
import {HANDSHAKE_FRESH_MS} from '../src/core/src/views/handshake.js';
import {handshakeCell} from '../src/dashboard/node-text.js';
import {openEventStream, SseParser, SseTooLargeError, type SseEvent} from '../src/dashboard/sse.js';

function member(id: string, fields: Partial<MeshShowNode> = {}): MeshShowNode {
  return meshShowNode(id, {wgPublicKey: `${id}=`, address: `fd00::${id}`, ...fields});
}

function mesh(meshId: string, nodes: MeshShowNode[]): MeshShowView {
  return meshShowView(meshId, nodes);
}

function parse(chunks: string[], max?: number): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((event) => events.push(event), max);
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

describe('SseParser', () => {
  it('reads id, type and multi-line data, whatever the chunking and line endings', () => {
    const stream = ': keepalive\n\nid: 1\nevent: member.joined\ndata: {"a":1}\n\nid: 2\r\nevent: member.left\r\ndata: x\r\ndata: y\r\n\r\ndata:plain\n\n';
    const whole = parse([stream]);
    expect(whole).toEqual([
      {id: '1', type: 'member.joined', data: '{"a":1}'},
      {id: '2', type: 'member.left', data: 'x\ny'},
      {id: '2', type: 'message', data: 'plain'},
    ]);
    // One character at a time, so '\r' and '\n' of one line ending arrive apart.
    expect(parse([...stream])).toEqual(whole);
  });

  it('ignores comments and events without data, and dispatches nothing unfinished', () => {
    expect(parse([': keepalive\n\n', 'event: x\n\n', 'data: half'])).toEqual([]);
  });

  it('refuses an event larger than its limit instead of buffering it', () => {
    expect(() => parse(['data: ', 'a'.repeat(2_000)], 1_000)).toThrow(SseTooLargeError);
    expect(() => parse(['data: 123456\n'.repeat(200)], 1_000)).toThrow(SseTooLargeError);
  });
});

describe('mesh events', () => {
  const view = mesh('m1', [member('a', {self: true}), member('b', {alias: 'bee', aliasOwner: 'b', homePeer: null})]);

  it('decodes only known types with the fields they carry', () => {
    expect(decodeMeshEvent('member.left', '{"meshId":"m1","nodeId":"b","at":1}')).toEqual({type: 'member.left', meshId: 'm1', nodeId: 'b'});
    expect(decodeMeshEvent('member.left', 'not json')).toBeUndefined();
    expect(decodeMeshEvent('member.left', '{"nodeId":"b"}')).toBeUndefined();
    expect(decodeMeshEvent('something.else', '{"meshId":"m1"}')).toBeUndefined();
    expect(decodeMeshEvent('record.changed', '{"meshId":"m1","nodeId":"b","node":{"id":"b"}}')?.node).toBeUndefined();
  });

  it('adds a joined node, removes one that left or died, updates a handshake', () => {
    const joined = applyMeshEvent(view, {type: 'member.joined', meshId: 'm1', node: member('c', {alias: 'sea'})});
    expect(joined.nodes.map((node) => node.id)).toEqual(['a', 'b', 'c']);
    expect(joined.nodes[2]).toMatchObject({alias: 'sea', aliasOwner: 'c'});
    expect(applyMeshEvent(joined, {type: 'member.died', meshId: 'm1', nodeId: 'c'}).nodes.map((node) => node.id)).toEqual(['a', 'b']);
    expect(applyMeshEvent(joined, {type: 'member.left', meshId: 'm1', nodeId: 'zz'})).toBe(joined);
    const shaken = applyMeshEvent(view, {type: 'handshake.changed', meshId: 'm1', nodeId: 'b', latestHandshakeAt: 42});
    expect(shaken.nodes[1]!.stats).toEqual({latestHandshakeMs: 42, rxBytes: 0, txBytes: 0});
    expect(applyMeshEvent(view, {type: 'member.left', meshId: 'other', nodeId: 'b'})).toBe(view);
  });

  it('keeps the relations of a changed record until the mesh is fetched again', () => {
    const changed = applyMeshEvent(view, {type: 'record.changed', meshId: 'm1', node: member('b', {alias: 'bee', description: 'new'})});
    expect(changed.nodes[1]).toMatchObject({description: 'new', aliasOwner: 'b'});
  });
});

describe('graph model', () => {
  it('finds bridges, exits and client-to-home-peer edges as mesh graph does', () => {
    const one = mesh('m1', [member('a', {self: true}), member('b', {routes: [{destination: '::/0', path: []}]}), member('c', {role: 'client', homePeer: 'a'})]);
    const two = mesh('m2', [member('a', {self: true}), member('d', {routes: [{destination: '0.0.0.0/0', path: ['m1']}]})]);
    const model = buildGraphModel([two, one, one]);
    expect(model.summary).toEqual({meshes: 2, nodes: 5, homeEdges: 1, bridgeEdges: 1, exitEdges: 2});
    const key = (index: number) => model.nodes[index]!.key;
    const edges = model.links.filter((link) => link.kind !== 'member').map((link) => `${link.kind} ${key(link.source)} ${key(link.target)}`);
    expect(edges.sort()).toEqual(['bridge node:m1:a node:m2:a', 'exit node:m1:b internet', 'exit node:m2:d internet', 'home node:m1:c node:m1:a']);
    expect(model.nodes.filter((node) => node.kind === 'internet')).toHaveLength(1);
    expect(isExitRoute('fd00::/64')).toBe(false);
  });
});

describe('handshake column', () => {
  it('is stale after three minutes, marks never and unknown, and says so for this node', () => {
    const now = 1_000_000_000;
    const at = (latestHandshakeMs: number | null) => handshakeCell({self: false, stats: {latestHandshakeMs, rxBytes: 0, txBytes: 0}}, now);
    expect(at(now - 5_000)).toEqual({text: '5s ago', state: 'fresh'});
    expect(at(now - HANDSHAKE_FRESH_MS - 1_000).state).toBe('stale');
    expect(at(null)).toEqual({text: 'never', state: 'none'});
    expect(handshakeCell({self: false, stats: null, unreachable: true}, now)).toEqual({text: '-, unreachable from here', state: 'unknown'});
    expect(handshakeCell({self: true, stats: null}, now).state).toBe('self');
  });
});

describe('openEventStream', () => {
  /** A `fetch` that answers each call with the next of `answers` and records the headers it was given. */
  function scriptedFetch(answers: (() => Response)[]) {
    const calls: Record<string, string>[] = [];
    const fetch = async (_url: unknown, init?: RequestInit): Promise<Response> => {
      calls.push({...(init?.headers as Record<string, string>)});
      const next = answers.shift();
      if (next === undefined) return new Promise<Response>(() => undefined);
      return next();
    };
    return {fetch, calls};
  }
  const stream = (text: string): Response => new Response(text, {headers: {'Content-Type': 'text/event-stream'}});

  it('reconnects after an error and after the end of a stream, with the token and the last event id, and stops for good on a refusal', async () => {
    const {fetch, calls} = scriptedFetch([
      () => new Response('{}', {status: 503}),
      () => stream('id: 7\nevent: member.left\ndata: {"meshId":"m"}\n\n'),
      () => new Response('{"error":{"code":"UNAUTHORIZED","message":"no"}}', {status: 401}),
    ]);
    const original = globalThis.fetch;
    globalThis.fetch = fetch as typeof globalThis.fetch;
    const states: string[] = [];
    const events: SseEvent[] = [];
    try {
      await new Promise<void>((resolve) => {
        openEventStream({
          url: 'http://127.0.0.1:1/api/v1/events',
          headers: () => ({Authorization: 'Bearer t'}),
          onEvent: (event) => events.push(event),
          onState: (state) => {
            states.push(state);
            if (state === 'closed') resolve();
          },
          onRefused: (response) => response.status === 401,
          minDelayMs: 5,
          maxDelayMs: 20,
        });
      });
    } finally {
      globalThis.fetch = original;
    }
    expect(events).toEqual([{id: '7', type: 'member.left', data: '{"meshId":"m"}'}]);
    expect(states).toEqual(['connecting', 'retrying', 'connecting', 'open', 'retrying', 'connecting', 'closed']);
    expect(calls.map((headers) => [headers.Authorization, headers['Last-Event-ID']])).toEqual([
      ['Bearer t', undefined],
      ['Bearer t', undefined],
      ['Bearer t', '7'],
    ]);
  });
});

describe('graph starting places', () => {
  it('keeps the places of known nodes, puts a new member beside its mesh, and relayouts only when nodes or edges change', () => {
    const before = buildGraphModel([mesh('m1', [member('a', {self: true}), member('b')])]);
    const first = startingPlaces(before, null, before);
    expect(first.kept).toBe(0);
    expect(first.xy).toHaveLength(before.nodes.length * 2);
    const xy = new Float32Array(before.nodes.map((_, index) => [index * 100, -index * 100]).flat());
    const after = buildGraphModel([mesh('m1', [member('a', {self: true}), member('b'), member('c')])]);
    const next = startingPlaces(before, xy, after);
    expect(next.kept).toBe(3);
    const at = (model: typeof after, places: Float32Array, key: string): [number, number] => {
      const index = model.nodes.findIndex((node) => node.key === key);
      return [places[index * 2]!, places[index * 2 + 1]!];
    };
    expect(at(after, next.xy, 'node:m1:b')).toEqual(at(before, xy, 'node:m1:b'));
    const [hubX, hubY] = at(after, next.xy, 'mesh:m1');
    const [newX, newY] = at(after, next.xy, 'node:m1:c');
    expect(Math.hypot(newX - hubX, newY - hubY)).toBeLessThanOrEqual(15);
    expect(layoutSignature(after)).not.toBe(layoutSignature(before));
    const relabelled = buildGraphModel([mesh('m1', [member('a', {self: true, alias: 'home', aliasOwner: 'a'}), member('b')])]);
    expect(layoutSignature(relabelled)).toBe(layoutSignature(before));
  });
});
