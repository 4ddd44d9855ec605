/** Flags shared by `mesh create`, `mesh join` and `mesh set` and their mapping to IPC parameters; the mesh id argument and `--mesh` flag. */
import {isMeshId, type MeshSettingsInput} from '@wgmesh/core/client';
import {Args, Flags} from './oclif.js';

/** Per-mesh settings flags. Unset flags fall back to `baseConfiguration` in the daemon's config. */
export const meshSettingsFlags = {
  port: Flags.integer({description: 'WireGuard listen port (0: let the system pick one)', min: 0, max: 65535}),
  endpoint: Flags.string({description: 'host name or IP other nodes use to reach this node (no port) [default: publicEndpoint, else discovered]'}),
  role: Flags.string({description: 'role of this node in the mesh', options: ['peer', 'client']}),
  keepalive: Flags.integer({
    description: 'WireGuard persistent keepalive in seconds (0: off; default baseConfiguration.keepAliveWg for a peer, 0 unless set, and baseConfiguration.clientKeepAliveWg for a client, 25 unless set)',
    min: 0,
    max: 65535,
  }),
  'advertise-routes': Flags.boolean({description: "advertise this mesh's prefix and learned routes into this node's other meshes"}),
  'advertise-default': Flags.boolean({description: 'advertise a default route (::/0) into this mesh: this node is an exit (needs --advertise-routes)'}),
};

/** The IPC parameters for the flags the user gave (absent flags are left out). */
export function meshSettingsFromFlags(flags: {
  port?: number;
  endpoint?: string;
  role?: string;
  keepalive?: number;
  'advertise-routes'?: boolean;
  'advertise-default'?: boolean;
}): MeshSettingsInput {
  const input: MeshSettingsInput = {};
  if (flags.port !== undefined) input.port = flags.port;
  if (flags.endpoint !== undefined) input.endpoint = flags.endpoint;
  if (flags.role === 'peer' || flags.role === 'client') input.role = flags.role;
  if (flags.keepalive !== undefined) input.keepalive = flags.keepalive;
  // `false` only from `mesh set --no-advertise-...`; create and join have no way to say it (the config decides).
  if (flags['advertise-routes'] !== undefined) input.advertiseRoutes = flags['advertise-routes'];
  if (flags['advertise-default'] !== undefined) input.advertiseDefault = flags['advertise-default'];
  return input;
}

/**
 * Mesh ids are lower-case base32: one typed or pasted in upper case means the
 * same mesh. Anything that is no mesh id in either case is passed on as typed,
 * so that the error quotes what the user wrote.
 */
const canonicalMeshId = async (input: string): Promise<string> => (isMeshId(input.toLowerCase()) ? input.toLowerCase() : input);

/** A mesh id argument, used as `Args.string` is (lower-cased; the daemon checks the rest). */
export const meshIdArg = Args.custom<string>({parse: canonicalMeshId});

/** A `--mesh` flag naming one mesh, used as `Flags.string` is (lower-cased; the daemon checks the rest). */
export const meshIdFlag = Flags.custom<string>({parse: canonicalMeshId});
