import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { BIN, runCli } from '../helpers.js';

describe('batchsend emulator', () => {
  it('prints its address and demo credentials, serves tokens, and stops cleanly on SIGTERM', async () => {
    const child = spawn(process.execPath, [BIN, 'emulator', '--port', '0', '--json', '--fast'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const info = JSON.parse(line);
    expect(info).toMatchObject({ event: 'emulator', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), project_id: 'demo-project', key_id: 'demo-key-id' });
    const token = await request(info.auth_url, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${info.key_id}:${info.key_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.statusCode).toBe(200);
    expect(((await token.body.json()) as { token_type: string }).token_type).toBe('Bearer');
    child.kill('SIGTERM');
    const [code] = await once(child, 'close');
    expect(code).toBe(0);
    expect(stderr).toContain('stopped after 0 batches');
  });

  it('refuses a bad fault spec or a world-readable secret file: exit 2', async () => {
    const fault = await runCli(['emulator', '--port', '0', '--fault', 'send:explode']);
    expect(fault.code).toBe(2);
    expect(fault.stderr).toContain('--fault');
    const { writeFileSync, chmodSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tempDir } = await import('../helpers.js');
    const file = join(tempDir(), 'secret');
    writeFileSync(file, 'x');
    chmodSync(file, 0o644);
    const secret = await runCli(['emulator', '--port', '0', '--key-secret-file', file]);
    expect(secret.code).toBe(2);
    expect(secret.stderr).toContain('readable by group or others');
  });
});
