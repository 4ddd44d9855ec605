import {describeStoreCompliance, testBackendContext} from '@wgmesh/testkit/compliance';
import {twophaseStoreFactory} from '@wgmesh/store-twophase';

describeStoreCompliance('twophase', () => twophaseStoreFactory.create(testBackendContext()));
