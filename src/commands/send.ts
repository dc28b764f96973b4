import { randomUUID } from 'node:crypto';
import { join, relative } from 'node:path';
import { BatchBodyBuilder, batchCount, entryJson, runIdFor } from '../batch/batch-body.js';
import { EntrySpool, prepareOutDir, writeBatchFiles } from '../batch/batch-files.js';
import { ExitCode, UsageError } from '../exit-codes.js';
import { createReporter } from '../report/reporter.js';
import type { Io } from '../report/terminal.js';
import { loadTemplate } from '../template/template.js';
import { checkOptions, type RawCheckOptions } from './check-options.js';
import { checkRows, failOnInvalid, unsentSummary } from './check-rows.js';

/**
 * `batchsend send`. With --dry-run: validate, then build the exact request bodies (and with
 * --out write them as files); nothing goes over the network. Returns the exit code.
 */
export async function sendCommand(recipients: string, raw: RawCheckOptions, io: Io): Promise<number> {
  const started = performance.now();
  const options = checkOptions(recipients, raw, io.cwd);
  if (!options.dryRun) {
    throw new UsageError(
      'sending to the API is not available in this version of batchsend: only --dry-run works yet',
      'run with --dry-run [--out DIR] to validate and build the request bodies',
    );
  }
  const template = await loadTemplate(options.template);
  const appId = options.appId ?? template.body.app_id;
  if (appId === undefined) {
    throw new UsageError(`template ${options.template} has no app_id`, 'add "app_id" to the template, or pass --app-id / set SINCH_APP_ID');
  }
  const reporter = await createReporter(io, options.json);
  for (const warning of template.warnings) reporter.warning(warning);

  const shape = { batchSize: options.batchSize, tracking: options.tracking, appId };
  let spool: EntrySpool | undefined;
  if (options.out !== undefined) {
    await prepareOutDir(options.out);
    spool = new EntrySpool(join(options.out, `.batchsend-spool-${randomUUID()}.tsv`));
  }
  try {
    const result = await checkRows(
      options,
      template,
      io,
      reporter,
      spool === undefined ? () => undefined : (line, entry) => spool.add(line, entryJson(line, entry, options.tracking)),
      true,
    );
    await spool?.close();
    const batches = batchCount(result.valid, options.batchSize);
    reporter.validated({ rows: result.rows, valid: result.valid, invalid: result.invalid, duplicates: result.duplicates, batches });
    let outDir: string | undefined;
    if (spool !== undefined && options.out !== undefined && (result.invalid === 0 || options.skipInvalid)) {
      const builder = new BatchBodyBuilder(template, shape, runIdFor(result.inputSha256!, template, shape));
      await writeBatchFiles(options.out, spool.entries(), builder, options.batchSize, (index, rows, count) =>
        reporter.batch({ index, state: 'built', rows, recipients: count }),
      );
      outDir = relative(io.cwd, options.out) || '.';
    }
    reporter.summary(unsentSummary('dry-run', result, batches, started, outDir));
    failOnInvalid(result, options);
    return ExitCode.ok;
  } finally {
    await spool?.close().catch(() => undefined);
    await spool?.remove();
  }
}
