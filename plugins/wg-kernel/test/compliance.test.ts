/**
 * The WgDriver compliance suite from @wgmesh/testkit, run against the kernel
 * driver with real WireGuard (the kernel module, else wireguard-go) in a
 * network namespace of the test kit's lab. Interface names are derived the
 * way the daemon derives them, so they are unique on the host.
 */
import {generateMeshId, interfaceName} from '@wgmesh/core';
import {createNetnsLab, describeWgDriverCompliance, netnsAvailable, recordingLogger, skipWithout, type NetnsLab} from '@wgmesh/testkit/compliance';
import {afterAll, beforeAll} from 'vitest';
import {KernelWgDriver} from '../src/driver.js';
import {ExecRunner} from '../src/runner.js';

const SKIP = skipWithout('the WgDriver compliance suite on wg-kernel', netnsAvailable());

let lab: NetnsLab | undefined;
beforeAll(async () => {
  if (!SKIP) lab = await createNetnsLab({hosts: 1});
});
afterAll(async () => {
  await lab?.cleanup();
});

describeWgDriverCompliance(
  'kernel (in a network namespace)',
  {
    create: async () => {
      if (!lab) throw new Error('the namespace lab was not created');
      return new KernelWgDriver({runner: new ExecRunner({netns: lab.hosts[0]!.netns}), logger: recordingLogger()});
    },
    interfaceName: () => interfaceName(generateMeshId(), generateMeshId()),
  },
  {skip: SKIP},
);
