import fc from 'fast-check';
import {describe, expect, it} from 'vitest';
import {
  FrameSplitter,
  IPC_ERROR_CODES,
  MAX_ERROR_MESSAGE_CHARS,
  decodeRequest,
  decodeResponse,
  encodeFrame,
  errorReply,
} from '../src/ipc/protocol.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('FrameSplitter', () => {
  it('returns the same frames however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({minLength: 1, maxLength: 40}).filter((s) => !s.includes('\n') && s !== '\r'), {maxLength: 20}),
        fc.array(fc.integer({min: 1, max: 17}), {minLength: 1, maxLength: 10}),
        (lines, cuts) => {
          const stream = bytes(lines.map((line) => `${line}\n`).join(''));
          const splitter = new FrameSplitter(1024);
          const frames: string[] = [];
          let offset = 0;
          for (let i = 0; offset < stream.length; i++) {
            const size = cuts[i % cuts.length] ?? 1;
            frames.push(...splitter.push(stream.subarray(offset, offset + size)).map((f) => f.toString('utf8')));
            offset += size;
          }
          expect(frames).toEqual(lines);
        },
      ),
    );
  });

  it('skips blank and CR-only lines', () => {
    const splitter = new FrameSplitter(100);
    expect(splitter.push(bytes('\n\r\na\n\n')).map(String)).toEqual(['a']);
  });

  it('accepts a frame of exactly the limit and refuses one byte more, split or not', () => {
    expect(new FrameSplitter(8).push(bytes('12345678\n')).map(String)).toEqual(['12345678']);

    const whole = new FrameSplitter(8);
    expect(whole.push(bytes('ok\n123456789\nlater\n')).map(String)).toEqual(['ok']);
    expect(whole.overflowed).toBe(true);
    expect(whole.push(bytes('more\n'))).toEqual([]);

    const split = new FrameSplitter(8);
    expect(split.push(bytes('12345'))).toEqual([]);
    expect(split.overflowed).toBe(false);
    expect(split.push(bytes('6789'))).toEqual([]);
    expect(split.overflowed).toBe(true);
  });
});

describe('decodeRequest', () => {
  it('decodes a well-formed request', () => {
    const frame = encodeFrame({v: 1, id: 3, method: 'mesh.show', params: {meshId: 'abc'}});
    expect(frame.endsWith('\n')).toBe(true);
    expect(decodeRequest(bytes(frame.trimEnd()))).toEqual({ok: true, value: {v: 1, id: 3, method: 'mesh.show', params: {meshId: 'abc'}}});
  });

  it.each([
    ['not json', null, 'not valid UTF-8 JSON'],
    ['[1,2]', null, 'must be a JSON object'],
    ['"text"', null, 'must be a JSON object'],
    ['{"v":1,"id":5,"method":7}', 5, 'method'],
    ['{"v":1,"id":-1,"method":"status"}', null, 'id'],
    ['{"v":1,"id":"x","method":""}', 'x', 'method'],
  ])('%s is a BAD_FRAME reply with id %j', (text, id, mentions) => {
    const decoded = decodeRequest(bytes(text));
    expect(decoded).toMatchObject({ok: false, id, code: IPC_ERROR_CODES.badFrame});
    expect(!decoded.ok && decoded.message).toContain(mentions);
  });

  it('refuses invalid UTF-8', () => {
    expect(decodeRequest(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))).toMatchObject({ok: false, code: IPC_ERROR_CODES.badFrame});
  });

  it('names both versions on a version mismatch and keeps the id', () => {
    const decoded = decodeRequest(bytes('{"v":2,"id":9,"method":"status","params":{}}'));
    expect(decoded).toMatchObject({ok: false, id: 9, code: IPC_ERROR_CODES.protocolVersion});
    expect(!decoded.ok && decoded.message).toMatch(/version 2 .*version 1/);
    expect(decodeRequest(bytes('{"id":1,"method":"status"}'))).toMatchObject({ok: false, code: IPC_ERROR_CODES.protocolVersion});
  });
});

describe('decodeResponse', () => {
  it('decodes success and failure replies', () => {
    expect(decodeResponse(bytes('{"v":1,"id":1,"ok":true,"result":[1]}'))).toEqual({ok: true, value: {v: 1, id: 1, ok: true, result: [1]}});
    const failure = errorReply(2, 'UNKNOWN_MESH', 'no such mesh');
    expect(decodeResponse(bytes(encodeFrame(failure).trimEnd()))).toEqual({ok: true, value: failure});
  });

  it('refuses a reply without an error body, or of another version', () => {
    expect(decodeResponse(bytes('{"v":1,"id":1,"ok":false}'))).toMatchObject({ok: false, code: IPC_ERROR_CODES.badFrame});
    const other = decodeResponse(bytes('{"v":3,"id":1,"ok":true,"result":1}'));
    expect(!other.ok && other.message).toMatch(/version 3 .*version 1/);
  });

  it('cuts overlong error messages so the reply stays decodable', () => {
    const reply = errorReply(1, 'X', 'y'.repeat(MAX_ERROR_MESSAGE_CHARS * 2));
    const decoded = decodeResponse(bytes(encodeFrame(reply).trimEnd()));
    expect(decoded.ok && !decoded.value.ok && decoded.value.error.message.length).toBe(MAX_ERROR_MESSAGE_CHARS);
  });
});
