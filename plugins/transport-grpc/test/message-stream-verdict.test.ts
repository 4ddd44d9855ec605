/**
 * When a message stream blames its connection: only after the I/O this turn
 * of the event loop already received is read. A process whose own loop ran
 * late fires its timers (a caller's deadline) before it reads its sockets; a
 * reply already waiting there must save the connection. A fake call stands
 * in for grpc-js so the order of the turn is the test's to set.
 */
import {EventEmitter} from 'node:events';
import {afterEach, describe, expect, it, vi} from 'vitest';
import type {MessageEnvelope} from '../src/generated/wgmesh/v1/control.js';
import {MessageStream, SILENT_CONNECTION_MS} from '../src/message-stream.js';

/** The part of a grpc-js duplex call a MessageStream uses. */
class FakeCall extends EventEmitter {
  readonly written: MessageEnvelope[] = [];
  write(envelope: MessageEnvelope): boolean {
    this.written.push(envelope);
    return true;
  }
  cancel(): void {
    this.emit('cancelled');
  }
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

/** A stream on a fake call, a request on it given up on after more than SILENT_CONNECTION_MS, and what the dialler was told. */
async function abandonAfterSilence(replyThisTurn: boolean) {
  const call = new FakeCall();
  const verdicts: boolean[] = [];
  const stream = new MessageStream(call as never, {endpoint: '127.0.0.1:1', host: '127.0.0.1', timeoutMs: 5_000}, {closed: (connectionBad) => verdicts.push(connectionBad)});
  const caller = new AbortController();
  const request = stream.request('m', new Uint8Array([1]), caller.signal);
  vi.setSystemTime(Date.now() + SILENT_CONNECTION_MS + 100);
  // The reply came in while this process was busy: the poll phase of this turn reads it, after the timers.
  if (replyThisTurn) setImmediate(() => call.emit('data', {id: call.written[0]!.id, meshId: '', payload: Buffer.from([2]), errorCode: '', errorMessage: ''}));
  caller.abort(new Error('deadline'));
  await expect(request).rejects.toThrow('deadline');
  await nextTurn();
  await nextTurn();
  return {verdicts, closed: stream.closed};
}

/** A reply to the last request written on `call`. */
function reply(call: FakeCall): void {
  call.emit('data', {id: call.written.at(-1)!.id, meshId: '', payload: Buffer.from([2]), errorCode: '', errorMessage: ''});
}

describe("a message stream's verdict on its connection", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is not given while a reply read in the same turn of the event loop shows the connection alive', async () => {
    vi.useFakeTimers({toFake: ['Date']});
    expect(await abandonAfterSilence(true)).toEqual({verdicts: [], closed: false});
  });

  it('is "bad" when nothing came back at all', async () => {
    vi.useFakeTimers({toFake: ['Date']});
    expect(await abandonAfterSilence(false)).toEqual({verdicts: [true], closed: true});
  });

  it("allows no more silence than the request's own time limit, however slowly the member answered before", async () => {
    vi.useFakeTimers({toFake: ['Date']});
    const call = new FakeCall();
    const verdicts: boolean[] = [];
    const timeoutMs = 2_000;
    const stream = new MessageStream(call as never, {endpoint: '127.0.0.1:1', host: '127.0.0.1', timeoutMs}, {closed: (connectionBad) => verdicts.push(connectionBad)});
    // Round trips of a minute, as a member that delays its answers on purpose would make them.
    for (let i = 0; i < 4; i++) {
      const answered = stream.request('m', new Uint8Array([1]), undefined);
      vi.setSystemTime(Date.now() + 60_000);
      reply(call);
      await answered;
    }
    const caller = new AbortController();
    const request = stream.request('m', new Uint8Array([1]), caller.signal);
    vi.setSystemTime(Date.now() + timeoutMs);
    caller.abort(new Error('deadline'));
    await expect(request).rejects.toThrow('deadline');
    await nextTurn();
    expect(verdicts).toEqual([true]);
  });
});
