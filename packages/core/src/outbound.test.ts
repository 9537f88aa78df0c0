import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  guardedLookup,
  outboundFetch,
  outboundUrlRefusal,
  pinnedRepository,
  repositoryRefusal,
  withoutCredentials,
  type OutboundPolicy,
} from './outbound.js';

const strict: OutboundPolicy = { allowPrivate: false, allowed: [], gitHosts: ['github.com'] };
let server: Server;
let port: number;
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/hop') res.writeHead(302, { Location: `http://127.0.0.2:${port}/inside` }).end();
    else if (req.url === '/scheme') res.writeHead(302, { Location: 'file:///etc/passwd' }).end();
    else res.end('{"secret":"s3"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => void server.close());

describe('the outbound guard', () => {
  it('refuses schemes other than http(s) and loopback, link-local, private and mapped addresses', () => {
    const refused = (url: string) => outboundUrlRefusal(url, strict);
    expect(refused('file:///etc/passwd')).toMatch(/only http and https/);
    expect(refused('gopher://example.com/')).toMatch(/only http and https/);
    expect(refused('http://127.0.0.1/')).toMatch(/loopback/);
    expect(refused('http://169.254.169.254/latest/meta-data/')).toMatch(/linkLocal/);
    expect(refused('http://[fd00::1]/')).toMatch(/uniqueLocal/);
    expect(refused('http://192.168.1.1/')).toMatch(/private/);
    expect(refused('http://[::ffff:10.0.0.1]/')).toMatch(/private/);
    expect(refused('http://localhost:8080/')).toMatch(/loopback name/);
    expect(refused('https://hooks.slack.com/services/T/B/x')).toBeUndefined();
    // What the operator allows: every address, or a host or range by name.
    expect(outboundUrlRefusal('http://127.0.0.1/', { ...strict, allowPrivate: true })).toBeUndefined();
    expect(outboundUrlRefusal('http://10.1.2.3/', { ...strict, allowed: ['10.1.0.0/16'] })).toBeUndefined();
    expect(outboundUrlRefusal('http://10.2.2.3/', { ...strict, allowed: ['10.1.0.0/16'] })).toMatch(/private/);
  });

  it('connects only to the address its own lookup checked: a name that resolves inside is refused', async () => {
    const error = await new Promise<Error | null>((resolve) => guardedLookup(strict)('localhost', {}, resolve));
    expect(error?.message).toMatch(/localhost resolves to .* (loopback|address)/);
  });

  it('fetches an allowed address, never follows a redirect to one that is not, and says no body', async () => {
    const allowed = { ...strict, allowed: ['127.0.0.1'] };
    hits = 0;
    await expect(outboundFetch(`http://127.0.0.1:${port}/`, {}, strict)).rejects.toThrow(/URL not allowed: .*loopback/);
    expect(hits).toBe(0);
    expect(await (await outboundFetch(`http://127.0.0.1:${port}/`, {}, allowed)).text()).toBe('{"secret":"s3"}');
    await expect(outboundFetch(`http://127.0.0.1:${port}/hop`, {}, allowed)).rejects.toThrow(
      /redirected to a URL that is not allowed: 127\.0\.0\.2 is a loopback address/,
    );
    await expect(outboundFetch(`http://127.0.0.1:${port}/scheme`, {}, allowed)).rejects.toThrow(/only http and https/);
    expect(hits).toBe(3);
  });
});

describe('build repositories', () => {
  it('are https or ssh to an allowed Git host, never on this disk unless allowed, and kept without credentials', async () => {
    expect(repositoryRefusal('https://github.com/example/search.git', strict)).toBeUndefined();
    expect(repositoryRefusal('git@github.com:example/search.git', strict)).toBeUndefined();
    expect(repositoryRefusal('ssh://git@github.com/example/search.git', strict)).toBeUndefined();
    expect(repositoryRefusal('file:///srv/repos/other.git', strict)).toMatch(/on this disk/);
    expect(repositoryRefusal('file:///srv/repos/other.git', { ...strict, allowPrivate: true })).toBeUndefined();
    expect(repositoryRefusal('https://git.internal/x.git', strict)).toMatch(/not one of the allowed Git hosts/);
    expect(repositoryRefusal('git://github.com/x.git', strict)).toMatch(/only https and ssh/);
    expect(repositoryRefusal('ext::sh -c touch% /tmp/x', strict)).toMatch(/not a repository URL|only https/);
    expect(withoutCredentials('https://gitlab-ci-token:glcbt-x@gitlab.com/a/b.git')).toBe('https://gitlab.com/a/b.git');
    expect(withoutCredentials('git@github.com:a/b.git')).toBe('git@github.com:a/b.git');
    // git connects to the address the guard checked.
    const pinned = await pinnedRepository('https://localhost/a.git', {
      ...strict,
      gitHosts: ['localhost'],
      allowed: ['localhost'],
    });
    expect(pinned).toContain('http.curloptResolve=localhost:443:127.0.0.1');
    await expect(pinnedRepository('https://localhost/a.git', { ...strict, gitHosts: ['localhost'] })).rejects.toThrow(
      /resolves to/,
    );
  });
});
