/**
 * The emulator in a process of its own for the benchmark: `node emulator-child.js '<options JSON>'`. Prints
 * `{"url": ...}` once listening; stops on SIGTERM. A separate process makes the direct path cross a process
 * boundary as the service path does (and as a real client of Azure OpenAI does), instead of sharing the
 * benchmark's event loop with its own client.
 */
import { startEmulator, type EmulatorOptions } from '../emulator/server';

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as EmulatorOptions;
  const emulator = await startEmulator(options);
  process.stdout.write(JSON.stringify({ url: emulator.url }) + '\n');
  process.once('SIGTERM', () => {
    emulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`emulator failed to start: ${String(err)}\n`);
  process.exit(1);
});
