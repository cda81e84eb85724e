import { PIXEL_PNG } from '../../src/emulator/binary.js';
import { OAUTH_PATHS } from '../../src/emulator/metadata.js';
import { REPORT_SENTENCE } from '../../src/emulator/pages.js';
import type { ModelView } from './models/view.js';

export interface Target {
  appUrl: string;
  teamUrl: string;
}

export interface Verdict {
  pass: boolean;
  note: string;
}

/** One access_fetch call and what must reach the model afterwards. */
export interface ClientCase {
  id: string;
  title: string;
  browser: 'approve' | 'none';
  args(target: Target): Record<string, unknown>;
  check(view: ModelView, target: Target): Verdict;
}

const allText = (view: ModelView): string => view.texts.join('\n');

/** Names what the model got instead, e.g. only the structuredContent JSON. */
function whatArrived(view: ModelView): string {
  const text = allText(view);
  const onlyJson = view.texts.length === 1 && /^\s*\{/.test(text) && isJson(text);
  const kind = onlyJson ? 'only a JSON object (structuredContent)' : `${view.texts.length} text block(s)`;
  return `${kind}, ${text.length} chars, ${view.images.length} image(s)${view.isError ? ', isError' : ''}`;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const PNG_SIGNATURE = PIXEL_PNG.subarray(0, 8);

const article: ClientCase = {
  id: 'article',
  title: 'article sentence',
  browser: 'approve',
  args: (t) => ({ url: `${t.appUrl}/` }),
  check(view) {
    const found = allText(view).includes(REPORT_SENTENCE);
    return { pass: found, note: `${found ? 'sentence reached the model' : 'sentence missing'}: ${whatArrived(view)}` };
  },
};

const image: ClientCase = {
  id: 'image',
  title: 'image',
  browser: 'approve',
  args: (t) => ({ url: `${t.appUrl}/images/pixel.png` }),
  check(view) {
    const bytes = view.images.filter((i) => i.mimeType.startsWith('image/')).map((i) => Buffer.from(i.data, 'base64'));
    if (bytes.some((b) => b.equals(PIXEL_PNG))) return { pass: true, note: `the PNG reached the model byte for byte: ${whatArrived(view)}` };
    // A client may re-encode an image; any decodable image part still counts, with a note.
    if (bytes.some((b) => b.length > 0)) return { pass: true, note: `an image reached the model (re-encoded${bytes.some((b) => b.subarray(0, 8).equals(PNG_SIGNATURE)) ? ' PNG' : ''}): ${whatArrived(view)}` };
    return { pass: false, note: `no image part: ${whatArrived(view)}` };
  },
};

const loginUrl: ClientCase = {
  id: 'login-url',
  title: 'login URL (browser none)',
  browser: 'none',
  // A short wait: with no browser nobody can finish the login, so the pending result is the answer.
  args: (t) => ({ url: `${t.appUrl}/`, wait_seconds: 1 }),
  check(view, t) {
    const prefix = `${t.teamUrl}${OAUTH_PATHS.authorization}?`;
    const found = allText(view).includes(prefix);
    return { pass: found, note: `${found ? 'authorization URL reached the model' : 'authorization URL missing'}: ${whatArrived(view)}` };
  },
};

export const CASES: ClientCase[] = [article, image, loginUrl];
