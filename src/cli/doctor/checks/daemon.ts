/** `daemon`: the daemon answers on its IPC socket within the probe time. */
import {DaemonNotRunningError, IpcPermissionError} from '@wgmesh/core/client';
import {fail, ok, warn, type CheckResult, type DoctorCheck} from '../check.js';

const NAME = 'daemon';

/** The daemon is reachable and can show each of its meshes; a problem it reports with a mesh is passed on. */
export const daemonCheck: DoctorCheck = {
  name: NAME,
  async run(context) {
    const daemon = await context.daemon();
    if (!daemon.reachable) {
      if (daemon.cause instanceof DaemonNotRunningError) {
        return fail(NAME, `the daemon is not running: nothing answers on ${daemon.socket}`, "start it ('systemctl start wgmesh' when installed as a service, else 'wgmesh daemon'), or point --socket / WGMESH_SOCKET at the running one");
      }
      if (daemon.cause instanceof IpcPermissionError) return fail(NAME, `this user may not connect to ${daemon.socket}`, 'run doctor as root, or as a user of the group the socket belongs to');
      return fail(NAME, daemon.error, "look at the daemon's log; restart it if it is stuck");
    }
    const {status} = daemon;
    const count = status.meshes.length;
    const results: CheckResult[] = [ok(NAME, `the daemon (pid ${status.pid}, node ${status.nodeId}) answers on ${daemon.socket}; ${count} mesh${count === 1 ? '' : 'es'}`)];
    for (const mesh of status.meshes) if (mesh.problem !== undefined) results.push(warn(NAME, `mesh ${mesh.meshId}: ${mesh.problem}`, 'do what the message says; wgmesh status shows it too'));
    for (const {meshId, error} of daemon.meshErrors) results.push(warn(NAME, `mesh show ${meshId} failed: ${error}`, "see the daemon's log"));
    return results;
  },
};
