import type { TestProject } from 'vitest/node' with { 'resolution-mode': 'import' };
import { startAzurite, type AzuriteInstance } from './azurite';

declare module 'vitest' {
  export interface ProvidedContext {
    storageConnectionString: string;
  }
}

let azurite: AzuriteInstance | undefined;

/** One Azurite for the whole run; each test works in its own table or container. */
export async function setup(project: TestProject): Promise<void> {
  azurite = await startAzurite();
  project.provide('storageConnectionString', azurite.connectionString);
}

export async function teardown(): Promise<void> {
  await azurite?.stop();
}
