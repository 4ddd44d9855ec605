/**
 * Whether members can reach this node at the host it advertises. In CA mode
 * with `grpc.verifyServerName` (the default there), a member checks the host
 * it dials against the certificate the node presents, as HTTPS does; a node
 * advertising a host its certificate does not list is refused by every
 * member on every dial. Without a CA no host is checked (the self-issued
 * certificate proves the node key and lists no host), so nothing can be wrong.
 */
import {X509Certificate} from 'node:crypto';
import {isIP} from 'node:net';
import type {GrpcTransportSettings} from './settings.js';
import type {TlsMaterial} from './tls.js';

/** The names a certificate's subjectAltName lists (`DNS a.example, IP 192.0.2.10`), or `no host at all`, for messages. */
export function describeListedNames(subjectAltName: string | undefined): string {
  const names = (subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.length > 0)
    .map((entry) => entry.replace(/^IP Address:/, 'IP ').replace(/^DNS:/, 'DNS '));
  return names.length > 0 ? names.join(', ') : 'no host at all';
}

/** Checks advertised hosts against this node's own certificate. */
export class AdvertisedHostCheck {
  private readonly leaf: X509Certificate | undefined;
  private readonly certificatePath: string;

  constructor(material: TlsMaterial, settings: GrpcTransportSettings) {
    const checked = material.mode === 'ca' && settings.verifyServerName && settings.tls !== null;
    this.leaf = checked ? new X509Certificate(material.certificate) : undefined;
    this.certificatePath = settings.tls?.certificatePath ?? '';
  }

  /** See Transport.advertisedHostProblem. */
  problem(host: string): string | undefined {
    const leaf = this.leaf;
    if (!leaf) return undefined;
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    const covered = isIP(bare) !== 0 ? leaf.checkIP(bare) !== undefined : leaf.checkHost(bare) !== undefined;
    if (covered) return undefined;
    return (
      `this node's certificate (${this.certificatePath}) does not list the host it would advertise, '${bare}' ` +
      `(it lists ${describeListedNames(leaf.subjectAltName)}): members check the host they dial against it and would refuse every connection to this node. ` +
      `Advertise a host it lists (--endpoint HOST; for a mesh already joined 'wgmesh mesh set MESH_ID --endpoint HOST'), ` +
      `or issue a certificate that lists it ('wgmesh certs issue --ca CA_DIR --data-dir DATA_DIR --name NAME --host ${bare} --out DIR') and point certificatePath at it, ` +
      'or set grpc.verifyServerName: false on every member'
    );
  }
}
