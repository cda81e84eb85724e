import type { ServerResponse } from 'node:http';
import { ScriptedEndpoint, sendEvents, sendJson, type RecordedRequest } from './http.js';
import type { PlannedCall, ScriptedModel } from './scripted-model.js';
import { emptyView, fromDataUrl, type ModelView } from './view.js';

// The OpenAI chat-completions API as OpenCode's openai-compatible provider calls it.
interface Part {
  type: string;
  text?: string;
  image_url?: string | { url?: string };
}
interface ChatMessage {
  role: string;
  content?: string | Part[] | null;
  tool_call_id?: string;
  tool_calls?: Array<{ id?: string }>;
}
interface ChatBody {
  stream?: boolean;
  tools?: Array<{ function?: { name?: string } }>;
  messages?: ChatMessage[];
}

const CALL_ID = 'call_scripted_01';

/** Everything after the assistant's tool call: the tool message and any message a client adds for images. */
function viewAfterCall(messages: ChatMessage[]): ModelView | undefined {
  const at = messages.findIndex((m) => m.role === 'assistant' && (m.tool_calls ?? []).some((c) => c.id === CALL_ID));
  if (at < 0 || !messages.slice(at + 1).some((m) => m.role === 'tool' && m.tool_call_id === CALL_ID)) return undefined;
  const view = emptyView();
  for (const m of messages.slice(at + 1)) {
    const parts: Part[] = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : (m.content ?? []);
    for (const part of parts) {
      if (part.type === 'text' && part.text !== undefined) view.texts.push(part.text);
      const url = typeof part.image_url === 'string' ? part.image_url : part.image_url?.url;
      const image = part.type === 'image_url' && url ? fromDataUrl(url) : undefined;
      if (image) view.images.push(image);
    }
  }
  return view;
}

function chunk(delta: Record<string, unknown>, finish: string | null): Record<string, unknown> {
  return { id: 'chatcmpl-scripted', object: 'chat.completion.chunk', created: 0, model: 'scripted', choices: [{ index: 0, delta, finish_reason: finish }] };
}

function reply(res: ServerResponse, stream: boolean, delta: Record<string, unknown>, finish: string): void {
  const usage = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };
  if (!stream) {
    const message = { role: 'assistant', content: null, ...delta };
    return sendJson(res, 200, { id: 'chatcmpl-scripted', object: 'chat.completion', created: 0, model: 'scripted', choices: [{ index: 0, message, finish_reason: finish }], usage });
  }
  sendEvents(res, [{ data: chunk({ role: 'assistant', ...delta }, null) }, { data: { ...chunk({}, finish), usage } }], '[DONE]');
}

export async function startOpenAiModel(call: PlannedCall): Promise<ScriptedModel> {
  let offered: string[] | undefined;
  let received: ModelView | undefined;
  const handle = (request: RecordedRequest, res: ServerResponse): void => {
    if (!request.path.split('?')[0]!.endsWith('/chat/completions')) return sendJson(res, 404, { error: { message: 'scripted endpoint' } });
    const body = request.body as ChatBody;
    const stream = body.stream === true;
    const tools = (body.tools ?? []).map((t) => t.function?.name ?? '');
    if (tools.length && !offered) offered = tools;
    const view = viewAfterCall(body.messages ?? []);
    if (view) {
      received ??= view;
      return reply(res, stream, { content: 'Done.' }, 'stop');
    }
    if (!tools.includes(call.tool)) return reply(res, stream, { content: 'ok' }, 'stop');
    const toolCall = { index: 0, id: CALL_ID, type: 'function', function: { name: call.tool, arguments: JSON.stringify(call.args) } };
    reply(res, stream, { tool_calls: [toolCall] }, 'tool_calls');
  };
  const endpoint = await ScriptedEndpoint.start(handle);
  return { url: endpoint.url, toolsOffered: () => offered ?? [], received: () => received, close: () => endpoint.close() };
}
