// Loaded with `node --import`: writes the process's peak RSS (KiB) and the CPU time it used (user
// + system, ms) to BENCH_RSS_FILE at exit, so the benchmark can read them for a child process.
import { writeFileSync } from 'node:fs';

const file = process.env.BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ maxRssKiB: usage.maxRSS, cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000 }));
  });
}
