import {Flags} from '@oclif/core';
import {DEFAULT_NODE_DAYS, MAX_CERTIFICATE_DAYS, issueNodeCertificateFiles} from '@wgmesh/core';
import {WgmeshCommand} from '../../cli/base-command.js';

/** What `wgmesh certs issue --json` prints: the written paths (the config's three TLS keys) and what the certificate holds. */
export interface CertsIssueJson {
  name: string;
  /** Absolute path for the config key `caCertificatePath`. */
  caCertificatePath: string;
  /** Absolute path for the config key `certificatePath`. */
  certificatePath: string;
  /** Absolute path for the config key `privateKeyPath` (mode 0600). */
  privateKeyPath: string;
  dnsNames: string[];
  ipAddresses: string[];
  /** Expiry, ISO 8601. */
  notAfter: string;
  /** True when the requested validity was cut to the CA's expiry. */
  truncated: boolean;
}

/** A path as a YAML scalar: plain when safe, else double-quoted (a JSON string is valid YAML). */
function yamlPath(path: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(path) ? path : JSON.stringify(path);
}

/** `wgmesh certs issue`: a node's TLS certificate and key, signed by the CA. */
export default class CertsIssue extends WgmeshCommand {
  static override summary = "Issue a node's TLS certificate and key from the certificate authority";
  // One line per paragraph: oclif wraps help text to the terminal itself.
  static override description = [
    "Reads ca.crt and ca.key from the --ca directory and writes, into --out: NODE.crt (mode 0644), NODE.key (mode 0600) and a copy of ca.crt. Prints the three lines to put in that node's config file (caCertificatePath, certificatePath, privateKeyPath).",
    'The certificate is valid as both TLS server and client (every daemon is both), its CN is the node name, and it lists every --host as a subject alternative name: host names as DNS names, IPv4 and IPv6 addresses as IP addresses. Give every name and address other nodes use to reach this node.',
    `Valid for ${DEFAULT_NODE_DAYS} days (2 years) unless --days says otherwise, and never past the CA's own expiry. Existing files are never overwritten without --force.`,
  ].join('\n\n');

  static override examples = [
    {
      description: 'A node reached by a host name and an IPv4 address',
      command: '<%= config.bin %> <%= command.id %> --ca ./wgmesh-ca --name node-1 --host node1.example.com --host 192.0.2.10 --out ./node-1',
    },
    {description: 'An IPv6-only node, certificate valid for one year', command: '<%= config.bin %> <%= command.id %> --ca ./wgmesh-ca --name node-2 --host fd00::2 --days 365 --out ./node-2'},
    {description: 'Several hosts at once, machine-readable output', command: '<%= config.bin %> <%= command.id %> --ca ./wgmesh-ca --name node-3 --host node3.example.com,203.0.113.7 --out ./node-3 --json'},
  ];

  static override flags = {
    ca: Flags.string({description: "directory holding the CA's ca.crt and ca.key (from 'certs init')", required: true}),
    name: Flags.string({description: "the node's name: certificate CN and file name (letters, digits, hyphens)", required: true}),
    host: Flags.string({
      // Not `required`: with none, core's check gives a clearer one-line message than oclif's.
      description: 'host name or IP address (IPv4 or IPv6) other nodes reach this node by; at least one; repeat it or separate with commas',
      multiple: true,
      delimiter: ',',
    }),
    out: Flags.string({description: 'directory to write NODE.crt, NODE.key and ca.crt into (created, mode 0700, if missing)', required: true}),
    days: Flags.integer({description: `validity in days, 1 to ${MAX_CERTIFICATE_DAYS} [default: ${DEFAULT_NODE_DAYS}]`}),
    force: Flags.boolean({description: 'overwrite existing NODE.crt / NODE.key / ca.crt in --out', default: false}),
  };

  async run(): Promise<CertsIssueJson> {
    const {flags} = await this.parse(CertsIssue);
    const files = await issueNodeCertificateFiles({
      caDir: flags.ca,
      outDir: flags.out,
      name: flags.name,
      hosts: flags.host ?? [],
      days: flags.days,
      force: flags.force,
    });
    const notAfter = files.notAfter.toISOString();
    if (files.truncated) this.warn(`the CA expires on ${notAfter.slice(0, 10)}, so this certificate does too; make a new CA before then`);
    const sans = [
      ...(files.dnsNames.length > 0 ? [`DNS ${files.dnsNames.join(', ')}`] : []),
      ...(files.ipAddresses.length > 0 ? [`IP ${files.ipAddresses.join(', ')}`] : []),
    ].join('; ');
    this.log(`Issued a certificate for node "${files.name}" (${sans}), valid until ${notAfter.slice(0, 10)}:`);
    this.log(`  ${files.certificatePath}`);
    this.log(`  ${files.privateKeyPath}  (mode 0600)`);
    this.log(`  ${files.caCertificatePath}`);
    this.log(`Put these lines in ${files.name}'s config file:`);
    this.log(`caCertificatePath: ${yamlPath(files.caCertificatePath)}`);
    this.log(`certificatePath: ${yamlPath(files.certificatePath)}`);
    this.log(`privateKeyPath: ${yamlPath(files.privateKeyPath)}`);
    return {
      name: files.name,
      caCertificatePath: files.caCertificatePath,
      certificatePath: files.certificatePath,
      privateKeyPath: files.privateKeyPath,
      dnsNames: [...files.dnsNames],
      ipAddresses: [...files.ipAddresses],
      notAfter,
      truncated: files.truncated,
    };
  }
}
