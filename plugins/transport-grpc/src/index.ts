/**
 * @wgmesh/transport-grpc: the default control-plane transport, gRPC over
 * mutual TLS. Importing this entry point loads no gRPC code; the transport
 * classes are for tests and embedding (they import @grpc/grpc-js).
 */
export {grpcTransportFactory} from './factory.js';
export {SyncBusyError, TransportFailureError} from './errors.js';
export {
  grpcSectionSchema,
  resolveSettings,
  DEFAULT_MAX_SNAPSHOT_BYTES,
  DEFAULT_SNAPSHOT_CHUNK_BYTES,
  DEFAULT_MAX_CONCURRENT_SYNCS,
  DEFAULT_MAX_CONCURRENT_SNAPSHOTS,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  DEFAULT_MAX_BYTES_IN_FLIGHT_PER_CONNECTION,
  DEFAULT_MAX_BYTES_IN_FLIGHT,
  DEFAULT_DATAGRAMS_PER_ADDRESS_PER_SECOND,
  DEFAULT_MAX_DATAGRAMS_IN_FLIGHT,
  type GrpcSection,
  type GrpcTransportSettings,
  type TlsPaths,
} from './settings.js';
export type {GrpcTransport, GrpcTransportOptions} from './transport.js';
