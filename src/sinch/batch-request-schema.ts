import { z } from 'zod';
import { recipientSchema } from '../recipient/recipient.js';
import { buildMessageSchema } from '../template/message-schema.js';
import { templateSchema } from '../template/template.js';

export const MAX_RECIPIENTS = 1000;

const metadata = z.record(z.string(), z.unknown());

const noBatchId = (value: Record<string, unknown> | undefined) => value === undefined || !('_batch_id' in value);
const RESERVED = { message: "'_batch_id' is reserved and must not be set" };

/**
 * The send-batch request body as the API checks it (reference §4): the template fields, a message
 * whose strings may hold `${placeholders}` (substituted later, per recipient), and 1 to 1000
 * recipients. `_batch_id` is reserved in every metadata object, at both levels.
 */
export const batchRequestSchema = templateSchema
  .extend({
    app_id: z.string().min(1, 'Field is mandatory.'),
    message: buildMessageSchema({ lenient: true }),
    ttl: z.string().regex(/^\d+s$/, "must be seconds with an 's', e.g. \"86400s\"").optional(),
    batch_metadata: metadata.refine(noBatchId, RESERVED).optional(),
    message_metadata: metadata.refine(noBatchId, RESERVED).optional(),
    conversation_metadata: metadata.refine(noBatchId, RESERVED).optional(),
    recipient_and_params: z
      .array(
        z.strictObject({
          recipient: recipientSchema,
          parameters: z.record(z.string(), z.string()).optional(),
          message_metadata: metadata.refine(noBatchId, RESERVED).optional(),
          conversation_metadata: metadata.refine(noBatchId, RESERVED).optional(),
        }),
      )
      .min(1, 'must hold at least 1 recipient')
      .max(MAX_RECIPIENTS, `must hold at most ${MAX_RECIPIENTS} recipients`),
  });

export type BatchRequest = z.infer<typeof batchRequestSchema>;
