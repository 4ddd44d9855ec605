/**
 * Per-mesh settings: what the user chose when creating or joining a mesh,
 * merged over `baseConfiguration`, and persisted with the mesh.
 */
import {z} from 'zod';
import {ROLES} from '../model/record.js';

/** Most control endpoints kept in {@link MeshSettings.seeds}. */
export const MAX_SEEDS = 8;

/** What a node keeps about each mesh it is in (besides the replicated state). */
export const meshSettingsFileSchema = z.object({
  version: z.literal(1),
  meshId: z.string(),
  storeKind: z.string(),
  interfaceName: z.string(),
  role: z.enum(ROLES),
  /** Requested WireGuard port (0: any). */
  listenPort: z.number().int().min(0).max(65535),
  /**
   * The port the system picked at the first start of a mesh whose
   * `listenPort` is 0, asked for again at every start (firewall rules name
   * it); replaced, with a warning, when another program holds it then.
   * Absent until the first start, and in files written before it existed.
   */
  pickedPort: z.number().int().min(1).max(65535).optional(),
  /** Host advertised to others, when known. */
  endpointHost: z.string().nullable(),
  keepaliveSeconds: z.number().int().min(0).max(65535),
  advertiseRoutes: z.boolean(),
  advertiseDefault: z.boolean(),
  /** Collision counter of this node's address. */
  addressCounter: z.number().int().min(0).max(255),
  joinedAt: z.number().int(),
  preUp: z.array(z.string()),
  postUp: z.array(z.string()),
  preDown: z.array(z.string()),
  postDown: z.array(z.string()),
  /**
   * Control endpoints of a few peers of the mesh (at most {@link MAX_SEEDS}),
   * refreshed at each start, join and stop: whom to sync with when the saved
   * state is lost. Absent in files written before it existed.
   */
  seeds: z.array(z.string().max(300)).max(MAX_SEEDS).optional(),
  /**
   * This node's membership credential (base64; trust/credential.ts), carried
   * in every entry it writes. Absent in files of meshes made before meshes
   * had an authority: such a mesh is not restored (see Daemon.restore).
   */
  credential: z.string().max(8192).optional(),
});

/** What a node keeps about each mesh it is in (besides the replicated state). */
export type MeshSettings = z.infer<typeof meshSettingsFileSchema>;
