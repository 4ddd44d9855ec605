/** The `store:twophase` backend factory. Light on purpose: the store itself is imported only when a backend is created. */
import {defineBackend, type BackendFactory} from '@wgmesh/core/backends';

/** The default store backend: a two-phase map of signed node records with versions and tombstones. */
export const twophaseStoreFactory: BackendFactory<'store'> = defineBackend({
  kind: 'store',
  name: 'twophase',
  description: 'two-phase map of signed node records with versions and tombstones (default)',
  create: async () => {
    const {TwoPhaseStore, TWOPHASE_KIND} = await import('./store.js');
    return {kind: TWOPHASE_KIND, open: (options) => new TwoPhaseStore(options)};
  },
});
