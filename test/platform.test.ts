import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform, type Platform } from '@slipway/platform';
import { createLocalProvider } from '@slipway/cloud';
import { eventually, freePortBase, packExampleService } from '@slipway/test-utils';

// The platform as `npm start` runs it: built services as processes, a redis-server of its own.
let home: string;
let platform: Platform;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'slipway-home-'));
  // As a person's mkdir leaves it: readable by every local user (#24 attack 8).
  await chmod(home, 0o755);
  // 82: the services, the local cloud (+10) and the example stack's load balancers (+80, +81).
  platform = await startPlatform({ home, portBase: await freePortBase(87) });
}, 180_000);

afterAll(async () => {
  await platform?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('npm start', () => {
  it('writes an admin token only its owner can read, and tokens.json without plain tokens', async () => {
    const token = (await readFile(join(home, 'admin-token'), 'utf8')).trim();
    expect(token).toBe(platform.adminToken);
    expect((await stat(join(home, 'admin-token'))).mode & 0o077).toBe(0);
    const tokensFile = await readFile(join(home, 'tokens.json'), 'utf8');
    expect(tokensFile).not.toContain(token);
    expect(Object.keys(JSON.parse(tokensFile)).every((key) => key.startsWith('sha256:'))).toBe(true);
  });

  it("keeps SLIPWAY_HOME its owner's, and its Redis behind a password no other user can read (#24 attack 8)", async () => {
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    expect((await stat(join(home, 'redis-password'))).mode & 0o077).toBe(0);
    const port = Number(new URL(platform.redisUrl).port);
    // Any local user who can reach the port, without the password: refused, nothing read or written.
    const answer = await new Promise<string>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' }, () => socket.write('KEYS *\r\nSET slipway:x 1\r\n'));
      let text = '';
      socket.on('data', (data) => {
        text += data.toString();
        if (text.split('\r\n').length > 2) {
          socket.destroy();
          resolve(text);
        }
      });
    });
    expect(answer).toMatch(/^-NOAUTH/);
    expect(answer).not.toMatch(/^\+OK/m);
    // Nothing on a command line (ps) shows it.
    const redis = platform.processes.find((p) => p.name === 'redis')!;
    const commandLine = await readFile(`/proc/${redis.child.pid}/cmdline`, 'utf8');
    expect(commandLine).not.toContain(decodeURIComponent(new URL(platform.redisUrl).password));
  });

  it('serves the metadata service with the admin token', async () => {
    const headers = { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' };
    const put = await fetch(`${platform.urls.metadata}/services/search`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ owner: 'team-search', contact: 'someone@example.com' }),
    });
    expect(put.status).toBe(201);
    const list = await fetch(`${platform.urls.metadata}/services?owner=team-search`, { headers });
    expect(((await list.json()) as { items: Array<{ name: string }> }).items.map((s) => s.name)).toEqual(['search']);
    const ready = await fetch(`${platform.urls.metadata}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ok' });
  });

  it('serves the example configuration repositories, two commits each', async () => {
    const headers = { Authorization: `Bearer ${platform.readerToken}` };
    const envs = await fetch(`${platform.urls.config}/config/search`, { headers });
    expect(await envs.json()).toEqual({
      service: 'search',
      environments: ['prod', 'prod-a', 'prod-b', 'prod-c', 'staging'],
    });
    const config = (await (await fetch(`${platform.urls.config}/config/search/prod`, { headers })).json()) as {
      valid: boolean;
      files: { deploymentParams: { loadBalancer: { name: string } } };
    };
    expect(config.valid).toBe(true);
    expect(config.files.deploymentParams.loadBalancer.name).toBe('search-prod');
    const log = (await (await fetch(`${platform.urls.config}/config/search/prod/commits`, { headers })).json()) as {
      items: Array<{ commit: string }>;
    };
    expect(log.items).toHaveLength(2);
    const diff = (await (
      await fetch(`${platform.urls.config}/config/search/prod/diff?from=${log.items[1]!.commit}&to=main`, { headers })
    ).json()) as { files: { applicationProperties: { changed: Record<string, unknown> } } };
    expect(diff.files.applicationProperties.changed).toHaveProperty(['search.resultsPerPage']);
    const properties = await fetch(`${platform.urls.config}/config/search/staging/properties`, { headers });
    expect(await properties.text()).toContain('search.resultsPerPage=20\n');
  });

  it('runs the local cloud daemon', async () => {
    const res = await fetch(`${platform.urls.cloud}/load-balancers`, {
      headers: { Authorization: `Bearer ${platform.adminToken}` },
    });
    expect(await res.json()).toEqual({ items: [] });
  });

  it('bakes the example service with real Packer and runs it in the local cloud', async () => {
    const admin = { Authorization: `Bearer ${platform.adminToken}` };
    const baking = platform.urls.baking!;
    const artifact = await readFile(await packExampleService(home, { version: '1.0.0' }));
    const put = await fetch(`${baking}/artifacts/search/1.0.0`, {
      method: 'PUT',
      headers: { ...admin, 'Content-Type': 'application/gzip' },
      body: artifact,
    });
    expect(put.status).toBe(201);
    const finished = async (id: string) => {
      const log = await (await fetch(`${baking}/bakes/${id}/log`, { headers: admin })).text();
      return JSON.parse(/event: end\ndata: (.*)\n/.exec(log)![1]!) as { state: string; image: string };
    };
    const base = (await (await fetch(`${baking}/bakes/base`, { method: 'POST', headers: admin })).json()) as {
      id: string;
    };
    expect((await finished(base.id)).state).toBe('succeeded');
    const bakeService = () =>
      fetch(`${baking}/bakes`, {
        method: 'POST',
        headers: { ...admin, 'Content-Type': 'application/json' },
        body: JSON.stringify({ service: 'search', version: '1.0.0' }),
      });
    const started = (await (await bakeService()).json()) as { id: string };
    const { image } = await finished(started.id);
    const again = await bakeService();
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ image, cached: true });

    // What the orchestrator does: the daemon's writes need the platform role, a person's token is refused.
    const cloud = createLocalProvider({ baseUrl: platform.urls.cloud!, token: platform.serviceTokens.orchestrator! });
    await cloud.createLaunchTemplate({
      name: 'search-test-v001',
      imageId: image,
      instanceType: 't3.small',
      userData: { files: { 'application.properties': 'greeting=baked\n' }, commands: [] },
    });
    await cloud.createServerGroup({
      name: 'search-test-v001',
      launchTemplate: 'search-test-v001',
      min: 1,
      desired: 1,
      max: 1,
      targetGroups: [],
    });
    const deadline = Date.now() + 20_000;
    let answer: unknown;
    while (!answer && Date.now() < deadline) {
      const address = (await cloud.getServerGroup('search-test-v001'))?.instances[0]?.address;
      answer =
        address &&
        (await fetch(`http://${address}/`).then(
          (r) => r.json(),
          () => undefined,
        ));
      if (!answer) await new Promise((r) => setTimeout(r, 200));
    }
    expect(answer).toEqual({ service: 'search', version: '1.0.0', greeting: 'baked' });
    await cloud.destroyServerGroup('search-test-v001');
  });

  it('plans and applies the example infrastructure stack: a real load balancer on base + 80', async () => {
    const headers = { Authorization: `Bearer ${platform.adminToken}`, 'Content-Type': 'application/json' };
    const plan = await fetch(`${platform.urls.infra}/stacks/search/plans`, { method: 'POST', headers, body: '{}' });
    expect(plan.status).toBe(201);
    const planned = (await plan.json()) as { id: string; changes: Array<{ resource: string; action: string }> };
    expect(planned.changes).toContainEqual(expect.objectContaining({ resource: 'search-prod', action: 'create' }));
    const started = await fetch(`${platform.urls.infra}/plans/${planned.id}/apply`, { method: 'POST', headers });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    const apply = await eventually(
      async () =>
        (await (await fetch(`${platform.urls.infra}/applies/${id}`, { headers })).json()) as { state: string },
      (a) => a.state === 'succeeded' || a.state === 'failed',
      'the apply',
    );
    expect(apply.state).toBe('succeeded');
    const lbPort = Number(new URL(platform.urls.metadata!).port) - 1 + 80;
    expect((await fetch(`http://127.0.0.1:${lbPort}/`)).status).toBe(503); // no targets yet
  });

  it('gives the dashboard a reader token that cannot write', async () => {
    const res = await fetch(`${platform.urls.metadata}/services/search`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${platform.readerToken}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(403);
  });

  it('stops every process it started', async () => {
    await platform.stop();
    await expect(fetch(`${platform.urls.metadata}/healthz`)).rejects.toThrow();
    await expect(fetch(`${platform.urls.config}/healthz`)).rejects.toThrow();
    await expect(fetch(`${platform.urls.cloud}/healthz`)).rejects.toThrow();
    await expect(fetch(`${platform.urls.baking}/healthz`)).rejects.toThrow();
    await expect(fetch(`${platform.urls.infra}/healthz`)).rejects.toThrow();
    expect(await connects(Number(new URL(platform.redisUrl).port))).toBe(false);
  });
});

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
