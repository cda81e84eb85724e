import type { ServerResponse } from 'node:http';
import { ScriptedEndpoint, sendEvents, sendJson, type RecordedRequest } from './http.js';
import type { PlannedCall, ScriptedModel } from './scripted-model.js';
import { emptyView, type ModelView } from './view.js';

// The Gemini API (generateContent / streamGenerateContent / countTokens) as Gemini CLI calls it.
interface InlineData {
  mimeType?: string;
  data?: string;
}
interface GeminiPart {
  text?: string;
  inlineData?: InlineData;
  functionCall?: { name?: string; args?: unknown };
  functionResponse?: { name?: string; response?: unknown; parts?: GeminiPart[] };
}
interface GeminiBody {
  tools?: Array<{ functionDeclarations?: Array<{ name?: string }> }>;
  contents?: Array<{ role?: string; parts?: GeminiPart[] }>;
  generationConfig?: { responseMimeType?: string };
}

/** Every string inside a functionResponse's response object: the text the model reads. */
function stringLeaves(value: unknown, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringLeaves(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) stringLeaves(item, out);
}

function addPart(view: ModelView, part: GeminiPart): void {
  if (part.text !== undefined) view.texts.push(part.text);
  if (part.inlineData?.data) view.images.push({ mimeType: part.inlineData.mimeType ?? '', data: part.inlineData.data });
  if (part.functionResponse) {
    stringLeaves(part.functionResponse.response, view.texts);
    for (const nested of part.functionResponse.parts ?? []) addPart(view, nested);
  }
}

/** The turn(s) after the model's functionCall: the functionResponse and any parts sent with it. */
function viewAfterCall(body: GeminiBody, tool: string): ModelView | undefined {
  const contents = body.contents ?? [];
  const at = contents.findIndex((c) => (c.parts ?? []).some((p) => p.functionCall?.name === tool));
  const after = at < 0 ? [] : contents.slice(at + 1);
  if (!after.some((c) => (c.parts ?? []).some((p) => p.functionResponse))) return undefined;
  const view = emptyView();
  for (const content of after) for (const part of content.parts ?? []) addPart(view, part);
  return view;
}

function reply(res: ServerResponse, stream: boolean, parts: GeminiPart[]): void {
  const body = {
    candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
    modelVersion: 'scripted',
  };
  if (stream) sendEvents(res, [{ data: body }]);
  else sendJson(res, 200, body);
}

export async function startGeminiModel(call: PlannedCall): Promise<ScriptedModel> {
  let offered: string[] | undefined;
  let received: ModelView | undefined;
  const handle = (request: RecordedRequest, res: ServerResponse): void => {
    const path = request.path.split('?')[0]!;
    if (path.endsWith(':countTokens')) return sendJson(res, 200, { totalTokens: 1 });
    if (!/:(stream)?generateContent$/i.test(path)) return sendJson(res, 404, { error: { code: 404, message: 'scripted endpoint', status: 'NOT_FOUND' } });
    const body = request.body as GeminiBody;
    const stream = /:streamGenerateContent$/.test(path);
    const tools = (body.tools ?? []).flatMap((t) => (t.functionDeclarations ?? []).map((f) => f.name ?? ''));
    if (tools.length && !offered) offered = tools;
    const view = viewAfterCall(body, call.tool);
    if (view) {
      received ??= view;
      return reply(res, stream, [{ text: 'Done.' }]);
    }
    if (tools.includes(call.tool)) return reply(res, stream, [{ functionCall: { name: call.tool, args: call.args } }]);
    // Side requests (routing, next-speaker checks) ask for JSON; an empty object keeps them quiet.
    if (/json/.test(body.generationConfig?.responseMimeType ?? '')) return reply(res, stream, [{ text: '{}' }]);
    reply(res, stream, [{ text: 'ok' }]);
  };
  const endpoint = await ScriptedEndpoint.start(handle);
  return { url: endpoint.url, toolsOffered: () => offered ?? [], received: () => received, close: () => endpoint.close() };
}
