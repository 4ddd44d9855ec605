import type {ApiTokenResult} from '@wgmesh/core/client';
import {Flags} from '../../cli/oclif.js';
import {DaemonClientCommand} from '../../cli/base-command.js';

/** `wgmesh api token`. */
export default class ApiToken extends DaemonClientCommand {
  static override summary = "Print the HTTP API's bearer token, or replace it";
  static override description = [
    "Every request to the daemon's HTTP API (config apiEnabled) needs 'Authorization: Bearer <token>'; the dashboard asks for the same token. The daemon makes the token on first use and keeps it in <dataDir>/api-token (mode 0600).",
    '--rotate replaces it: the old token is refused at once, and event streams opened with it are closed.',
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --rotate',
    'curl -H "Authorization: Bearer $(<%= config.bin %> <%= command.id %>)" http://127.0.0.1:9475/api/v1/status',
  ];
  static override flags = {
    rotate: Flags.boolean({description: 'replace the token with a new one (the old one stops working at once)', default: false}),
  };

  async run(): Promise<ApiTokenResult> {
    const {flags} = await this.parse(ApiToken);
    const result = await this.call(flags, 'api.token', flags.rotate ? {rotate: true} : {});
    // The token alone on stdout, so that $(wgmesh api token) works; the rest on stderr.
    this.log(result.token);
    if (result.rotated) this.logToStderr(`the API token was replaced (${result.path}); the old one is refused from now on`);
    return result;
  }
}
