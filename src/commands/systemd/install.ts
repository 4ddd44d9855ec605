import {join} from 'node:path';
import {Flags} from '../../cli/oclif.js';
import {WgmeshCommand} from '../../cli/base-command.js';
import {DEFAULT_UNIT_DIR, SystemdNotRootError, SystemdNotRunningError, UNIT_NAME, systemctl, systemdRunning, unitCommandForHost, unitForInstallation, writeUnit, type UnitFileChange} from '../../cli/systemd-unit.js';

/** `wgmesh systemd install --json`. */
export interface SystemdInstallJson {
  /** Where the unit is (or, with --dry-run, would be) written. */
  unitPath: string;
  /** What happened to the file; `null` with --dry-run. */
  change: UnitFileChange | null;
  dryRun: boolean;
  /** The unit text written. */
  unit: string;
  /** The jemalloc library the unit preloads; null when it runs with glibc's malloc (not found, or --no-jemalloc). */
  jemalloc: string | null;
  /** Whether `systemctl daemon-reload` ran (only where systemd runs). */
  reloaded: boolean;
  /** Whether the service was enabled and started (--now). */
  started: boolean;
  /** Commands left for the operator. */
  next: string[];
}

/** `wgmesh systemd install`: put the shipped wgmesh.service in place for this installation. */
export default class SystemdInstall extends WgmeshCommand {
  static override summary = 'Install the wgmesh.service systemd unit that runs the daemon at boot';
  static override description = [
    'Writes the unit shipped with wgmesh to /etc/systemd/system/wgmesh.service, with ExecStart running the node and the wgmesh that run this command, and reloads systemd. The service runs `wgmesh daemon` as root (data dir /var/lib/wgmesh, socket /run/wgmesh/wgmesh.sock) with only CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_CHOWN (to give the socket the group of config `socketGroup`), a read-only system except its state, runtime and /run/wireguard directories, reads /etc/wgmesh/config.yaml when present, tells systemd when it is ready (Type=notify) and restarts on failure.',
    '',
    'Where the host has jemalloc (Debian and Ubuntu: `apt-get install libjemalloc2`), the unit preloads it (LD_PRELOAD, MALLOC_CONF): unlike glibc\'s malloc, it gives the memory a burst of large messages took back to the system afterwards. --no-jemalloc keeps glibc\'s.',
    '',
    "Needs root, except with --dry-run, which prints the unit and changes nothing. Running it again after upgrading wgmesh rewrites the unit. Change the service with `systemctl edit wgmesh`; the file written is replaced by the next install. (`wgmesh service` is about the services a node advertises in its meshes, not this.)",
  ].join('\n');

  static override examples = [
    {description: 'Install, enable and start the service', command: 'sudo <%= config.bin %> <%= command.id %> --now'},
    {description: 'Print the unit this installation would write, changing nothing', command: '<%= config.bin %> <%= command.id %> --dry-run'},
    {description: 'Install only; start it later', command: 'sudo <%= config.bin %> <%= command.id %> && sudo systemctl enable --now wgmesh'},
  ];

  static override flags = {
    'dry-run': Flags.boolean({description: 'print the unit and what would be done; write nothing', default: false}),
    now: Flags.boolean({description: 'also enable the service and start it (systemctl enable --now wgmesh)', default: false}),
    'unit-dir': Flags.string({description: 'directory to write wgmesh.service to', default: DEFAULT_UNIT_DIR}),
    jemalloc: Flags.boolean({description: 'preload jemalloc when the host has it (--no-jemalloc: glibc malloc)', default: true, allowNo: true}),
  };

  async run(): Promise<SystemdInstallJson> {
    const {flags} = await this.parse(SystemdInstall);
    const dryRun = flags['dry-run'];
    const command = await unitCommandForHost(this.config.root, {jemalloc: flags.jemalloc});
    const {jemalloc} = command;
    const unit = await unitForInstallation(this.config.root, command);
    const noJemalloc = flags.jemalloc && jemalloc === null ? 'apt-get install libjemalloc2 and install again, so that the daemon returns memory after bursts' : undefined;
    const unitPath = join(flags['unit-dir'], UNIT_NAME);
    const start = `systemctl enable --now ${UNIT_NAME}`;
    if (dryRun) {
      if (!this.jsonEnabled()) {
        this.log(unit.trimEnd());
        this.logToStderr(`dry run: would write ${unitPath}, run systemctl daemon-reload${flags.now ? ` and ${start}` : ''}; nothing was changed${noJemalloc ? `; no jemalloc found: ${noJemalloc}` : ''}`);
      }
      return {unitPath, change: null, dryRun, unit, jemalloc, reloaded: false, started: false, next: noJemalloc ? [noJemalloc] : []};
    }

    if (process.geteuid?.() !== 0) {
      throw new SystemdNotRootError(`installing the systemd unit writes ${unitPath} and needs root: run 'sudo ${this.config.bin} systemd install' (or add --dry-run to print the unit without installing it)`);
    }
    const running = await systemdRunning();
    if (flags.now && !running) {
      throw new SystemdNotRunningError(`--now starts the service, but systemd is not running on this host (no /run/systemd/system); install without --now, or run the daemon yourself with 'wgmesh daemon'`);
    }
    const {change} = await writeUnit(flags['unit-dir'], unit);
    const next: string[] = [];
    if (running) await systemctl(['daemon-reload']);
    else next.push('systemctl daemon-reload (systemd is not running on this host now)');
    if (flags.now) await systemctl(['enable', '--now', UNIT_NAME]);
    else next.push(start);
    next.push(`journalctl -u ${UNIT_NAME} -f`);
    if (noJemalloc) next.push(noJemalloc);

    if (!this.jsonEnabled()) {
      this.log(`${change === 'unchanged' ? 'unchanged' : change === 'created' ? 'wrote' : 'replaced'} ${unitPath}`);
      if (running) this.log('systemd reloaded its units');
      if (flags.now) this.log(`${UNIT_NAME} enabled and started`);
      this.log(`next: ${next.join('; ')}`);
    }
    return {unitPath, change, dryRun, unit, jemalloc, reloaded: running, started: flags.now, next};
  }
}
