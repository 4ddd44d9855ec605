/** @wgmesh/wg-stub: an in-memory WireGuard driver that records what it is asked, for tests and CI. */
export {wgStubBackend, stubConfigSchema} from './factory.js';
export {StubWgDriver, freeUdpPort, type StubWgDriverOptions, type StubPeerStats} from './driver.js';
export * from './state.js';
