import {dirname} from 'node:path';
import {DEFAULT_CA_DAYS, MAX_CERTIFICATE_DAYS, initCertificateAuthority} from '@wgmesh/core';
import {Flags} from '../../cli/oclif.js';
import {WgmeshCommand} from '../../cli/base-command.js';

/** What `wgmesh certs init --json` prints. */
export interface CertsInitJson {
  /** Absolute path of the CA certificate (ca.crt). */
  certificatePath: string;
  /** Absolute path of the CA private key (ca.key, mode 0600). */
  privateKeyPath: string;
  /** The CA's common name. */
  commonName: string;
  /** Expiry, ISO 8601. */
  notAfter: string;
}

/** `wgmesh certs init`: make the certificate authority that signs every node's TLS certificate. */
export default class CertsInit extends WgmeshCommand {
  static override summary = "Create a certificate authority for the transport's mutual TLS (CA mode, optional)";
  // One line per paragraph: oclif wraps help text to the terminal itself.
  static override description = [
    "Writes DIR/ca.crt (the CA certificate, mode 0644: copy it to every node) and DIR/ca.key (its private key, mode 0600: keep it secret, ideally on one admin machine only). Then issue a certificate for each node's key with 'wgmesh certs issue --data-dir' or '--signing-key'. A CA is optional: without certificate files every daemon proves its node key in TLS; a CA adds the requirement that every member's certificate comes from it.",
    `The CA has an ECDSA P-256 key and is valid for ${DEFAULT_CA_DAYS} days (10 years) unless --days says otherwise. Existing files are never overwritten without --force. No openssl needed.`,
  ].join('\n\n');

  static override examples = [
    {description: 'Create a CA in ./wgmesh-ca', command: '<%= config.bin %> <%= command.id %> --out ./wgmesh-ca'},
    {description: 'A named CA valid for 5 years', command: '<%= config.bin %> <%= command.id %> --out /etc/wgmesh/ca --name "Example Corp mesh CA" --days 1825'},
    {description: 'Replace an existing CA (every node certificate must then be reissued)', command: '<%= config.bin %> <%= command.id %> --out ./wgmesh-ca --force'},
  ];

  static override flags = {
    out: Flags.string({description: 'directory to write ca.crt and ca.key into (created, mode 0700, if missing)', required: true}),
    days: Flags.integer({description: `validity in days, 1 to ${MAX_CERTIFICATE_DAYS} [default: ${DEFAULT_CA_DAYS}]`}),
    name: Flags.string({description: "the CA's common name [default: wgmesh CA <random hex>]"}),
    force: Flags.boolean({description: 'overwrite an existing ca.crt / ca.key', default: false}),
  };

  async run(): Promise<CertsInitJson> {
    const {flags} = await this.parse(CertsInit);
    const files = await initCertificateAuthority({outDir: flags.out, days: flags.days, commonName: flags.name, force: flags.force});
    const notAfter = files.notAfter.toISOString();
    this.log(`Created certificate authority "${files.commonName}", valid until ${notAfter.slice(0, 10)}:`);
    this.log(`  ${files.certificatePath}  certificate: copy it to every node`);
    this.log(`  ${files.privateKeyPath}  private key (mode 0600): keep it secret, off the nodes if you can`);
    this.log('Next, for each node:');
    this.log(`  ${this.config.bin} certs issue --ca ${dirname(files.certificatePath)} --data-dir NODE_DATA_DIR --name NODE --host HOST --out DIR`);
    this.log("  (or --signing-key KEY instead of --data-dir: the node's key, which a daemon refusing a certificate prints)");
    return {certificatePath: files.certificatePath, privateKeyPath: files.privateKeyPath, commonName: files.commonName, notAfter};
  }
}
