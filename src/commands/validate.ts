import { batchCount } from '../batch/batch-body.js';
import { ExitCode } from '../exit-codes.js';
import { createReporter } from '../report/reporter.js';
import type { Io } from '../report/terminal.js';
import { loadTemplate } from '../template/template-core.js';
import { checkOptions, type RawCheckOptions } from './check-options.js';
import { checkRows, failOnInvalid, unsentSummary } from './check-rows.js';

/** `batchsend validate`: the pre-flight alone. No network, no credentials. Returns the exit code. */
export async function validateCommand(recipients: string, raw: RawCheckOptions, io: Io): Promise<number> {
  const started = Date.now();
  const options = checkOptions(recipients, raw, io.cwd);
  const template = await loadTemplate(options.template, io.cwd);
  const reporter = await createReporter(io, options.json, `validate ${recipients}`);
  for (const warning of template.warnings) reporter.warning(warning);
  if (options.appId === undefined && template.body.app_id === undefined) {
    reporter.warning(`template ${options.template} has no app_id: send will need --app-id or SINCH_APP_ID`);
  }
  // Only --skip-invalid needs the state (to place invalid.csv): a plain validate never loads it.
  const invalidPath = options.skipInvalid ? await invalidFileInState(options.state, options.journal, io) : undefined;
  const result = await checkRows(options, template, io, reporter, () => undefined, false, invalidPath);
  const batches = batchCount(result.valid, options.batchSize);
  reporter.validated({ rows: result.rows, valid: result.valid, invalid: result.invalid, duplicates: result.duplicates, batches, sms: result.sms });
  reporter.summary(unsentSummary('validate', result, batches, started));
  failOnInvalid(result, options);
  return ExitCode.ok;
}

async function invalidFileInState(state: string | undefined, journal: string | undefined, io: Io): Promise<string> {
  const [{ localFilesFor }, { unsentInvalidFile }] = await Promise.all([import('./run-selection.js'), import('../send/journal-path.js')]);
  return unsentInvalidFile(journal, await localFilesFor(state, io));
}
