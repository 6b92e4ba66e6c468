import type { ResponseItem, ResponseOutputItem, Tool } from 'openai/resources/responses/responses';
import { badRequest } from '../errors';
import { newId } from '../ids';

type McpTool = Tool.Mcp;
type McpListTools = ResponseOutputItem.McpListTools;
type McpCall = ResponseOutputItem.McpCall;
type McpApprovalRequest = ResponseOutputItem.McpApprovalRequest;

/** The tools every emulated MCP server offers. The emulator never contacts `server_url`. */
function catalogue(tool: McpTool): McpListTools['tools'] {
  return [
    {
      name: 'search',
      description: `Search ${tool.server_label}.`,
      input_schema: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] },
      annotations: { read_only: true },
    },
    {
      name: 'fetch',
      description: `Fetch a document from ${tool.server_label}.`,
      input_schema: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
      annotations: { read_only: true },
    },
  ];
}

function allowed(tool: McpTool): McpListTools['tools'] {
  const filter = tool.allowed_tools;
  const names = Array.isArray(filter) ? filter : filter?.tool_names;
  const all = catalogue(tool);
  return names ? all.filter((t) => names.includes(t.name)) : all;
}

function needsApproval(tool: McpTool, name: string): boolean {
  const setting = tool.require_approval;
  if (setting === 'never') return false;
  if (setting === 'always' || setting === null || setting === undefined) return true;
  if (setting.never?.tool_names?.includes(name)) return false;
  return true;
}

export function listTools(tool: McpTool): McpListTools {
  return {
    id: newId('mcpl'),
    type: 'mcp_list_tools',
    server_label: tool.server_label,
    tools: allowed(tool),
    error: null,
  };
}

function headerCount(tool: McpTool | undefined): number {
  return Object.keys(tool?.headers ?? {}).length + (tool?.authorization ? 1 : 0);
}

export function mcpCall(
  tool: McpTool | undefined,
  serverLabel: string,
  name: string,
  args: string,
  approvalRequestId: string | null,
): McpCall {
  const headers = headerCount(tool);
  // Record that credentials arrived without ever echoing them.
  const auth =
    headers > 0
      ? ` The request carried ${headers} custom header${headers === 1 ? '' : 's'} (values withheld).`
      : '';
  return {
    id: newId('mcp'),
    type: 'mcp_call',
    server_label: serverLabel,
    name,
    arguments: args,
    approval_request_id: approvalRequestId,
    error: null,
    status: 'completed',
    output: `Emulated result of ${serverLabel}.${name}(${args}).${auth}`,
  };
}

/** A fresh turn with an MCP tool: list its tools (once per conversation), then call or ask for approval. */
export function mcpTurn(tool: McpTool, text: string, context: ResponseItem[]): ResponseOutputItem[] {
  const out: ResponseOutputItem[] = [];
  const listed = context.some(
    (item) => item.type === 'mcp_list_tools' && item.server_label === tool.server_label,
  );
  const list = listTools(tool);
  if (!listed) out.push(list);
  const chosen = list.tools[0];
  if (!chosen) return out;
  const args = JSON.stringify(chosen.name === 'fetch' ? { url: tool.server_url ?? '' } : { query: text });
  if (needsApproval(tool, chosen.name)) {
    const request: McpApprovalRequest = {
      id: newId('mcpr'),
      type: 'mcp_approval_request',
      server_label: tool.server_label,
      name: chosen.name,
      arguments: args,
    };
    out.push(request);
  } else {
    out.push(mcpCall(tool, tool.server_label, chosen.name, args, null));
  }
  return out;
}

/** Calls (or declines) each approval answered in this turn; an answer to an unknown request is a 400. */
export function answerApprovals(
  responses: ResponseItem.McpApprovalResponse[],
  context: ResponseItem[],
  tools: Tool[],
): { items: McpCall[]; sentences: string[] } {
  const items: McpCall[] = [];
  const sentences: string[] = [];
  for (const answer of responses) {
    const request = context.find(
      (item) => item.type === 'mcp_approval_request' && item.id === answer.approval_request_id,
    );
    if (!request || request.type !== 'mcp_approval_request') {
      throw badRequest(`No approval request found with id '${answer.approval_request_id}'.`, 'input', null);
    }
    if (!answer.approve) {
      sentences.push(
        `The call to ${request.server_label}.${request.name} was not approved, so nothing was sent to the server.`,
      );
      continue;
    }
    const tool = tools.find((t): t is McpTool => t.type === 'mcp' && t.server_label === request.server_label);
    const call = mcpCall(tool, request.server_label, request.name, request.arguments, request.id);
    items.push(call);
    sentences.push(`The MCP server ${request.server_label} answered: ${call.output ?? ''}`);
  }
  return { items, sentences };
}
