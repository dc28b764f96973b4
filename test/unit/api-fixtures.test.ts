import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateBatchRequest, type AppMode } from '../../src/emulator/api-schema.js';
import { UsageError } from '../../src/exit-codes.js';
import { parseTemplate } from '../../src/template/template.js';
import { RowChecker } from '../../src/validate/row-checker.js';

/**
 * fixtures/api/*.json: batch requests with the API's verdict, each naming its source (the SDKs'
 * own example payloads, or the reference line a rule comes from). The client and the emulator are
 * each held to the verdict — never to each other, so a mistake shared by both still fails here.
 */
interface ApiFixture {
  source: string;
  verdict: 'accept' | 'reject';
  /** The field a refusal must name. */
  field?: string;
  /** Where the client must refuse it: the template (exit 2) or a row (exit 3). */
  where?: 'template' | 'row';
  app_mode?: AppMode;
  request: Record<string, unknown>;
}

const DIR = join(import.meta.dirname, '../../fixtures/api');
const NOW = Date.parse('2026-12-01T10:00:00Z');
const UNIT: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000 };

/** `@now+8d`, `@now-1h`: times relative to the test's clock, so the fixtures never go stale. */
function atNow(value: unknown): unknown {
  if (typeof value === 'string') {
    const match = /^@now([+-])(\d+)([dhm])$/.exec(value);
    return match === null ? value : new Date(NOW + (match[1] === '+' ? 1 : -1) * Number(match[2]) * UNIT[match[3]!]!).toISOString();
  }
  if (Array.isArray(value)) return value.map(atNow);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, atNow(v)]));
  return value;
}

const fixtures = readdirSync(DIR)
  .filter((name) => name.endsWith('.json'))
  .sort()
  .map((name) => {
    const fixture = JSON.parse(readFileSync(join(DIR, name), 'utf8')) as ApiFixture;
    return { name, fixture: { ...fixture, request: atNow(fixture.request) as Record<string, unknown> } };
  });

/** The client's verdict: the template check (exit 2), then every row as an API-shaped row (exit 3). */
function clientVerdict(request: Record<string, unknown>): { verdict: 'accept' } | { verdict: 'reject'; where: 'template' | 'row'; message: string } {
  const { recipient_and_params: entries, ...template } = request;
  let parsed;
  try {
    parsed = parseTemplate('fixture.json', JSON.stringify(template), NOW);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return { verdict: 'reject', where: 'template', message: error.message };
  }
  const checker = new RowChecker(parsed, {}, 'fixture.json', () => undefined);
  for (const entry of entries as unknown[]) {
    const row = checker.checkValue(entry);
    if (!row.ok) return { verdict: 'reject', where: 'row', message: row.message };
  }
  return { verdict: 'accept' };
}

describe('fixtures/api: the API verdict of the SDKs’ example payloads and the reference rules', () => {
  it('has fixtures for every message kind, each with its source', () => {
    const kinds = new Set(fixtures.flatMap(({ fixture }) => Object.keys(fixture.request.message as object).filter((k) => k.endsWith('_message') && !k.startsWith('explicit') && !k.startsWith('channel'))));
    expect([...kinds].sort()).toEqual(
      ['card_message', 'carousel_message', 'choice_message', 'contact_info_message', 'list_message', 'location_message', 'media_message', 'template_message', 'text_message'].sort(),
    );
    for (const { fixture } of fixtures) expect(fixture.source).toMatch(/sinch-sdk-(java|node|python)@|reference\//);
    expect(fixtures.filter(({ fixture }) => fixture.source.includes('sinch-sdk-')).length).toBeGreaterThanOrEqual(10);
  });

  describe.each(fixtures)('$name', ({ fixture }) => {
    it(`the emulator's schema says ${fixture.verdict}`, () => {
      const violations = validateBatchRequest(fixture.request, { now: NOW, appMode: fixture.app_mode ?? 'conversation' });
      if (fixture.verdict === 'accept') {
        expect(violations).toEqual([]);
      } else {
        expect(violations.length).toBeGreaterThan(0);
        expect(violations.map((v) => `${v.field}: ${v.description}`).join('\n')).toContain(fixture.field!);
      }
    });

    it(`the client says ${fixture.verdict}${fixture.where ? ` (${fixture.where} error)` : ''}`, () => {
      const verdict = clientVerdict(fixture.request);
      expect(verdict.verdict).toBe(fixture.verdict);
      if (verdict.verdict === 'reject') {
        expect(verdict.where).toBe(fixture.where);
        expect(verdict.message).toContain(fixture.field!);
      }
    });
  });
});

describe("the emulator's schema and the app's mode", () => {
  const contact = fixtures.find(({ name }) => name === 'conversation-mode-contact-id.json')!.fixture.request;

  it('refuses contact_id recipients when the app is in Dispatch mode (the default of new apps)', () => {
    expect(validateBatchRequest(contact, { now: NOW, appMode: 'dispatch' })).toEqual([
      { field: 'recipient_and_params.0.recipient.contact_id', description: 'Dispatch mode: only identified_by is allowed.' },
    ]);
    expect(validateBatchRequest(contact, { now: NOW, appMode: 'conversation' })).toEqual([]);
  });

  it('refuses the single-send fields only when told to', () => {
    const queue = fixtures.find(({ name }) => name === 'queue-single-send-field.json')!.fixture.request;
    expect(validateBatchRequest(queue, { now: NOW, appMode: 'dispatch', refuseSingleSendFields: true })).toEqual([{ field: 'queue', description: 'Unknown field.' }]);
  });

  it('defers format checks of strings that hold a parameter, and checks the rest', () => {
    const request = (url: string) => ({ app_id: 'A', message: { media_message: { url } }, recipient_and_params: [{ recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity: '+46701234567' }] } }, parameters: { id: '7' } }] });
    expect(validateBatchRequest(request('${link}'), { now: NOW, appMode: 'dispatch' })).toEqual([]);
    expect(validateBatchRequest(request('not a url'), { now: NOW, appMode: 'dispatch' }).map((v) => v.field)).toEqual(['message.media_message.url']);
  });
});
