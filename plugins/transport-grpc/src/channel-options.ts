/**
 * The gRPC channel options both ends of a connection use. A daemon dials with
 * the same values it serves with, and every daemon of a mesh normally runs
 * the same config, so client and server agree on keepalive (neither pings
 * more often than the other expects) and on message size limits.
 */
import type {ChannelOptions} from '@grpc/grpc-js';
import type {GrpcTransportSettings} from './settings.js';

/** Room for protobuf framing around a payload of `maxMessageBytes`. */
export const FRAME_OVERHEAD_BYTES = 64 * 1024;

/** Size limits and keepalive, identical for the dialling and the answering side. */
export function sharedChannelOptions(settings: GrpcTransportSettings): ChannelOptions {
  return {
    'grpc.max_receive_message_length': settings.maxMessageBytes + FRAME_OVERHEAD_BYTES,
    'grpc.max_send_message_length': settings.maxMessageBytes + FRAME_OVERHEAD_BYTES,
    'grpc.keepalive_time_ms': settings.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': settings.keepaliveTimeoutMs,
    // Pings keep idle cached connections honest too (a peer that vanished is noticed before the next call).
    'grpc.keepalive_permit_without_calls': 1,
  };
}
