import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CliError } from '../errors.js';
import { cancelBake } from './bake.js';
import { parseAssignment } from './services.js';

describe("services set key=value (a new user's typos)", () => {
  it('refuses what looks like JSON and is not, naming the key: a typo never becomes text that turns production off', () => {
    for (const typo of ['production=["prod"', 'clusters={"live":["prod-a"]', 'production=[prod]', 'note="unclosed'])
      expect(() => parseAssignment(typo)).toThrow(CliError);
    expect(() => parseAssignment('production=["prod"')).toThrow(/production=\["prod" is not valid JSON/);
  });

  it('keeps JSON as JSON, plain words as text, and a version-like number as typed', () => {
    expect(parseAssignment('production=["prod"]')).toEqual(['production', ['prod']]);
    expect(parseAssignment('replicas=3')).toEqual(['replicas', 3]);
    expect(parseAssignment('owner=team-search')).toEqual(['owner', 'team-search']);
    expect(parseAssignment('tag=1.10')).toEqual(['tag', '1.10']);
    expect(parseAssignment('ratio=0.5')).toEqual(['ratio', 0.5]);
  });
});

describe('bakes cancel', () => {
  let server: Server;
  beforeAll(async () => {
    // The baking service answers a cancel of a bake that already ended with the bake as it is.
    server = createServer((_req, res) => {
      res.writeHead(202, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: 'bake-d2f50b3ad898', state: 'succeeded' }));
    });
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    process.env.SLIPWAY_BAKING_URL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    process.env.SLIPWAY_TOKEN = 'test-token';
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('says a bake that already ended has nothing to cancel, and fails', async () => {
    await expect(cancelBake('bake-d2f50b3ad898', {})).rejects.toThrow(
      'bake-d2f50b3ad898 already succeeded: nothing to cancel',
    );
  });
});
