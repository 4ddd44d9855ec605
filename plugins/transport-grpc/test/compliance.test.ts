/** The transport compliance suite from @wgmesh/testkit, run against two real gRPC transports on loopback, in both TLS modes. */
import {createServer} from 'node:net';
import {describeTransportCompliance} from '@wgmesh/testkit/compliance';
import {afterAll, beforeAll} from 'vitest';
import {Harness} from './helpers/harness.js';
import {makePki, type Pki} from './helpers/pki.js';

let pki: Pki;
beforeAll(async () => {
  pki = await makePki();
});
afterAll(() => pki?.cleanup());

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const {port} = probe.address() as {port: number};
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** The suite over a pair made by `create`: default mode (no files) or CA mode. */
function compliance(name: string, ca: boolean): void {
  describeTransportCompliance(name, async () => {
    const harness = new Harness();
    const [server, client] = await Promise.all([harness.create(ca ? {node: pki.alpha} : {}), harness.create(ca ? {node: pki.beta} : {})]);
    return {
      server: server.transport,
      client: client.transport,
      endpointOf: (port) => `127.0.0.1:${port}`,
      unreachableEndpoint: `127.0.0.1:${await closedPort()}`,
      clientNode: {nodeId: client.identity.nodeId, signingKey: client.identity.signingKey},
      close: () => harness.closeAll(),
    };
  });
}

compliance('grpc (node keys, no certificate files)', false);
compliance('grpc (CA mode)', true);
