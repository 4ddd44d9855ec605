/** The WgDriver compliance suite from @wgmesh/testkit, run against the stub driver. */
import {generateMeshId, interfaceName} from '@wgmesh/core';
import {describeWgDriverCompliance} from '@wgmesh/testkit/compliance';
import {StubWgDriver} from '../src/index.js';

describeWgDriverCompliance('stub', {
  create: async () => new StubWgDriver(),
  interfaceName: () => interfaceName(generateMeshId(), generateMeshId()),
});
