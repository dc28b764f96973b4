import { join } from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli.js';
import type { Io } from '../../src/report/terminal.js';

export interface InProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI's main() in this process, with in-memory streams: fast enough for fuzzing. */
export async function runInProcess(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<InProcessResult> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  const io: Io = {
    stdin: (async function* () {})() as unknown as Io['stdin'],
    stdout: sink((t) => (stdout += t)),
    stderr: sink((t) => (stderr += t)),
    stderrIsTTY: false,
    stderrColumns: 0,
    env: { CI: 'true', BATCHSEND_STATE: join(cwd, '.batchsend-state'), ...env },
    cwd,
    pid: process.pid,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}
