/**
 * The `transport:grpc` backend factory. Kept light on purpose: @grpc/grpc-js
 * and the generated code are imported only when a daemon creates the backend.
 */
import {defineBackend, type BackendFactory} from '@wgmesh/core/backends';

/** The default transport: gRPC with mutual TLS between daemons. */
export const grpcTransportFactory: BackendFactory<'transport'> = defineBackend({
  kind: 'transport',
  name: 'grpc',
  description: 'gRPC with mutual TLS between daemons (default)',
  create: async (context) => {
    const {createGrpcTransport} = await import('./transport.js');
    return createGrpcTransport(context);
  },
});
