import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {decodeControlReply, encodeControlRequest, MAX_ANNOUNCED_ENTRIES, MAX_CONTROL_MESSAGE_BYTES, MAX_PUSH_ENTRIES, MAX_STATEMENTS, type ControlReply} from '../src/control/messages.js';
import {signStatement, toWire, type StatementBody} from '../src/control/statements.js';
import {generateIdentity, type NodeIdentity} from '../src/identity/identity.js';
import type {RemotePeer} from '../src/contracts/transport.js';
import {corruptSignature, wireEntry} from '@wgmesh/testkit';
import {encode} from '../src/util/codec.js';
import {Simulation, type SimNode} from './control-sim.js';

const peer: RemotePeer = {address: 'hostile'};
let sim: Simulation;
let target: SimNode;
let a: SimNode;
let b: SimNode;
let c: SimNode;

beforeAll(async () => {
  sim = new Simulation({peers: 4, seed: 81});
  await sim.start();
  await sim.advance(3_000);
  [target, a, b, c] = sim.nodes as [SimNode, SimNode, SimNode, SimNode];
});
afterAll(async () => {
  await sim.stop();
});

/** Send raw bytes to the target's handler; it must answer, never throw. */
async function send(payload: Uint8Array): Promise<ControlReply> {
  return decodeControlReply(await target.control.handleMessage(payload, peer));
}

/** The target's statement table as a member sees it through anti-entropy (undefined: empty). */
async function statements(): Promise<unknown> {
  const reply = await send(encodeControlRequest({t: 'ae', f: c.id, sd: target.store.digest(), md: new Uint8Array(0)}));
  return reply.t === 'ae' ? reply.m : reply;
}

/** Everything a hostile message could have changed. */
async function state(): Promise<unknown> {
  return {
    store: Buffer.from(target.store.digest()).toString('hex'),
    statements: await statements(),
    dead: target.control.deadMembers(),
    alive: sim.nodes.map((node) => target.control.isAlive(node.id)),
  };
}

function forge(body: StatementBody | Record<string, unknown>, signer: NodeIdentity): {b: Uint8Array; s: Uint8Array} {
  const bytes = encode(body);
  return {b: bytes, s: signer.sign(bytes)};
}

describe('hostile control messages', () => {
  it('are refused with an error reply and change nothing', async () => {
    const before = await state();
    const stranger = generateIdentity();
    const id = a.id;
    const bin = (n: number) => new Uint8Array(n);
    const payloads: [string, Uint8Array][] = [
      ['empty', bin(0)],
      ['garbage', Uint8Array.from({length: 200}, (_, i) => (i * 97 + 13) & 0xff)],
      ['not a map', encode([1, 2, 3])],
      ['unknown type', encode({t: 'nope', f: id})],
      ['bad node id', encode({t: 'hb', f: 'not-an-id', i: 1})],
      ['negative incarnation', encode({t: 'hb', f: id, i: -5})],
      ['fractional incarnation', encode({t: 'hb', f: id, i: 1.5})],
      ['wrong field type', encode({t: 'push', f: id, e: 'entries'})],
      ['digest too long', encode({t: 'ae', f: id, sd: bin(5000), md: bin(16)})],
      ['too many entries', encode({t: 'push', f: id, e: Array.from({length: MAX_PUSH_ENTRIES + 1}, () => ({body: bin(1), signature: bin(64)}))})],
      ['too many statements', encode({t: 'mx', f: id, u: Array.from({length: MAX_STATEMENTS + 1}, () => ({b: bin(1), s: bin(64)})), w: []})],
      ['too many wanted ids', encode({t: 'mx', f: id, u: [], w: Array.from({length: MAX_STATEMENTS + 1}, () => id)})],
      ['over the size cap', encode({t: 'push', f: id, e: [{body: bin(MAX_CONTROL_MESSAGE_BYTES), signature: bin(64)}]})],
      ['oversized signature', encode({t: 'push', f: id, u: [{b: bin(10), s: bin(65)}]})],
      ['unknown sender: heartbeat', encodeControlRequest({t: 'hb', f: stranger.nodeId, i: 0})],
      ['unknown sender: probe request', encodeControlRequest({t: 'preq', f: stranger.nodeId, x: b.id})],
      ['unknown sender: exchange', encodeControlRequest({t: 'mx', f: stranger.nodeId, u: [], w: [a.id]})],
      ['sender is the target itself', encodeControlRequest({t: 'ping', f: target.id})],
      ['probe of a non-member', encodeControlRequest({t: 'preq', f: id, x: stranger.nodeId})],
      ['relay to a non-member', encodeControlRequest({t: 'relay', f: id, to: stranger.nodeId, i: 0})],
    ];
    for (const [what, payload] of payloads) {
      const reply = await send(payload);
      expect(reply.t, what).toBe('err');
    }
    expect(target.control.stats().messagesRejected).toBeGreaterThanOrEqual(payloads.length);
    expect(await state()).toEqual(before);
  });

  it('take a join answer\'s entry count only within its bound: a whole number from 0 to MAX_ANNOUNCED_ENTRIES', () => {
    const answer = (e: number): Uint8Array => encode({t: 'jn', c: [], n: 1, e});
    expect(decodeControlReply(answer(0))).toMatchObject({t: 'jn', e: 0});
    expect(decodeControlReply(answer(MAX_ANNOUNCED_ENTRIES))).toMatchObject({t: 'jn', e: MAX_ANNOUNCED_ENTRIES});
    for (const e of [MAX_ANNOUNCED_ENTRIES + 1, Number.MAX_SAFE_INTEGER, 2 ** 64, -1, 1.5, Number.NaN]) {
      expect(() => decodeControlReply(answer(e)), String(e)).toThrow();
    }
  });

  it('drop forged statements and entries inside well-formed messages', async () => {
    const before = await state();
    const rejectedBefore = target.control.stats().statementsRejected;
    const meshId = sim.meshId;
    const stranger = generateIdentity();
    const bad = [
      // A claim that b declared a dead, signed by c.
      forge({k: 'dead', m: meshId, x: a.id, i: 0, by: b.id}, c.identity),
      // A refutation on a's behalf, signed by b.
      forge({k: 'alive', m: meshId, x: a.id, i: 10 ** 12}, b.identity),
      // A claim by a stranger, and one about a stranger.
      forge({k: 'dead', m: meshId, x: a.id, i: 0, by: stranger.nodeId}, stranger),
      forge({k: 'dead', m: meshId, x: stranger.nodeId, i: 0, by: b.id}, b.identity),
      // Right signer, wrong mesh; a self-accusation; a body with extra fields.
      forge({k: 'dead', m: 'another-mesh', x: a.id, i: 0, by: b.id}, b.identity),
      forge({k: 'dead', m: meshId, x: b.id, i: 0, by: b.id}, b.identity),
      forge({k: 'alive', m: meshId, x: b.id, i: 5, note: 'extra'}, b.identity),
    ];
    const reply = await send(encodeControlRequest({t: 'push', f: c.id, u: bad}));
    expect(reply).toEqual({t: 'ok'});
    const exchange = await send(encodeControlRequest({t: 'mx', f: c.id, u: bad, w: []}));
    expect(exchange).toEqual({t: 'mx', u: []});
    expect(target.control.stats().statementsRejected - rejectedBefore).toBe(2 * bad.length);

    const entry = corruptSignature(wireEntry(a.store.get(a.id)!));
    expect(await send(encodeControlRequest({t: 'push', f: c.id, e: [entry]}))).toEqual({t: 'ok'});
    expect(await state()).toEqual(before);
  });

  it('accept a genuine claim (the control case: the checks above can see a change)', async () => {
    const before = await state();
    const claim = signStatement(b.identity, {k: 'dead', m: sim.meshId, x: a.id, i: 0, by: b.id});
    expect(await send(encodeControlRequest({t: 'push', f: c.id, u: [toWire(claim)]}))).toEqual({t: 'ok'});
    const after = await state();
    expect(after).not.toEqual(before);
    // The target heard from `a` moments ago, so a stays in its view while it refutes.
    expect(target.control.isAlive(a.id)).toBe(true);
    await sim.advance(1_000);
    expect(a.control.stats().refutations).toBe(1);
    expect(sim.allViewsAre(sim.nodes)).toBe(true);
    expect(sim.events).toEqual([]);
  });
});
