import { randomUUID } from 'node:crypto';
import type { RegisteredFunction, Registry } from './core-api';
import type {
  CoreInvocationContext,
  FunctionCallback,
  RpcBindingInfo,
  RpcInvocationResponse,
  RpcParameterBinding,
  RpcTypedData,
} from './core-types';
import { describeError, type Logger } from './logger';

export interface InvocationInput {
  invocationId?: string;
  inputData: RpcParameterBinding[];
  triggerMetadata: Record<string, RpcTypedData>;
  /** Shown in the "Executing" line, like the host's trigger reason. */
  reason: string;
}

export interface InvocationOutcome {
  response: RpcInvocationResponse;
  /** The handler's result after postInvocation hooks (undefined for an HTTP function that returned nothing). */
  result: unknown;
}

/** The trigger binding of a function: its name and options (`route`, `schedule`, `path`, ...). */
export function triggerOf(fn: RegisteredFunction): { name: string; binding: RpcBindingInfo } {
  for (const [name, binding] of Object.entries(fn.metadata.bindings)) {
    if (binding.direction !== 'out' && typeof binding.type === 'string' && /trigger$/i.test(binding.type)) {
      return { name, binding };
    }
  }
  throw new Error(`Function "${fn.metadata.name}" has no trigger binding.`);
}

/** Runs the app's hooks of one kind in registration order; a throwing hook fails what it guards, as in the worker. */
export async function runHooks(
  registry: Registry,
  name: string,
  context: Record<string, unknown>,
): Promise<void> {
  for (const hook of [...(registry.hooks.get(name) ?? [])]) await hook(context);
}

/**
 * One invocation, in the order the Node.js worker uses (azure-functions-nodejs-worker
 * `src/eventHandlers/InvocationHandler.ts`): arguments, preInvocation hooks, the handler, postInvocation hooks,
 * then the response conversion. Throws what the handler (or a hook) threw.
 */
export async function invokeFunction(
  registry: Registry,
  fn: RegisteredFunction,
  input: InvocationInput,
  logger: Logger,
): Promise<InvocationOutcome> {
  const model = registry.programmingModel;
  if (!model) throw new Error('The app registered no programming model (no function was registered).');
  const name = fn.metadata.name;
  const invocationId = input.invocationId ?? randomUUID();
  const started = Date.now();
  logger.fn(
    name,
    'information',
    `Executing 'Functions.${name}' (Reason='${input.reason}', Id=${invocationId})`,
  );

  const coreCtx: CoreInvocationContext = {
    invocationId,
    request: {
      invocationId,
      functionId: fn.metadata.functionId ?? name,
      inputData: input.inputData,
      triggerMetadata: input.triggerMetadata,
    },
    metadata: { name, functionId: fn.metadata.functionId ?? name, bindings: fn.metadata.bindings },
    state: undefined,
    log: (level, category, message) => {
      const hookCtx: Record<string, unknown> = {
        hookData: {},
        appHookData: registry.appHookData,
        level,
        message,
        category,
        invocationContext: invocationContext,
      };
      // Log hooks may rewrite level and message (`app.hook.log`); they must not throw.
      for (const hook of registry.hooks.get('log') ?? []) {
        try {
          void hook(hookCtx);
        } catch {
          /* a broken log hook must not break logging */
        }
      }
      const text = typeof hookCtx.message === 'string' ? hookCtx.message : message;
      if (category === 'system' && (level === 'debug' || level === 'trace')) return;
      logger.fn(name, (hookCtx.level as typeof level) ?? level, text);
    },
  };

  let invocationContext: unknown;
  try {
    const im = model.getInvocationModel(coreCtx);
    const args = await im.getArguments();
    invocationContext = args.context;
    const hookData: Record<string, unknown> = {};
    const pre: Record<string, unknown> = {
      hookData,
      appHookData: registry.appHookData,
      invocationContext: args.context,
      inputs: args.inputs,
      functionCallback: fn.callback,
    };
    coreCtx.state = 'preInvocationHooks';
    try {
      await runHooks(registry, 'preInvocation', pre);
    } finally {
      coreCtx.state = undefined;
    }

    const post: Record<string, unknown> = {
      hookData,
      appHookData: registry.appHookData,
      invocationContext: args.context,
      inputs: pre.inputs,
      result: undefined,
      error: undefined,
    };
    coreCtx.state = 'invocation';
    try {
      post.result = await im.invokeFunction(
        args.context,
        pre.inputs as unknown[],
        pre.functionCallback as FunctionCallback,
      );
    } catch (err) {
      post.error = err;
    } finally {
      coreCtx.state = undefined;
    }
    coreCtx.state = 'postInvocationHooks';
    try {
      await runHooks(registry, 'postInvocation', post);
    } finally {
      coreCtx.state = undefined;
    }
    if (post.error !== undefined && post.error !== null) {
      throw post.error instanceof Error ? post.error : new Error(describeError(post.error));
    }
    const response = await im.getResponse(args.context, post.result);
    logger.fn(
      name,
      'information',
      `Executed 'Functions.${name}' (Succeeded, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
    );
    return { response, result: post.result };
  } catch (err) {
    logger.fn(
      name,
      'error',
      `Executed 'Functions.${name}' (Failed, Id=${invocationId}, Duration=${Date.now() - started}ms)`,
    );
    logger.fn(name, 'error', describeError(err));
    throw err;
  }
}

/** A string option of a binding (`path`, `connection`, `schedule`, `route`), or `fallback`. */
export function bindingString(binding: RpcBindingInfo, key: string, fallback = ''): string {
  const v = binding[key];
  return typeof v === 'string' ? v : fallback;
}
