#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { VERSION } from './version.js';

const USAGE = `cf-access-mcp ${VERSION} — reach web resources behind Cloudflare Access from coding agents

Usage:
  cf-access-mcp              run the MCP server on stdio (what MCP clients start)
  cf-access-mcp demo         run the whole login flow against the built-in emulator, traced
  cf-access-mcp emulator     run the emulator (interactive approval) for trying with a real agent
  cf-access-mcp --help | --version
`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
  });
  const command = positionals[0];
  if (values.version) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (command) {
    case undefined: {
      const { runStdioServer } = await import('./mcp/stdio.js');
      await runStdioServer();
      return -1; // keep running
    }
    case 'demo': {
      const { runDemo } = await import('./cli/demo.js');
      return runDemo();
    }
    case 'emulator': {
      const { runEmulatorCli } = await import('./emulator/index.js');
      await runEmulatorCli({ approval: 'interactive' });
      return -1;
    }
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`cf-access-mcp: ${(error as Error)?.message ?? String(error)}\n`);
    process.exit(1);
  },
);
