import {describe, expect, it} from 'vitest';
import {describeUnavailable} from '../src/status.js';

describe('describeUnavailable', () => {
  it('blames the certificate when TLS says so, and names a NAT or firewall as well when the connection was only reset', () => {
    const alert = describeUnavailable('No connection established. Last error: Error: 1 SSL alert number 116: certificate required', '198.18.0.1');
    expect(alert).toContain('it probably refused our certificate');
    expect(alert).not.toContain('NAT');

    const reset = describeUnavailable('No connection established. Last error: read ECONNRESET (2026-12-07T05:20:01.000Z)', '198.18.0.1');
    expect(reset).toContain('may have refused our certificate');
    expect(reset).toContain('a NAT or firewall on the way dropped it');
    expect(reset).toMatch(/\(read ECONNRESET\)$/);
  });
});
