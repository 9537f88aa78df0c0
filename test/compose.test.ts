import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { PORT_OFFSETS } from '@slipway/core';
import { SERVICES } from '@slipway/platform';

// No Docker engine runs here, so docker-compose.yml is checked the way `docker compose config`
// would read it: every service npm start runs has its container, command, port and settings.
const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<
    string,
    { command?: string[]; environment?: Record<string, string>; ports?: string[]; build?: string }
  >;
  secrets: Record<string, { file: string }>;
};

describe('docker-compose.yml', () => {
  it('runs Redis and every service of the platform from the one image', () => {
    expect(compose.services.redis).toBeDefined();
    // The local cloud is for one machine; on separate hosts AWS is the cloud.
    for (const name of SERVICES.filter((service) => service !== 'cloud')) {
      const service = compose.services[name];
      expect(service).toBeDefined();
      expect(service!.build).toBe('.');
      expect(service!.command).toEqual(['node', `packages/${name}/dist/main.js`]);
      const port = String(7100 + PORT_OFFSETS[name]);
      expect(service!.environment).toMatchObject({
        PORT: port,
        REDIS_URL: 'redis://redis:6379',
        SLIPWAY_TOKENS_FILE: '/run/secrets/tokens',
        HOST: '0.0.0.0',
      });
      expect(service!.ports).toEqual([`${port}:${port}`]);
    }
  });

  it('builds every package the services need', () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    expect(dockerfile).toMatch(/COPY packages \.\/packages/);
    expect(dockerfile).toMatch(/COPY templates \.\/templates/); // the Packer templates
    expect(dockerfile).toMatch(/pnpm install --frozen-lockfile && pnpm exec tsc -b/);
  });
});
