/**
 * What `mesh set` may change in this node's settings of one mesh, and the
 * rules: the endpoint, the WireGuard port and keepalive, and the advertised
 * routes change freely; an exit (`advertiseDefault`) needs
 * `advertiseRoutes`; the role changes only where the node's credential allows
 * it (a client credential admits client records only) and, to become a
 * client, only while another peer is there to attach to.
 */
import {InvalidInputError} from '../errors.js';
import type {MeshSetInput, MeshSettingsView} from '../ipc/methods.js';
import {credentialFactsOf} from '../model/entries.js';
import type {NodeRecord, Role} from '../model/record.js';
import type {MeshSettings} from './mesh-settings.js';

/** What the rules need to know about the mesh besides the settings. */
export interface MeshSetContext {
  /** The role this node's credential allows, when its record carries one that opens. */
  credentialRole: Role | undefined;
  /** Live peers of the mesh other than this node. */
  otherPeers: number;
}

/** The role `record`'s credential allows (a `peer` credential allows either), or undefined. */
export function credentialRoleOf(record: NodeRecord | undefined): Role | undefined {
  return record === undefined ? undefined : credentialFactsOf(record)?.role;
}

/**
 * The settings after `input`, as a new object (`current` is not changed).
 * @throws InvalidInputError for a change the rules above refuse, saying why and what to do.
 */
export function planMeshSettings(current: MeshSettings, input: MeshSetInput, context: MeshSetContext): MeshSettings {
  const next: MeshSettings = {...current};
  const {meshId} = current;
  if (input.endpoint !== undefined) next.endpointHost = input.endpoint;
  if (input.port !== undefined) next.listenPort = input.port;
  if (input.keepalive !== undefined) next.keepaliveSeconds = input.keepalive;
  if (input.advertiseRoutes !== undefined) next.advertiseRoutes = input.advertiseRoutes;
  if (input.advertiseDefault !== undefined) next.advertiseDefault = input.advertiseDefault;
  if (next.advertiseDefault && !next.advertiseRoutes) {
    throw new InvalidInputError(`--advertise-default needs --advertise-routes, which is off for this node in mesh ${meshId}: give both, or --no-advertise-default`);
  }
  if (input.role !== undefined && input.role !== current.role) {
    if (input.role === 'peer' && context.credentialRole !== 'peer') {
      throw new InvalidInputError(
        `this node cannot become a peer in mesh ${meshId}: its credential admits it as a client only (it joined with a client invite). ` +
          `A peer needs a peer invite: ask an admin for one ('wgmesh mesh invite ${meshId} --role peer'), then 'wgmesh mesh leave ${meshId}' and 'wgmesh mesh join --invite LINE' here`,
      );
    }
    if (input.role === 'client' && context.otherPeers === 0) {
      throw new InvalidInputError(`this node cannot become a client in mesh ${meshId}: no other peer is there for it to attach to`);
    }
    next.role = input.role;
  }
  return next;
}

/** The names (as in {@link MeshSettingsView}) of the settings that differ between `before` and `after`. */
export function changedSettings(before: MeshSettings, after: MeshSettings): string[] {
  const pairs: [string, unknown, unknown][] = [
    ['role', before.role, after.role],
    ['endpoint', before.endpointHost, after.endpointHost],
    ['port', before.listenPort, after.listenPort],
    ['keepalive', before.keepaliveSeconds, after.keepaliveSeconds],
    ['advertiseRoutes', before.advertiseRoutes, after.advertiseRoutes],
    ['advertiseDefault', before.advertiseDefault, after.advertiseDefault],
  ];
  return pairs.filter(([, a, b]) => a !== b).map(([name]) => name);
}

/** The settings as `mesh set` reports them. */
export function settingsView(settings: MeshSettings, boundPort: number): MeshSettingsView {
  return {
    role: settings.role,
    endpoint: settings.role === 'peer' ? settings.endpointHost : null,
    port: settings.listenPort,
    boundPort,
    keepalive: settings.keepaliveSeconds,
    advertiseRoutes: settings.advertiseRoutes,
    advertiseDefault: settings.advertiseDefault,
  };
}
