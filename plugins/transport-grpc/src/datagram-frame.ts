/**
 * The framing of the control port's datagrams (UDP, beside the gRPC stream):
 *
 * ```
 * byte 0       version (1)
 * byte 1       kind: 1 request, 2 reply, 3 declined (the reply is for the stream path)
 * bytes 2-9    request id: random, chosen by the requester, echoed by the reply
 * byte 10      length L of the mesh id (0 in replies: the request id says what they answer)
 * bytes 11-    the mesh id (ASCII), then the payload (at most MAX_DATAGRAM_PAYLOAD_BYTES)
 * ```
 *
 * A frame is one datagram. Nothing in it is authenticated: the payload
 * authenticates itself (a tagged liveness message), so anything that does not
 * decode here is dropped without an answer.
 */
import {isMeshId} from '@wgmesh/core';

/** Version of this framing. */
export const DATAGRAM_VERSION = 1;
/**
 * Largest payload of one datagram: 1,180 bytes, so a whole frame (header at
 * most 37 bytes) with IPv6 and UDP headers (48 bytes) fits IPv6's minimum MTU
 * of 1,280 bytes and is never fragmented.
 */
export const MAX_DATAGRAM_PAYLOAD_BYTES = 1180;
/** Bytes of a request id. */
export const REQUEST_ID_BYTES = 8;
const HEADER_BYTES = 2 + REQUEST_ID_BYTES + 1;
/** Longest mesh id a frame carries (mesh ids are 26 characters; anything else is refused by isMeshId). */
const MAX_MESH_ID_BYTES = 64;
/** Largest frame sent or accepted. */
export const MAX_DATAGRAM_BYTES = HEADER_BYTES + MAX_MESH_ID_BYTES + MAX_DATAGRAM_PAYLOAD_BYTES;

/** What a frame is. */
export const FrameKind = {request: 1, reply: 2, declined: 3} as const;
/** One of {@link FrameKind}. */
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** A decoded frame. `id` is the request id as 16 hex digits; `meshId` is empty in replies. */
export interface DatagramFrame {
  kind: FrameKind;
  id: string;
  meshId: string;
  payload: Uint8Array;
}

/** Why a datagram was not a frame. */
export type FrameProblem = 'too-large' | 'malformed';

/** Encode a frame (a reply's `meshId` is empty). The caller keeps the payload within {@link MAX_DATAGRAM_PAYLOAD_BYTES}. */
export function encodeFrame(frame: DatagramFrame): Buffer {
  const mesh = Buffer.from(frame.meshId, 'latin1');
  const out = Buffer.allocUnsafe(HEADER_BYTES + mesh.length + frame.payload.byteLength);
  out[0] = DATAGRAM_VERSION;
  out[1] = frame.kind;
  out.write(frame.id, 2, REQUEST_ID_BYTES, 'hex');
  out[2 + REQUEST_ID_BYTES] = mesh.length;
  mesh.copy(out, HEADER_BYTES);
  out.set(frame.payload, HEADER_BYTES + mesh.length);
  return out;
}

/**
 * Decode one datagram: a frame of this version with a known kind, a
 * well-formed mesh id (a request) or none (a reply) and a payload within the
 * cap, or the reason it is not.
 * The payload is a view into `bytes`.
 */
export function decodeFrame(bytes: Uint8Array): DatagramFrame | FrameProblem {
  if (bytes.byteLength > MAX_DATAGRAM_BYTES) return 'too-large';
  if (bytes.byteLength < HEADER_BYTES || bytes[0] !== DATAGRAM_VERSION) return 'malformed';
  const kind = bytes[1];
  if (kind !== FrameKind.request && kind !== FrameKind.reply && kind !== FrameKind.declined) return 'malformed';
  const length = bytes[2 + REQUEST_ID_BYTES]!;
  if (length > MAX_MESH_ID_BYTES || HEADER_BYTES + length > bytes.byteLength) return 'malformed';
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const meshId = buffer.toString('latin1', HEADER_BYTES, HEADER_BYTES + length);
  if (kind === FrameKind.request ? !isMeshId(meshId) : length !== 0) return 'malformed';
  const payload = bytes.subarray(HEADER_BYTES + length);
  if (payload.byteLength > MAX_DATAGRAM_PAYLOAD_BYTES) return 'too-large';
  return {kind, id: buffer.toString('hex', 2, 2 + REQUEST_ID_BYTES), meshId, payload};
}
