/** Config of the daemon's local servers: `dnsEnabled`/`dnsListen`, `metricsEnabled`/`metricsListen`, and their listen addresses. */
import {describe, expect, it} from 'vitest';
import {parseConfig} from '../src/config/index.js';
import {ConfigError, InvalidInputError} from '../src/errors.js';
import {parseListenAddress} from '../src/runtime/endpoint.js';

const FILE = '/etc/wgmesh/config.yaml';
const HOST = {env: {}, isRoot: false, home: '/home/alice', cwd: '/work'};
const RULE = 'must be a local listen address: IPv4:PORT or [IPv6]:PORT with a port from 0 to 65535 (0: any free port)';

describe('parseListenAddress', () => {
  it.each([
    ['127.0.0.1:5353', '127.0.0.1', 5353],
    ['0.0.0.0:0', '0.0.0.0', 0],
    ['[::1]:9474', '::1', 9474],
    ['[fd00::53]:65535', 'fd00::53', 65535],
  ])('%s', (text, host, port) => {
    expect(parseListenAddress(text)).toEqual({host, port});
  });

  it.each([['localhost:53'], ['::1:53'], ['[127.0.0.1]:53'], ['127.0.0.1'], ['127.0.0.1:65536'], ['[::1]'], ['[zz::1]:53'], ['1.2.3:53'], [' 127.0.0.1:53'], ['']])('rejects %j', (text) => {
    expect(() => parseListenAddress(text)).toThrow(InvalidInputError);
  });
});

describe('config keys of the local servers', () => {
  it('are off by default, on the documented addresses', () => {
    const config = parseConfig('', FILE, HOST);
    expect([config.dnsEnabled, config.dnsListen, config.metricsEnabled, config.metricsListen]).toEqual([false, '127.0.0.1:5353', false, '127.0.0.1:9474']);
  });

  it('take an IPv6 listen address in brackets', () => {
    const config = parseConfig('dnsEnabled: true\ndnsListen: "[::1]:53"\nmetricsEnabled: true\nmetricsListen: "[::]:0"\n', FILE, HOST);
    expect([config.dnsEnabled, config.dnsListen, config.metricsEnabled, config.metricsListen]).toEqual([true, '[::1]:53', true, '[::]:0']);
  });

  it.each([
    ['dnsEnabled: "yes"', 'dnsEnabled: must be true or false (got "yes")'],
    ['dnsListen: "localhost:53"', `dnsListen: ${RULE} (got "localhost:53")`],
    ['metricsEnabled: 1', 'metricsEnabled: must be true or false (got 1)'],
    ['metricsListen: 9474', `metricsListen: ${RULE} (got 9474)`],
    ['metricsListen: "127.0.0.1:70000"', `metricsListen: ${RULE} (got "127.0.0.1:70000")`],
  ])('%s is one clear error', (yaml, message) => {
    expect(() => parseConfig(`${yaml}\n`, FILE, HOST)).toThrow(new ConfigError(`config ${FILE}: ${message}`));
  });
});
