/**
 * serve.js's static server: no file outside its root through a symbolic link, and no request whose Host
 * header is not localhost (DNS rebinding). On 127.0.0.1 only; every request has a 5 s timeout.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveStatic } from '../src/cli/serve';

/** GET `path` from 127.0.0.1:port with the given Host header (none when null). */
function get(port: number, path: string, host: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = host === null ? {} : { host };
    const req = request({ host: '127.0.0.1', port, path, headers, setHost: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: no answer in 5 s`)));
    req.on('error', reject);
    req.end();
  });
}

describe('serve.js', () => {
  const top = mkdtempSync(join(tmpdir(), 'serve-safety-'));
  const root = join(top, 'web');
  const secret = join(top, 'secret.txt');
  let server: Server;
  let port: number;
  let local: string;

  beforeAll(async () => {
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(join(top, 'private'));
    writeFileSync(join(root, 'index.html'), '<p>hi</p>');
    writeFileSync(join(root, 'sub', 'a.js'), 'inside');
    writeFileSync(secret, 'SECRET');
    writeFileSync(join(top, 'private', 'key.txt'), 'PRIVATE');
    symlinkSync(secret, join(root, 'passwd')); // a file link out of the root
    symlinkSync(join(top, 'private'), join(root, 'out')); // a folder link out of the root
    symlinkSync(join(root, 'sub', 'a.js'), join(root, 'alias.js')); // a link that stays inside
    symlinkSync('/etc/passwd', join(root, 'etc-passwd'));
    symlinkSync(root, join(top, 'web-link')); // the root itself reached through a link
    ({ server } = await serveStatic(join(top, 'web-link'), 0));
    const addr = server.address();
    port = typeof addr === 'object' && addr ? addr.port : 0;
    local = `localhost:${port}`;
  });
  afterAll(() => {
    server?.close();
    rmSync(top, { recursive: true, force: true });
  });

  it('serves files inside its root, also through links that stay inside', async () => {
    expect(await get(port, '/', local)).toEqual({ status: 200, body: '<p>hi</p>' });
    expect(await get(port, '/sub/a.js', local)).toEqual({ status: 200, body: 'inside' });
    expect(await get(port, '/alias.js', local)).toEqual({ status: 200, body: 'inside' });
  });

  it('refuses files whose real path is outside its root (symbolic links), with 403', async () => {
    for (const path of ['/passwd', '/out/key.txt', '/etc-passwd']) {
      const r = await get(port, path, local);
      expect(r.status, path).toBe(403);
      expect(r.body).toMatch(/symbolic link to a file outside the served folder/);
      expect(r.body).not.toMatch(/SECRET|PRIVATE|root:/);
    }
    expect((await get(port, '/..%2fsecret.txt', local)).status).toBe(403);
  });

  it('answers only Host localhost, 127.0.0.1 or [::1] with its port; others get 421 (DNS rebinding)', async () => {
    for (const host of [local, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
      expect((await get(port, '/', host)).status, host).toBe(200);
    }
    // Without a Host header, node:http itself answers 400 (requireHostHeader).
    const none = await get(port, '/sub/a.js', null);
    expect(none.status).toBe(400);
    expect(none.body).not.toContain('inside');
    for (const host of [`evil.example:${port}`, 'evil.example', `localhost:${port + 1}`, 'localhost', `localhost.evil.example:${port}`, `127.0.0.1.nip.io:${port}`]) {
      const r = await get(port, '/sub/a.js', host);
      expect(r.status, String(host)).toBe(421);
      expect(r.body).toMatch(/DNS rebinding/);
      expect(r.body).toContain(`http://localhost:${port}/`);
      expect(r.body).not.toContain('inside');
    }
  });
});
