#!/usr/bin/env node
/**
 * A throw-away PostgreSQL cluster for tests, benchmarks and developers: Debian's server binaries,
 * a fresh data directory under the temp dir, a free port on 127.0.0.1 only, fsync off (nothing in
 * it outlives the run) unless `durable` (benchmarks). As root the server runs as the `postgres` user (PostgreSQL refuses root).
 *
 *   node scripts/pg-cluster.mjs start   start one (or reuse the running one) and print its URL
 *   node scripts/pg-cluster.mjs url     print the URL of the running one
 *   node scripts/pg-cluster.mjs stop    stop it and remove its data directory
 *
 * Imported, `startCluster({ owner })` gives `{ url, stop }` for a test run's global setup; with an
 * owner pid it records that process (pid and start time, `owner.json`) in the cluster's directory,
 * so that `reapStaleClusters()` can stop a cluster whose owner died without stopping it (a killed
 * vitest): only clusters whose recorded owner is provably gone are touched.
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
export async function startCluster({ owner, durable = false } = {}) {
  const bin = findBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'batchsend-pg-'));
  chmodSync(dir, 0o700);
  if (owner !== undefined) writeFileSync(join(dir, 'owner.json'), JSON.stringify({ pid: owner, start: startTicks(owner) }), { mode: 0o600 });
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
      // Tests need no durability; a benchmark comparing against fsync'd local files does (`durable`).
      const fast = durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off';
      const settings = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir}${fast} -c max_connections=200`;
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

/** A process's start time in clock ticks since boot (/proc/<pid>/stat field 22), or undefined when none runs. */
export function startTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

/**
 * Stop and remove the throw-away clusters (`batchsend-pg-*` in the temp dir) whose recorded owner
 * is gone: no process with that pid, or one with another start time (the pid was reused).
 * Clusters without an owner (the developer's `npm run pg:start`) are left alone. Returns the
 * directories removed.
 */
export function reapStaleClusters() {
  const removed = [];
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('batchsend-pg-')) continue;
    const dir = join(tmpdir(), name);
    let owner;
    try {
      owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8'));
    } catch {
      continue; // no owner recorded: not ours to judge
    }
    const now = startTicks(owner.pid);
    if (now !== undefined && (owner.start === undefined || now === owner.start)) continue; // its owner still runs
    const data = join(dir, 'data');
    if (existsSync(join(data, 'postmaster.pid'))) {
      try {
        runAs(join(findBinDir(), 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // not running any more
      }
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
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
