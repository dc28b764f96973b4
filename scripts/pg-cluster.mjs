#!/usr/bin/env node
/**
 * A throw-away PostgreSQL cluster for tests, benchmarks and developers: Debian's server binaries,
 * a fresh data directory under the temp dir, a free port on 127.0.0.1 only, fsync off (nothing in
 * it outlives the run). As root the server runs as the `postgres` user (PostgreSQL refuses root).
 *
 *   node scripts/pg-cluster.mjs start   start one (or reuse the running one) and print its URL
 *   node scripts/pg-cluster.mjs url     print the URL of the running one
 *   node scripts/pg-cluster.mjs stop    stop it and remove its data directory
 *
 * Imported, `startCluster()` gives `{ url, stop }` for a test run's global setup.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const USER = 'batchsend';

/** The directory of initdb/pg_ctl: pg_config's, else the newest under /usr/lib/postgresql. */
export function findBinDir() {
  const fromEnv = process.env.BATCHSEND_PG_BIN;
  if (fromEnv && existsSync(join(fromEnv, 'initdb'))) return fromEnv;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(root, versions[0], 'bin');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim() !== '') return join(which.stdout.trim(), '..');
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found: install them (Debian: apt-get install -y postgresql), or set BATCHSEND_PG_BIN to their directory',
  );
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Run a server binary, as `postgres` when we are root. */
function runAs(bin, args) {
  const [command, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const result = spawnSync(command, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.status !== 0) {
    throw new Error(`${bin.split('/').at(-1)} failed (${result.status ?? result.signal}): ${(result.stderr || result.stdout || result.error?.message || '').trim()}`);
  }
  return result.stdout;
}

/**
 * Start a cluster in a new temp directory. Password authentication on TCP, so tests see real
 * credentials in their URLs (and can check they are never printed).
 */
export async function startCluster() {
  const bin = findBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'batchsend-pg-'));
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  mkdirSync(data, { mode: 0o700 });
  writeFileSync(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    for (const path of [dir, data, join(dir, 'pwfile')]) chownSync(path, uid, gid);
  }
  const stop = () => {
    if (existsSync(join(data, 'postmaster.pid'))) {
      try {
        runAs(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    runAs(join(bin, 'initdb'), ['-D', data, '-U', USER, '--pwfile', join(dir, 'pwfile'), '--auth-host=scram-sha-256', '--auth-local=trust', '-N', '-E', 'UTF8', '--locale=C']);
    let lastError;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const settings = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
      try {
        runAs(join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']);
        const url = `postgresql://${USER}:${password}@127.0.0.1:${port}/postgres`;
        return { url, dir, stop };
      } catch (error) {
        lastError = error; // most likely the port was taken in between: try another
      }
    }
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8').slice(-2000) : '';
    throw new Error(`${lastError.message}\n${log}`);
  } catch (error) {
    stop();
    throw error;
  }
}

const DEV_STATE = join(tmpdir(), 'batchsend-pg-dev.json');

async function cli(command) {
  const running = existsSync(DEV_STATE) ? JSON.parse(readFileSync(DEV_STATE, 'utf8')) : undefined;
  if (command === 'start') {
    if (running && existsSync(join(running.dir, 'data', 'postmaster.pid'))) {
      process.stdout.write(`${running.url}\n`);
      return;
    }
    const cluster = await startCluster();
    writeFileSync(DEV_STATE, JSON.stringify({ url: cluster.url, dir: cluster.dir }), { mode: 0o600 });
    process.stdout.write(`${cluster.url}\n`);
    process.stderr.write('PostgreSQL started. Use it with: batchsend send … --state "$(npm run -s pg:url)"; stop it with: npm run pg:stop\n');
  } else if (command === 'url') {
    if (!running) throw new Error('no cluster is running: npm run pg:start');
    process.stdout.write(`${running.url}\n`);
  } else if (command === 'stop') {
    if (!running) return;
    const bin = findBinDir();
    if (existsSync(join(running.dir, 'data', 'postmaster.pid'))) runAs(join(bin, 'pg_ctl'), ['-D', join(running.dir, 'data'), '-m', 'fast', '-w', 'stop']);
    rmSync(running.dir, { recursive: true, force: true });
    rmSync(DEV_STATE, { force: true });
    process.stderr.write('PostgreSQL stopped and its data removed.\n');
  } else {
    throw new Error('usage: node scripts/pg-cluster.mjs start|url|stop');
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  cli(process.argv[2]).catch((error) => {
    process.stderr.write(`pg-cluster: ${error.message}\n`);
    process.exitCode = 1;
  });
}
