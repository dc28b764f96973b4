// The baselines for JSON input, each the least a program must do to read every row:
//   jsonl FILE  split the decoded text at newlines and JSON.parse each line;
//   json FILE   a minimal streaming scanner (strings, escapes, nesting) that cuts the array into
//               elements and JSON.parses each one.
import { createReadStream } from 'node:fs';
import { TextDecoder } from 'node:util';

const [mode, file] = process.argv.slice(2);
const decoder = new TextDecoder('utf-8');
let rows = 0;

if (mode === 'jsonl') {
  let rest = '';
  for await (const chunk of createReadStream(file)) {
    const text = rest + decoder.decode(chunk, { stream: true });
    let start = 0;
    let at;
    while ((at = text.indexOf('\n', start)) !== -1) {
      if (at > start) {
        JSON.parse(text.slice(start, at));
        rows++;
      }
      start = at + 1;
    }
    rest = text.slice(start);
  }
  if (rest.trim() !== '') {
    JSON.parse(rest);
    rows++;
  }
} else {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let carry = '';
  for await (const chunk of createReadStream(file)) {
    const text = decoder.decode(chunk, { stream: true });
    let start = carry === '' ? -1 : 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x7b || c === 0x5b) {
        if (depth++ === 1 && start === -1) start = i;
      } else if ((c === 0x7d || c === 0x5d) && --depth === 1) {
        JSON.parse(carry + text.slice(start, i + 1));
        carry = '';
        start = -1;
        rows++;
      }
    }
    if (start !== -1) carry += text.slice(start);
  }
}
process.stdout.write(`${rows}\n`);
