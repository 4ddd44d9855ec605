/**
 * Routing on one node across all its meshes: after any change of any mesh's
 * live view it recomputes the selection (select.ts) and hands each mesh the
 * routes that leave through it, at once; then, after every other operation on
 * the meshes (never interleaved with a join or leave), it recomputes what this
 * node advertises (advertise.ts) and re-publishes a record only where that
 * actually changed.
 *
 * Withdrawal needs nothing special: a bridge or exit that leaves or dies
 * drops out of the live views, so its routes leave every selection, and the
 * nodes that re-advertised them recompute and withdraw them in turn.
 */
import type {Logger} from '../contracts/logger.js';
import type {NodeRecord, RouteAdvert} from '../model/record.js';
import {sameAdverts} from './adverts.js';
import {advertisedRoutes} from './advertise.js';
import {selectRoutes, type RoutingMesh, type Selection, type SelectedRoute} from './select.js';

/** What the route manager needs of one mesh (a MeshRuntime). */
export interface RoutedMesh {
  /** The mesh id. */
  readonly meshId: string;
  /** This node's routing flags in the mesh. */
  readonly settings: {readonly advertiseRoutes: boolean; readonly advertiseDefault: boolean};
  /** The live records of the mesh. */
  liveRecords(): NodeRecord[];
  /** This node's own live record, if any. */
  self(): NodeRecord | undefined;
  /** Install these routes (all leave through this mesh); cheap when unchanged. */
  setRoutes(routes: readonly SelectedRoute[]): void;
  /** Sign and merge a new version of this node's record with these routes. */
  publishSelf(patch: {routes: RouteAdvert[]}): Promise<unknown>;
}

/** Everything a {@link RouteManager} needs. */
export interface RouteManagerDeps {
  /** This node's id. */
  selfId: string;
  /** The meshes this node is in now. */
  meshes: () => Iterable<RoutedMesh>;
  /** Run `task` after every other operation on the meshes (the daemon's serial queue). */
  exclusive: (task: () => Promise<void>) => Promise<void>;
  logger: Logger;
}

/** The routing of one node across its meshes. */
export class RouteManager {
  private readonly deps: RouteManagerDeps;
  private advertisePending = false;
  private stopped = false;
  /** The malformed advertisements last reported, so each set is logged once. */
  private lastIgnored = '';

  constructor(deps: RouteManagerDeps) {
    this.deps = deps;
  }

  /** The selection for the meshes as they are now. */
  select(): Selection {
    const meshes = [...this.deps.meshes()];
    return selectRoutes({selfId: this.deps.selfId, meshes: meshes.map(routingMesh)});
  }

  /**
   * Recompute and install the selection now, and schedule the advertisement
   * check. Call after any change of a mesh's live view and after a mesh was
   * added or removed; synchronous, so the mesh that changed reconciles with
   * the new routes already set.
   */
  update(): void {
    if (this.stopped) return;
    const selection = this.select();
    this.reportIgnored(selection);
    for (const mesh of this.deps.meshes()) mesh.setRoutes(selection.routes.filter((route) => route.meshId === mesh.meshId));
    this.scheduleAdvertise();
  }

  /** Stop reacting (daemon shutdown). */
  stop(): void {
    this.stopped = true;
  }

  private scheduleAdvertise(): void {
    if (this.advertisePending) return;
    this.advertisePending = true;
    this.deps
      .exclusive(async () => {
        // Reset first: a change while this runs schedules one more pass.
        this.advertisePending = false;
        if (!this.stopped) await this.advertise();
      })
      .catch((error: unknown) => this.deps.logger.error({err: error}, 'updating advertised routes failed'));
  }

  /** Re-publish this node's record in every mesh whose advertised routes changed. Run only inside `exclusive`. */
  private async advertise(): Promise<void> {
    const meshes = [...this.deps.meshes()];
    const views = meshes.map(routingMesh);
    const {routes} = selectRoutes({selfId: this.deps.selfId, meshes: views});
    const wanted = advertisedRoutes({meshes: views, selected: routes});
    for (const mesh of meshes) {
      const self = mesh.self();
      const adverts = wanted.get(mesh.meshId) ?? [];
      if (!self || sameAdverts(self.routes, adverts)) continue;
      await mesh.publishSelf({routes: adverts});
      this.deps.logger.info({meshId: mesh.meshId, routes: adverts.map(describeAdvert)}, 'advertised routes changed');
    }
  }

  private reportIgnored(selection: Selection): void {
    const key = JSON.stringify(selection.ignored);
    if (key === this.lastIgnored) return;
    this.lastIgnored = key;
    for (const advert of selection.ignored) {
      this.deps.logger.warn({meshId: advert.meshId, nodeId: advert.nodeId, destination: advert.destination.slice(0, 64)}, `ignoring a malformed route advertisement: ${advert.reason}`);
    }
  }
}

/** A mesh as the pure routing functions read it. */
function routingMesh(mesh: RoutedMesh): RoutingMesh {
  return {meshId: mesh.meshId, advertiseRoutes: mesh.settings.advertiseRoutes, advertiseDefault: mesh.settings.advertiseDefault, live: mesh.liveRecords()};
}

/** `destination [path]` for a log line. */
function describeAdvert(advert: RouteAdvert): string {
  return `${advert.destination} [${advert.path.join(' ')}]`;
}
