/** The transport compliance suite, run against the test kit's in-memory transport (the one simulations and unit tests use in place of a real transport). */
import {describeTransportCompliance, MemoryNetwork} from '@wgmesh/testkit/compliance';

describeTransportCompliance('memory', async () => {
  const network = new MemoryNetwork();
  const server = network.transport('server');
  const client = network.transport('client');
  return {
    server,
    client,
    endpointOf: () => 'server',
    unreachableEndpoint: 'nobody',
    close: async () => {
      await Promise.all([server.close(), client.close()]);
    },
  };
});
