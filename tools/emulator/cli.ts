#!/usr/bin/env node
/** Runs the emulator standalone: `node dist/tools/emulator/cli.js --port 4010`. */
import { CliError, USAGE, cliOptions } from './cli-options';
import { startEmulator } from './server';

async function main(): Promise<void> {
  const options = cliOptions(process.argv.slice(2), process.env);
  if (!options) {
    process.stdout.write(USAGE);
    return;
  }
  const emulator = await startEmulator(options);
  console.log(`Emulator listening on ${emulator.url}/openai/v1`);
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    console.log(`Emulator stopping (${signal}).`);
    emulator.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  if (err instanceof CliError) {
    console.error(`${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error('Emulator failed to start:', err);
  process.exit(1);
});
