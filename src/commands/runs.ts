import { ExitCode } from '../exit-codes.js';
import { formatCount, type Io } from '../report/terminal.js';
import { stateFor } from './run-selection.js';

export interface RawRunsOptions {
  readonly state?: string;
  readonly json?: boolean;
}

/** `batchsend runs`: the runs in the state, newest first. */
export async function runsCommand(raw: RawRunsOptions, io: Io): Promise<number> {
  const state = await stateFor(raw.state, io);
  const runs = await state.listRuns();
  if (raw.json) {
    for (const run of runs) io.stdout.write(`${JSON.stringify({ event: 'run', ...run })}\n`);
    return ExitCode.ok;
  }
  if (runs.length === 0) {
    io.stdout.write(`No runs in the state ${state.where}.\n`);
    return ExitCode.ok;
  }
  const lines = [`Runs in ${state.where}, newest first:`];
  for (const run of runs) {
    const problems = [run.rejected > 0 && `${formatCount(run.rejected)} rejected`, run.not_sent > 0 && `${formatCount(run.not_sent)} not sent`, run.in_doubt > 0 && `${formatCount(run.in_doubt)} in doubt`].filter(Boolean);
    lines.push(
      `  ${run.id}  ${run.created}  ${run.state.padEnd(10)}  ${run.input_name} with ${run.template_name}${run.campaign ? `, campaign ${run.campaign}` : ''}: ` +
        `${formatCount(run.accepted)} of ${formatCount(run.recipients)} recipients accepted${problems.length > 0 ? `, ${problems.join(', ')}` : ''}`,
    );
  }
  io.stdout.write(`${lines.join('\n')}\n`);
  return ExitCode.ok;
}
