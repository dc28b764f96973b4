import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers.js';

/** What a new user brings from other tools: templates, spreadsheet exports, habits. */

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function workspace(files: Record<string, string | Buffer>): string {
  const dir = tempDir();
  dirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

const template = (text: string, extra: object = {}) => JSON.stringify({ app_id: 'APP', message: { text_message: { text } }, ...extra });

describe('placeholders written as other tools write them', () => {
  it.each(['{{first_name}}', '{{ first_name }}', '{first_name}', '$first_name', '%first_name%', '%recipient.first_name%', '{{First_Name}}'])(
    '%s naming a column: template error, exit 2, showing ${first_name}; nothing read past the header',
    async (written) => {
      const dir = workspace({ 't.json': template(`Hi ${written}!`), 'r.csv': 'SMS,first_name\n+46701234567,Ann\n+46701234568,\n' });
      const r = await runCli(['validate', 'r.csv', '-t', 't.json', '--json'], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`message.text_message.text: '${written}' is not a batchsend placeholder and would be sent as written: write '\${first_name}'`);
      expect(r.stderr).not.toContain('r.csv:3');
      expect(r.stderr).not.toMatch(/at \S+\.js:\d+/);
    },
  );

  it('matching no column: a warning, and the run goes on (exit 0)', async () => {
    const dir = workspace({ 't.json': template('Save 20% {today} with code $SPRING, ${first_name}'), 'r.csv': 'SMS,first_name\n+46701234567,Ann\n' });
    const r = await runCli(['validate', 'r.csv', '-t', 't.json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: template t.json: message.text_message.text: '{today}' looks like a placeholder in another tool's syntax but no column is named 'today'");
    expect(r.stderr).toContain("'$SPRING' looks like a placeholder");
  });

  it('${…} outside message: a warning naming where', async () => {
    const dir = workspace({ 't.json': template('Hi ${first_name}', { batch_metadata: { who: '${first_name}' } }), 'r.csv': 'SMS,first_name\n+46701234567,Ann\n' });
    const r = await runCli(['validate', 'r.csv', '-t', 't.json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("warning: template t.json: batch_metadata.who holds '${…}', but placeholders are filled only inside message");
  });
});

describe('files as users have them', () => {
  it("a CRM export: 'First Name' renamed, ';' detected and said once, trailing empty columns and empty rows tolerated and said", async () => {
    const dir = workspace({
      't.json': template('Hi ${first_name}'),
      'export.csv': 'Phone;First Name;;\r\n0701234567;Ann;;\r\n;;;\r\n0701234568;Bo;;\r\n',
    });
    const r = await runCli(
      ['send', 'export.csv', '-t', 't.json', '--dry-run', '--out', 'out', '--rename', 'First Name=first_name', '--rename', 'Phone=phone', '--identity-column', 'phone', '--channel', 'SMS', '--default-country', 'SE'],
      { cwd: dir },
    );
    expect(r.code).toBe(0);
    expect(r.stderr.match(/delimiter ';' detected/g)).toHaveLength(1);
    expect(r.stderr).toContain('export.csv: 2 nameless columns at the end of the header (as spreadsheets export them): ignored');
    expect(r.stderr).toContain('export.csv: 1 row with every field empty: skipped');
    expect(r.stderr).toMatch(/rows read\s+2\n\s+valid\s+2\n/);
    const body = JSON.parse(readFileSync(join(dir, 'out', 'batch-00001.json'), 'utf8'));
    expect(body.recipient_and_params.map((e: { parameters: object }) => e.parameters)).toEqual([{ first_name: 'Ann' }, { first_name: 'Bo' }]);
    expect(body.recipient_and_params[1].recipient.identified_by.channel_identities[0].identity).toBe('+46701234568');
  });

  it('a header with spaces and no --rename: the placeholder error says the column is there under another name', async () => {
    const dir = workspace({ 't.json': template('Hi ${first_name}'), 'r.csv': 'SMS,First Name\n+46701234567,Ann\n' });
    const r = await runCli(['validate', 'r.csv', '-t', 't.json'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("placeholder ${first_name} has no column in r.csv (did you mean 'First Name'?)");
  });

  it('--rename of a column that is not there: exit 2 naming the columns', async () => {
    const dir = workspace({ 't.json': template('Hi ${first_name}'), 'r.csv': 'SMS,first_name\n+46701234567,Ann\n' });
    const r = await runCli(['validate', 'r.csv', '-t', 't.json', '--rename', 'Vorname=first_name'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--rename 'Vorname=first_name': there is no column 'Vorname'");
    expect(r.stderr).toContain('columns are: SMS, first_name');
  });

  // R16: a Windows-1252 file is refused (with the way to read it), then read with --encoding
  it('a Windows-1252 file: refused with the way to read it, then read with --encoding windows-1252', async () => {
    const latin = Buffer.concat([Buffer.from('SMS,first_name\n+46701234567,J'), Buffer.from([0xf6]), Buffer.from('rg '), Buffer.from([0x80, 0x0a])]);
    const dir = workspace({ 't.json': template('Hi ${first_name}'), 'r.csv': latin });
    const refused = await runCli(['validate', 'r.csv', '-t', 't.json'], { cwd: dir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('r.csv:2: not valid UTF-8 text (save the file as UTF-8, or name its encoding, e.g. --encoding windows-1252');
    const read = await runCli(['send', 'r.csv', '-t', 't.json', '--encoding', 'windows-1252', '--dry-run', '--out', 'out'], { cwd: dir });
    expect(read.code).toBe(0);
    const body = JSON.parse(readFileSync(join(dir, 'out', 'batch-00001.json'), 'utf8'));
    expect(body.recipient_and_params[0].parameters).toEqual({ first_name: 'Jörg €' });
    const unknown = await runCli(['validate', 'r.csv', '-t', 't.json', '--encoding', 'klingon'], { cwd: dir });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("--encoding 'klingon' is not an encoding");
  });

  it("an unknown flag's value is never echoed", async () => {
    const dir = workspace({ 't.json': template('Hi'), 'r.csv': 'SMS\n+46701234567\n' });
    for (const flag of ['--key-secret=s3cr3t-value', '--token=s3cr3t-value', '-Xs3cr3t-value']) {
      const r = await runCli(['send', 'r.csv', '-t', 't.json', flag], { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('unknown option');
      expect(r.stdout + r.stderr).not.toContain('s3cr3t');
    }
  });

  // R26: a secret file readable by others is refused with how to fix it
  it('a secret file readable by others (a Kubernetes or Docker mount) is refused with how to fix it', async () => {
    const dir = workspace({ 't.json': template('Hi'), 'r.csv': 'SMS\n+46701234567\n', secret: 'k-secret\n' });
    chmodSync(join(dir, 'secret'), 0o644);
    const r = await runCli(['send', 'r.csv', '-t', 't.json', '--key-secret-file', 'secret'], { cwd: dir, env: { SINCH_KEY_ID: 'k', SINCH_PROJECT_ID: 'p' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('readable by group or others (mode 0644)');
    expect(r.stderr).toContain('chmod 600');
    expect(r.stderr).toContain('defaultMode: 0400');
    expect(r.stdout + r.stderr).not.toContain('k-secret');
  });
});
