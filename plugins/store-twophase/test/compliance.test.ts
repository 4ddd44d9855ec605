import {describeStoreCompliance, recordingLogger, SimulatedClock} from '@wgmesh/testkit/compliance';
import {twophaseStoreFactory} from '@wgmesh/store-twophase';

describeStoreCompliance('twophase', () =>
  twophaseStoreFactory.create({
    config: {},
    daemonConfig: {},
    logger: recordingLogger(),
    dataDir: '/nonexistent',
    signal: new AbortController().signal,
    identity: {nodeId: '0'.repeat(32), signingKey: 'A'.repeat(43) + '=', wgPublicKey: 'A'.repeat(43) + '='},
    clock: new SimulatedClock(),
    random: {float: () => 0.5, bytes: (n) => new Uint8Array(n)},
  }),
);
