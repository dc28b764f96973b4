/**
 * A message after substitution, as the recipient reads it: the text of a text message; the
 * title, description and choices of a card, carousel, choice or list message; the template and
 * its parameters of a template message. Media and other fields that are not read show as a
 * bracketed line, so the preview says they are there.
 */

type Node = Record<string, unknown>;

const isNode = (value: unknown): value is Node => value !== null && typeof value === 'object' && !Array.isArray(value);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const nodes = (value: unknown): Node[] => (Array.isArray(value) ? value.filter(isNode) : []);

function choiceLine(choice: Node): string {
  const text = isNode(choice.text_message) ? str(choice.text_message.text) : undefined;
  if (text !== undefined) return `[${text}]`;
  const url = isNode(choice.url_message) ? choice.url_message : undefined;
  if (url !== undefined) return `[${str(url.title) ?? ''} → ${str(url.url) ?? ''}]`;
  const call = isNode(choice.call_message) ? choice.call_message : undefined;
  if (call !== undefined) return `[${str(call.title) ?? ''} ☎ ${str(call.phone_number) ?? ''}]`;
  for (const kind of ['location_message', 'calendar_message', 'share_location_message']) {
    const value = choice[kind];
    if (isNode(value)) return `[${str(value.title) ?? kind}]`;
  }
  return '[choice]';
}

function media(url: unknown): string[] {
  const link = str(url);
  return link === undefined ? [] : [`[media: ${link}]`];
}

function card(message: Node): string[] {
  return [
    ...(isNode(message.media_message) ? media(message.media_message.url) : []),
    ...[str(message.title), str(message.description)].filter((line) => line !== undefined),
    ...nodes(message.choices).map(choiceLine),
  ];
}

function template(reference: Node, label: string): string[] {
  const version = str(reference.version);
  const language = str(reference.language_code);
  const lines = [`[template ${str(reference.template_id) ?? ''}${version === undefined ? '' : ` v${version}`}${language === undefined ? '' : ` (${language})`}${label}]`];
  if (isNode(reference.parameters)) {
    for (const [name, value] of Object.entries(reference.parameters)) lines.push(`${name}: ${String(value)}`);
  }
  return lines;
}

/** The lines a recipient reads, for a substituted `message`. */
export function renderedLines(message: Node): string[] {
  if (isNode(message.text_message)) return [str(message.text_message.text) ?? ''];
  if (isNode(message.card_message)) return card(message.card_message);
  if (isNode(message.carousel_message)) {
    const carousel = message.carousel_message;
    const cards = nodes(carousel.cards).flatMap((c, i) => [`— card ${i + 1} —`, ...card(c)]);
    return [...cards, ...nodes(carousel.choices).map(choiceLine)];
  }
  if (isNode(message.choice_message)) {
    const choices = message.choice_message;
    const text = isNode(choices.text_message) ? str(choices.text_message.text) : undefined;
    return [...(text === undefined ? [] : [text]), ...nodes(choices.choices).map(choiceLine)];
  }
  if (isNode(message.list_message)) {
    const list = message.list_message;
    const lines = [...media(isNode(list.media) ? list.media.url : undefined), ...[str(list.title), str(list.description)].filter((l) => l !== undefined)];
    for (const section of nodes(list.sections)) {
      const title = str(section.title);
      if (title !== undefined) lines.push(`— ${title} —`);
      for (const item of nodes(section.items)) {
        if (isNode(item.choice)) {
          const description = str(item.choice.description);
          lines.push(`• ${str(item.choice.title) ?? ''}${description === undefined ? '' : ` — ${description}`}`);
        } else if (isNode(item.product)) {
          lines.push(`• [product ${str(item.product.id) ?? ''}]`);
        }
      }
    }
    return lines;
  }
  if (isNode(message.template_message)) {
    const t = message.template_message;
    const lines = isNode(t.omni_template) ? template(t.omni_template, '') : [];
    if (isNode(t.channel_template)) {
      for (const [channel, reference] of Object.entries(t.channel_template)) if (isNode(reference)) lines.push(...template(reference, ` on ${channel}`));
    }
    return lines;
  }
  if (isNode(message.media_message)) return media(message.media_message.url);
  if (isNode(message.location_message)) {
    const location = message.location_message;
    const at = isNode(location.coordinates) ? ` (${String(location.coordinates.latitude)}, ${String(location.coordinates.longitude)})` : '';
    return [`[location${at}]`, ...[str(location.title), str(location.label)].filter((l) => l !== undefined)];
  }
  if (isNode(message.contact_info_message)) {
    const contact = message.contact_info_message;
    const name = isNode(contact.name) ? str(contact.name.full_name) : undefined;
    return [`[contact: ${name ?? ''}]`, ...nodes(contact.phone_numbers).map((p) => str(p.phone_number) ?? '')];
  }
  return ['[message]'];
}
