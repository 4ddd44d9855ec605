/**
 * `forwarding`: a node that relays for others (it advertises routes, as an
 * exit or a bridge, or it is a peer with clients homed on it) needs IPv6
 * forwarding. The running daemon's view says which meshes relay here; without
 * a daemon, the saved settings say which meshes will advertise routes.
 */
import {readFile} from 'node:fs/promises';
import type {MeshShowView} from '@wgmesh/core/client';
import {FORWARDING_HINT, FORWARDING_SYSCTL} from '@wgmesh/wg-kernel';
import {fail, ok, skip, warn, type DoctorCheck} from '../check.js';

const NAME = 'forwarding';

/** Why this node relays in a mesh, or undefined when it does not (the rule of the daemon's WireGuard plan). */
export function relayReason(mesh: MeshShowView): string | undefined {
  const self = mesh.nodes.find((node) => node.self);
  if (!self) return undefined;
  if (self.routes.length > 0) return `advertises ${self.routes.map((route) => route.destination).join(', ')}`;
  const clients = mesh.nodes.filter((node) => node.role === 'client' && node.homePeer === self.id).length;
  return clients > 0 ? `is the home peer of ${clients} client${clients === 1 ? '' : 's'}` : undefined;
}

/** IPv6 forwarding on wherever this node relays. */
export const forwardingCheck: DoctorCheck = {
  name: NAME,
  async run(context) {
    let value: string;
    try {
      value = (await readFile(FORWARDING_SYSCTL, 'utf8')).trim();
    } catch (error) {
      return skip(NAME, `cannot read ${FORWARDING_SYSCTL} (${(error as NodeJS.ErrnoException).code ?? 'error'}): no IPv6, see the ipv6 check`);
    }
    const on = value === '1';
    const daemon = await context.daemon();
    if (daemon.reachable) {
      const relays = daemon.meshes.flatMap((mesh) => {
        const reason = relayReason(mesh);
        return reason === undefined ? [] : [`in mesh ${mesh.meshId} this node ${reason}`];
      });
      if (relays.length === 0) return ok(NAME, `IPv6 forwarding is ${on ? 'on' : 'off'}; not needed: this node relays for no one`);
      if (on) return ok(NAME, `IPv6 forwarding is on, as needed: ${relays.join('; ')}`);
      return fail(NAME, `IPv6 forwarding is off, but ${relays.join('; ')}: packets for others are dropped`, FORWARDING_HINT);
    }
    const {settings} = await context.storedMeshes();
    const advertising = settings.filter((mesh) => mesh.advertiseRoutes || mesh.advertiseDefault).map((mesh) => mesh.meshId);
    const peers = settings.filter((mesh) => mesh.role === 'peer').map((mesh) => mesh.meshId);
    if (on) return ok(NAME, 'IPv6 forwarding is on');
    if (advertising.length > 0) {
      return warn(NAME, `IPv6 forwarding is off, and this node advertises routes in ${advertising.join(', ')} (the daemon is not running, so this is from the saved settings)`, `the daemon turns it on unless kernel.manageForwarding is false; otherwise ${FORWARDING_HINT}`);
    }
    if (peers.length > 0) return ok(NAME, `IPv6 forwarding is off; needed only once clients are homed on this peer (meshes ${peers.join(', ')}); start the daemon to know`);
    return ok(NAME, 'IPv6 forwarding is off; not needed: no mesh here relays');
  },
};
