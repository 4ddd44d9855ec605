/** `config`: the daemon's config file loads and validates, as the daemon would load it. */
import {fail, ok, type DoctorCheck} from '../check.js';

const NAME = 'config';

/** The config file (or the defaults) is valid. */
export const configCheck: DoctorCheck = {
  name: NAME,
  async run(context) {
    const {config, error} = await context.config();
    if (!config) return fail(NAME, error, 'fix the line named, or point --config / WGMESH_CONFIG at the right file');
    return ok(NAME, `${config.configFile === null ? 'no config file; the defaults apply' : `${config.configFile} is valid`} (data dir ${config.dataDir}, socket ${config.socket})`);
  },
};
