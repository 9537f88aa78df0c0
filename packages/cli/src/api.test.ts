import { describe, expect, it } from '@jest/globals';
import { endpoint, OFFSETS } from './api.js';

describe("each service's URL from SLIPWAY_URL", () => {
  const url = (SLIPWAY_URL: string, service: keyof typeof OFFSETS = 'orchestrator') =>
    endpoint(service, { SLIPWAY_URL }).url;

  it("adds the service's offset to the port given", () => {
    expect(url('http://127.0.0.1:7100', 'metadata')).toBe('http://127.0.0.1:7101');
    expect(url('https://slipway.example.com:8443/')).toBe('https://slipway.example.com:8448');
    expect(endpoint('config', { SLIPWAY_URL: 'http://h:7100' }).via).toBe('SLIPWAY_URL + 2');
  });

  it("adds it to the scheme's own port when none is given: 80 for http, 443 for https", () => {
    expect(url('http://slipway.example.com')).toBe('http://slipway.example.com:85');
    expect(url('https://slipway.example.com')).toBe('https://slipway.example.com:448');
    expect(url('https://slipway.example.com/', 'metadata')).toBe('https://slipway.example.com:444');
  });

  it('uses the port base, or 7100, when SLIPWAY_URL is not set', () => {
    expect(endpoint('baking', { SLIPWAY_PORT_BASE: '29000' }).url).toBe('http://127.0.0.1:29003');
    expect(endpoint('baking', {}).url).toBe('http://127.0.0.1:7103');
  });

  it("prefers the service's own variable", () => {
    expect(
      endpoint('infra', { SLIPWAY_URL: 'http://a:7100', SLIPWAY_INFRA_URL: 'https://infra.example.com/' }),
    ).toEqual({ url: 'https://infra.example.com', via: 'SLIPWAY_INFRA_URL' });
  });

  it('says what is wrong with a SLIPWAY_URL it cannot use', () => {
    expect(() => url('slipway.example.com')).toThrow(
      'SLIPWAY_URL is not usable ("slipway.example.com"): SLIPWAY_URL is like http://127.0.0.1:7100',
    );
    expect(() => url('ftp://slipway.example.com')).toThrow('it must be http:// or https://');
    expect(() => url('http://h:65534')).toThrow('its port + 5 is past 65535');
    expect(() => endpoint('metadata', { SLIPWAY_PORT_BASE: '65535' })).toThrow(
      'SLIPWAY_PORT_BASE is not usable ("65535"): its port + 1 is past 65535',
    );
  });
});
