import {describeStoreCompliance, testBackendContext} from '@wgmesh/testkit/compliance';
import {automergeStoreFactory} from '@wgmesh/store-automerge';

describeStoreCompliance('automerge', () => automergeStoreFactory.create(testBackendContext()));
