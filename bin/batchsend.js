#!/usr/bin/env node
// The bundled CLI (scripts/bundle.mjs, part of npm run build).
import { run } from '../dist/bin/cli.js';

await run();
