import type { Dispatcher } from 'undici';

/**
 * Reading what a server answers, safely: never more than a few MiB (a larger answer is not the
 * API's and counts as cut short), and never a credential echoed back into our output.
 */

/** The most of an answer read; the API's answers are a few hundred bytes. */
export const MAX_ANSWER_BYTES = 4 << 20;

/** The answer was longer than MAX_ANSWER_BYTES: it was not read to its end. */
export class AnswerTooLarge extends Error {
  readonly code = 'ANSWER_TOO_LARGE';
  constructor() {
    super(`answer larger than ${MAX_ANSWER_BYTES >> 20} MiB`);
    this.name = 'AnswerTooLarge';
  }
}

/** Read an answer's body as text, up to `limit` bytes; beyond that the body is dropped and AnswerTooLarge thrown. */
export async function readAnswer(body: Dispatcher.ResponseData['body'], limit = MAX_ANSWER_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new AnswerTooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `Bearer …`, `Basic …` and bare JWTs in server text, replaced before it is stored or printed. */
export function redactCredentials(text: string): string {
  return text
    .replace(/\b(Bearer|Basic)(\s+|%20)[A-Za-z0-9._~+/=%-]+/gi, '$1 [redacted]')
    .replace(/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[redacted]');
}

/** A 3xx: where it points, for a message that names the URL (redirects are never followed). */
export function redirectMessage(url: string, status: number, headers: Record<string, string | string[] | undefined>): string {
  const location = headers.location;
  const to = typeof location === 'string' && location !== '' ? ` to ${redactCredentials(location)}` : '';
  return `${url} answered ${status}, a redirect${to}: batchsend never follows redirects`;
}
