import {DEFAULT_NODE_DAYS, MAX_CERTIFICATE_DAYS, issueNodeCertificateFiles} from '@wgmesh/core';
import {Flags} from '../../cli/oclif.js';
import {WgmeshCommand} from '../../cli/base-command.js';

/** What `wgmesh certs issue --json` prints: the written paths (the config's three TLS keys) and what the certificate holds. */
export interface CertsIssueJson {
  name: string;
  /** Absolute path for the config key `caCertificatePath`. */
  caCertificatePath: string;
  /** Absolute path for the config key `certificatePath`. */
  certificatePath: string;
  /** Absolute path for the config key `privateKeyPath` (mode 0600); null when issued for the node's own key (no key file: the daemon uses its identity). */
  privateKeyPath: string | null;
  /** The node id the certificate proves (issued for the node's key), else null. */
  nodeId: string | null;
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

/** `wgmesh certs issue`: a node's TLS certificate for its node key, signed by the CA. */
export default class CertsIssue extends WgmeshCommand {
  static override summary = "Issue a node's TLS certificate for its node key from the certificate authority (CA mode)";
  // One line per paragraph: oclif wraps help text to the terminal itself.
  static override description = [
    "Only for CA mode. Without certificate files a daemon's TLS identity is its own node key (a certificate it issues itself at start), which already proves to every peer which node it is. Set caCertificatePath and certificatePath to also require every member's certificate to come from your CA; the certificate must then be for the node's key, so issue it with --data-dir (the node's data directory, where its identity.json is; made there if missing) or --signing-key (the node's Ed25519 signing key in base64; a daemon refusing a certificate prints it).",
    "Reads ca.crt and ca.key from the --ca directory and writes, into --out: NODE.crt (mode 0644) and a copy of ca.crt. Prints the two lines to put in that node's config file (caCertificatePath, certificatePath); the daemon's private key stays in its identity file. Without --data-dir and --signing-key it makes a new key pair and also writes NODE.key (mode 0600), as for a PKI of your own; a daemon refuses such a certificate as its own.",
    'The certificate is valid as both TLS server and client (every daemon is both), its CN is the node name, and it lists every --host as a subject alternative name: host names as DNS names, IPv4 and IPv6 addresses as IP addresses. Give every name and address other nodes use to reach this node.',
    `Valid for ${DEFAULT_NODE_DAYS} days (2 years) unless --days says otherwise, and never past the CA's own expiry. Existing files are never overwritten without --force.`,
  ].join('\n\n');

  static override examples = [
    {
      description: 'This host\'s daemon (data directory /var/lib/wgmesh), reached by a host name and an IPv4 address',
      command: '<%= config.bin %> <%= command.id %> --ca ./wgmesh-ca --data-dir /var/lib/wgmesh --name node-1 --host node1.example.com --host 192.0.2.10 --out ./node-1',
    },
    {
      description: 'A node elsewhere, by its signing key; IPv6 only, valid for one year',
      command: '<%= config.bin %> <%= command.id %> --ca ./wgmesh-ca --signing-key 3Yc1y0Tq6s5cQ6pZ1lWJ5V1t0m1XQ5m1b7jW2y4x3nE= --name node-2 --host fd00::2 --days 365 --out ./node-2',
    },
    {
      description: 'Several hosts at once, machine-readable output',
      command: '<%= config.bin %> <%= command.id %> --ca ./wgmesh-ca --data-dir /var/lib/wgmesh --name node-3 --host node3.example.com,203.0.113.7 --out ./node-3 --json',
    },
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
    'data-dir': Flags.string({description: "the node's data directory: issue for the signing key of its identity.json (made there if missing)", exclusive: ['signing-key']}),
    'signing-key': Flags.string({description: "the node's Ed25519 signing key, 32 bytes in base64: issue for that key", exclusive: ['data-dir']}),
    out: Flags.string({description: 'directory to write NODE.crt and ca.crt (and NODE.key, without --data-dir/--signing-key) into (created, mode 0700, if missing)', required: true}),
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
      ...(flags['data-dir'] === undefined ? {} : {dataDir: flags['data-dir']}),
      ...(flags['signing-key'] === undefined ? {} : {signingKey: flags['signing-key']}),
    });
    const notAfter = files.notAfter.toISOString();
    if (files.truncated) this.warn(`the CA expires on ${notAfter.slice(0, 10)}, so this certificate does too; make a new CA before then`);
    const sans = [
      ...(files.dnsNames.length > 0 ? [`DNS ${files.dnsNames.join(', ')}`] : []),
      ...(files.ipAddresses.length > 0 ? [`IP ${files.ipAddresses.join(', ')}`] : []),
    ].join('; ');
    const forKey = files.nodeId === undefined ? '' : ` with node id ${files.nodeId}`;
    this.log(`Issued a certificate for node "${files.name}"${forKey} (${sans}), valid until ${notAfter.slice(0, 10)}:`);
    this.log(`  ${files.certificatePath}`);
    if (files.privateKeyPath !== undefined) this.log(`  ${files.privateKeyPath}  (mode 0600)`);
    this.log(`  ${files.caCertificatePath}`);
    if (files.privateKeyPath === undefined) {
      this.log(`Put these lines in ${files.name}'s config file (its private key is its identity's: no privateKeyPath):`);
    } else {
      this.warn("this certificate is not for a node's key, so no wgmesh daemon accepts it as its own; issue with --data-dir or --signing-key for a daemon");
      this.log(`Put these lines in ${files.name}'s config file:`);
    }
    this.log(`caCertificatePath: ${yamlPath(files.caCertificatePath)}`);
    this.log(`certificatePath: ${yamlPath(files.certificatePath)}`);
    if (files.privateKeyPath !== undefined) this.log(`privateKeyPath: ${yamlPath(files.privateKeyPath)}`);
    return {
      name: files.name,
      caCertificatePath: files.caCertificatePath,
      certificatePath: files.certificatePath,
      privateKeyPath: files.privateKeyPath ?? null,
      nodeId: files.nodeId ?? null,
      dnsNames: [...files.dnsNames],
      ipAddresses: [...files.ipAddresses],
      notAfter,
      truncated: files.truncated,
    };
  }
}
