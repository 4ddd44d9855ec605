/**
 * `handshakes`: for each mesh, whether this node's WireGuard handshake with
 * each member it has as a WireGuard peer is recent, from the daemon's
 * `mesh show`. WireGuard renews a session every two minutes while traffic
 * flows and handshakes only when there is traffic, so an old or missing
 * handshake is a failure only where persistent keepalive makes traffic (the
 * mesh's saved keepalive setting); elsewhere it may just mean an idle tunnel.
 */
import {HANDSHAKE_FRESH_MS, type MeshShowNode, type MeshShowView} from '@wgmesh/core/client';
import {fail, ok, skip, warn, type CheckResult, type DoctorCheck} from '../check.js';

const NAME = 'handshakes';

export {HANDSHAKE_FRESH_MS} from '@wgmesh/core/client';

/** A member this node learnt of less than this long ago may not have had time to handshake. */
export const NEW_MEMBER_GRACE_MS = 30_000;

/** How a member's latest handshake reads, e.g. `never` or `5m ago`. */
function age(node: MeshShowNode, now: number): string {
  const at = node.stats?.latestHandshakeMs ?? null;
  if (at === null) return 'never';
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  return seconds < 120 ? `${seconds} s ago` : `${Math.round(seconds / 60)} min ago`;
}

function label(node: MeshShowNode): string {
  return `${node.alias ?? node.id.slice(0, 12)} (${node.address})`;
}

/** The line for one mesh; `keepalive` is its persistent keepalive in seconds (0: none). */
export function meshHandshakes(mesh: MeshShowView, keepalive: number, now: number): CheckResult {
  const peers = mesh.nodes.filter((node) => !node.self && node.stats !== null);
  if (peers.length === 0) return ok(NAME, `mesh ${mesh.meshId}: no WireGuard peers yet`);
  const stale = peers.filter((node) => {
    const at = node.stats?.latestHandshakeMs ?? null;
    return at === null || now - at > HANDSHAKE_FRESH_MS;
  });
  if (stale.length === 0) return ok(NAME, `mesh ${mesh.meshId}: recent handshake with all ${peers.length} WireGuard peer${peers.length === 1 ? '' : 's'}`);
  const listed = stale.map((node) => `${label(node)} ${age(node, now)}`).join(', ');
  const detail = `mesh ${mesh.meshId}: no recent handshake with ${stale.length} of ${peers.length} WireGuard peers: ${listed}`;
  const endpoints = 'check that their WireGuard endpoints (wgmesh mesh show --wide) are reachable over UDP from here and this node\'s from there (firewall, NAT)';
  const settled = stale.filter((node) => node.receivedAt === null || now - node.receivedAt > NEW_MEMBER_GRACE_MS);
  if (keepalive > 0 && settled.length > 0) return fail(NAME, `${detail} (keepalive ${keepalive} s keeps tunnels busy, so this is not idleness)`, endpoints);
  return warn(NAME, `${detail} (without keepalive an idle tunnel does not handshake)`, `ping6 one of their addresses to start a handshake; if it stays old, ${endpoints}`);
}

/** Recent WireGuard handshakes in every mesh of the running daemon. */
export const handshakesCheck: DoctorCheck = {
  name: NAME,
  async run(context) {
    const daemon = await context.daemon();
    if (!daemon.reachable) return skip(NAME, 'the daemon is not reachable (see the daemon check)');
    if (daemon.meshes.length === 0) return skip(NAME, 'this node is in no mesh');
    const {settings} = await context.storedMeshes();
    const now = Date.now();
    return daemon.meshes.map((mesh) => meshHandshakes(mesh, settings.find((saved) => saved.meshId === mesh.meshId)?.keepaliveSeconds ?? 0, now));
  },
};
