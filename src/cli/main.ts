#!/usr/bin/env node
/** The `unet` command: a thin layer over the library that parses options, prints and exits. */
import { HelpRequested, UsageError } from './args.js';
import { COMMANDS } from './registry.js';

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: unet <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nunet <command> --help for a command's options`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`unet: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    if (e instanceof HelpRequested) {
      process.stdout.write(`${e.help}\n`);
      return 0;
    }
    const err = e as Error & { code?: string };
    if (e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`unet ${name}: ${err.message}\n\n${command.help}\n`);
      return 2;
    }
    process.stderr.write(`unet ${name}: ${err.message}\n`);
    if (process.env.UNET_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`unet: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  },
);
