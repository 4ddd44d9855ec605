/**
 * The gRPC channel options both ends of a connection use. A daemon dials with
 * the same values it serves with, and every daemon of a mesh normally runs
 * the same config, so client and server agree on keepalive (neither pings
 * more often than the other expects) and on message size limits.
 */
import type {ChannelOptions} from '@grpc/grpc-js';
import {MAX_CONTROL_MESSAGE_BYTES, MAX_SYNC_MESSAGE_BYTES} from '@wgmesh/core';
import type {GrpcTransportSettings} from './settings.js';

/** Largest payload of any frame: a sync message, a control message or a snapshot chunk (at most a sync message). */
export const MAX_FRAME_PAYLOAD_BYTES = Math.max(MAX_SYNC_MESSAGE_BYTES, MAX_CONTROL_MESSAGE_BYTES);
/** Room for the protobuf fields around a payload: ids, a mesh id, a store kind, an error code and message (each short, checked). */
export const FRAME_OVERHEAD_BYTES = 16 * 1024;
/** Largest gRPC message either end sends or accepts; grpc-js refuses a bigger one from its length prefix, before buffering it. */
export const MAX_FRAME_BYTES = MAX_FRAME_PAYLOAD_BYTES + FRAME_OVERHEAD_BYTES;

/** Size limits and keepalive, identical for the dialling and the answering side. */
export function sharedChannelOptions(settings: GrpcTransportSettings): ChannelOptions {
  return {
    'grpc.max_receive_message_length': MAX_FRAME_BYTES,
    'grpc.max_send_message_length': MAX_FRAME_BYTES,
    'grpc.keepalive_time_ms': settings.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': settings.keepaliveTimeoutMs,
    // Pings keep idle cached connections honest too (a peer that vanished is noticed before the next call).
    'grpc.keepalive_permit_without_calls': 1,
  };
}
