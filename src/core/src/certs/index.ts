/**
 * Certificates for the control plane's mutual TLS: a small CA per mesh (or per
 * site) and node certificates valid as both TLS server and client, made
 * in-process so users need no openssl.
 */
export {
  DEFAULT_CA_DAYS,
  DEFAULT_NODE_DAYS,
  MAX_CERTIFICATE_DAYS,
  createCertificateAuthority,
  issueNodeCertificate,
  openCertificateAuthority,
  signingPublicKey,
  validateDays,
  type CertificateAuthority,
  type CertificateAuthoritySources,
  type CertsDependencies,
  type CreateCertificateAuthorityOptions,
  type IssueNodeCertificateOptions,
  type NodeCertificate,
} from './authority.js';
export {
  CA_CERTIFICATE_FILE,
  CA_KEY_FILE,
  initCertificateAuthority,
  issueNodeCertificateFiles,
  loadCertificateAuthority,
  type CertificateAuthorityFiles,
  type InitCertificateAuthorityOptions,
  type IssueNodeCertificateFilesOptions,
  type NodeCertificateFiles,
} from './files.js';
export {parseHosts, validateCommonName, validateNodeName, type SubjectAltNames} from './names.js';
export {certificateNode, selfIssueTlsIdentity, type CertificateNode, type TlsIdentity} from './node-tls.js';
