// The start-up baseline: a bare commander program with one command and --help/--version.
import { Command } from 'commander';

new Command('bare').version('1.0.0').command('validate <file>').option('-t, --template <file>').action(() => {}).parent.parse();
