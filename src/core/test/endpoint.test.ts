import {describe, expect, it} from 'vitest';
import {formatEndpoint, parseEndpoint} from '../src/index.js';

describe('endpoints', () => {
  it('bracket IPv6 hosts and leave names and IPv4 alone', () => {
    expect(formatEndpoint('fd00::1', 4000)).toBe('[fd00::1]:4000');
    expect(formatEndpoint('192.0.2.7', 51820)).toBe('192.0.2.7:51820');
    expect(formatEndpoint('vpn.example.com', 1)).toBe('vpn.example.com:1');
  });

  it('parse what they format', () => {
    expect(parseEndpoint('[fd00::1]:4000')).toEqual({host: 'fd00::1', port: 4000});
    expect(parseEndpoint('vpn.example.com:4000')).toEqual({host: 'vpn.example.com', port: 4000});
  });

  it.each(['fd00::1:4000', 'host', 'host:0', 'host:70000', '[nothex]:1', ':4000', 'a b:1'])('reject %j', (text) => {
    expect(() => parseEndpoint(text)).toThrow(/is not an endpoint/);
  });
});
