import type { ServerResponse } from 'node:http';
import { ScriptedEndpoint, sendEvents, sendJson, type RecordedRequest } from './http.js';
import type { PlannedCall, ScriptedModel } from './scripted-model.js';
import { emptyView, type ModelView } from './view.js';

// The Anthropic Messages API as Claude Code calls it (POST /v1/messages, usually streamed).
interface Block {
  type: string;
  name?: string;
  text?: string;
  tool_use_id?: string;
  is_error?: boolean;
  content?: string | Block[];
  source?: { type: string; media_type?: string; data?: string };
}
interface MessagesBody {
  stream?: boolean;
  tools?: Array<{ name?: string }>;
  messages?: Array<{ role: string; content: string | Block[] }>;
}

const TOOL_USE_ID = 'toolu_scripted_01';

function toolResults(body: MessagesBody): Block[] {
  return (body.messages ?? []).flatMap((m) =>
    m.role === 'user' && Array.isArray(m.content) ? m.content.filter((b) => b.type === 'tool_result' && b.tool_use_id === TOOL_USE_ID) : [],
  );
}

/** A tool_result's content as the model reads it: a string, or text and image blocks. */
function viewOf(result: Block): ModelView {
  const view = emptyView();
  view.isError = result.is_error === true;
  const content = result.content ?? '';
  for (const block of typeof content === 'string' ? [{ type: 'text', text: content }] : content) {
    if (block.type === 'text' && block.text !== undefined) view.texts.push(block.text);
    if (block.type === 'image' && block.source?.type === 'base64') view.images.push({ mimeType: block.source.media_type ?? '', data: block.source.data ?? '' });
  }
  return view;
}

function message(content: unknown[], stopReason: string): Record<string, unknown> {
  return {
    id: 'msg_scripted',
    type: 'message',
    role: 'assistant',
    model: 'scripted',
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: 1 },
  };
}

function reply(res: ServerResponse, stream: boolean, block: Record<string, unknown>, stopReason: string): void {
  if (!stream) return sendJson(res, 200, message([block], stopReason));
  const start = block.type === 'tool_use' ? { ...block, input: {} } : { ...block, text: '' };
  const delta = block.type === 'tool_use' ? { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } : { type: 'text_delta', text: block.text };
  sendEvents(res, [
    { event: 'message_start', data: { type: 'message_start', message: { ...message([], stopReason), stop_reason: null } } },
    { event: 'content_block_start', data: { type: 'content_block_start', index: 0, content_block: start } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index: 0, delta } },
    { event: 'content_block_stop', data: { type: 'content_block_stop', index: 0 } },
    { event: 'message_delta', data: { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 1 } } },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ]);
}

export async function startAnthropicModel(call: PlannedCall): Promise<ScriptedModel> {
  let offered: string[] | undefined;
  let received: ModelView | undefined;
  const handle = (request: RecordedRequest, res: ServerResponse): void => {
    const path = request.path.split('?')[0]!;
    if (path.endsWith('/count_tokens')) return sendJson(res, 200, { input_tokens: 1 });
    if (path !== '/v1/messages') return sendJson(res, 404, { type: 'error', error: { type: 'not_found_error', message: 'scripted endpoint' } });
    const body = request.body as MessagesBody;
    const tools = (body.tools ?? []).map((t) => t.name ?? '');
    if (tools.length && !offered) offered = tools;
    const results = toolResults(body);
    if (results.length) {
      received = viewOf(results[0]!);
      return reply(res, body.stream === true, { type: 'text', text: 'Done.' }, 'end_turn');
    }
    if (!tools.includes(call.tool)) return reply(res, body.stream === true, { type: 'text', text: 'ok' }, 'end_turn');
    reply(res, body.stream === true, { type: 'tool_use', id: TOOL_USE_ID, name: call.tool, input: call.args }, 'tool_use');
  };
  const endpoint = await ScriptedEndpoint.start(handle);
  return {
    url: endpoint.url,
    toolsOffered: () => offered ?? [],
    received: () => received,
    close: () => endpoint.close(),
  };
}
