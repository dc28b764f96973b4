// Loaded with `node --import`: writes the process's peak RSS (KiB) and its own wall time to
// BENCH_RSS_FILE at exit, so the benchmark can read them for a child process.
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    writeFileSync(file, JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }));
  });
}
