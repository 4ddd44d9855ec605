import {Flags} from '../cli/oclif.js';
import {DaemonClientCommand} from '../cli/base-command.js';
import {colourEnabled, palette} from '../cli/colour.js';
import {runChecks} from '../cli/doctor/check.js';
import {DOCTOR_CHECKS} from '../cli/doctor/checks/index.js';
import {DoctorContext} from '../cli/doctor/context.js';
import {doctorReport, renderReport, type DoctorReport} from '../cli/doctor/report.js';

/** `wgmesh doctor`: check the host and the daemon, one line per check with the fix; exit 1 when a check fails. */
export default class Doctor extends DaemonClientCommand {
  static override summary = 'Check this host for what wgmesh needs, one line per check with the fix; exits 1 when a check fails';
  static override description =
    'Checks: the config, root or CAP_NET_ADMIN, the WireGuard kernel module or wireguard-go, ip and wg, /dev/net/tun, IPv6, IPv6 forwarding where this node relays, ' +
    'the ports of the config and the meshes, the clock, the data dir permissions, the daemon on its socket, and recent WireGuard handshakes in each mesh. ' +
    'Each check reports ok, warn, fail or skip (does not apply here).';
  static override examples = ['<%= config.bin %> <%= command.id %>', 'sudo <%= config.bin %> <%= command.id %> --json'];
  static override flags = {
    'data-dir': Flags.string({description: 'data dir to check, as given to the daemon [default: config `dataDir`]'}),
    wg: Flags.string({description: 'WireGuard driver, as given to the daemon [default: config `wgDriver`]'}),
  };

  async run(): Promise<DoctorReport> {
    const {flags} = await this.parse(Doctor);
    const context = new DoctorContext({configFile: flags.config, overrides: {socket: flags.socket, dataDir: flags['data-dir'], wgDriver: flags.wg}});
    const report = doctorReport(await runChecks(DOCTOR_CHECKS, context));
    if (this.jsonEnabled()) {
      if (report.status !== 'fail') return report;
      this.logJson(report);
    } else {
      this.log(renderReport(report, palette(colourEnabled(process.stdout, process.env))));
    }
    if (report.status === 'fail') this.exit(1);
    return report;
  }
}
