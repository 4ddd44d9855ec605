/**
 * The `store:automerge` backend factory. Light on purpose: the store, its
 * settings and @automerge/automerge (with its WebAssembly) are imported only
 * when a daemon selects this store and creates the backend.
 */
import {defineBackend, type BackendFactory} from '@wgmesh/core/backends';

/** The automerge store backend: the mesh as an Automerge document, synced with Automerge's own sync protocol. */
export const automergeStoreFactory: BackendFactory<'store'> = defineBackend({
  kind: 'store',
  name: 'automerge',
  description: "the mesh as one Automerge document, synced with Automerge's own sync protocol",
  create: async (context) => {
    const [{resolveSettings}, {loadAutomerge}, {AutomergeStore, AUTOMERGE_KIND}] = await Promise.all([
      import('./settings.js'),
      import('./automerge-api.js'),
      import('./store.js'),
    ]);
    const settings = resolveSettings(context.config);
    const api = await loadAutomerge();
    return {kind: AUTOMERGE_KIND, open: (options) => new AutomergeStore(api, options, settings)};
  },
});
