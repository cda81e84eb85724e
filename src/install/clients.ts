/**
 * Where each MCP client keeps its server list, and the entry it expects
 * (checked against the clients' documentation, 2026-12; see README "Install in your client").
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export type ClientId = 'claude-code' | 'opencode' | 'cursor' | 'vscode' | 'windsurf' | 'codex' | 'gemini' | 'claude-desktop';
export type Scope = 'user' | 'project' | 'local';

/** How the client starts the server: a command and its arguments. */
export interface Launch {
  command: string;
  args: string[];
  /** `npx -y cf-access-mcp`: may take seconds to start the first time. */
  viaNpx: boolean;
}

export interface ConfigTarget {
  file: string;
  format: 'json' | 'toml';
  /** The object holding the servers, as a key path from the file's root. */
  container: string[];
}

export interface ClientSpec {
  label: string;
  scopes: Partial<Record<Scope, (where: Where) => ConfigTarget>>;
  defaultScope: Scope;
  entry(launch: Launch): Record<string, unknown>;
  /** What to do after the file is written. */
  after: string;
}

/** The directories a config path depends on (from the environment in real use, temporary ones in tests). */
export interface Where {
  home: string;
  cwd: string;
  /** The OS's per-user application config directory (XDG_CONFIG_HOME, ~/Library/Application Support, %APPDATA%). */
  appConfig: string;
  /** ~/.config or XDG_CONFIG_HOME, where XDG-style tools (OpenCode) look on every OS. */
  xdgConfig: string;
  codexHome: string;
}

export function whereFromEnvironment(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Where {
  const home = env.HOME?.trim() || homedir();
  const xdgConfig = env.XDG_CONFIG_HOME?.trim() || join(home, '.config');
  const appConfig =
    process.platform === 'darwin' ? join(home, 'Library', 'Application Support') : process.platform === 'win32' ? env.APPDATA?.trim() || join(home, 'AppData', 'Roaming') : xdgConfig;
  return { home, cwd, appConfig, xdgConfig, codexHome: env.CODEX_HOME?.trim() || join(home, '.codex') };
}

const json = (file: string, container: string[]): ConfigTarget => ({ file, format: 'json', container });
/** OpenCode reads opencode.jsonc or opencode.json: edit the one that exists. */
const opencodeFile = (dir: string) => (existsSync(join(dir, 'opencode.jsonc')) ? join(dir, 'opencode.jsonc') : join(dir, 'opencode.json'));
const stdio = (l: Launch) => ({ type: 'stdio', command: l.command, args: l.args });
const plain = (l: Launch) => ({ command: l.command, args: l.args });

export const CLIENTS: Record<ClientId, ClientSpec> = {
  'claude-code': {
    label: 'Claude Code',
    scopes: {
      user: (w) => json(join(w.home, '.claude.json'), ['mcpServers']),
      project: (w) => json(join(w.cwd, '.mcp.json'), ['mcpServers']),
      local: (w) => json(join(w.home, '.claude.json'), ['projects', w.cwd, 'mcpServers']),
    },
    defaultScope: 'user',
    entry: stdio,
    after: 'Start a new Claude Code session; "claude mcp list" shows the server.',
  },
  opencode: {
    label: 'OpenCode',
    scopes: {
      user: (w) => json(opencodeFile(join(w.xdgConfig, 'opencode')), ['mcp']),
      project: (w) => json(opencodeFile(w.cwd), ['mcp']),
    },
    defaultScope: 'user',
    // timeout: how long OpenCode waits for the tool list at start (default 5 s), not a tool-call limit; a cold npx needs more.
    entry: (l) => ({ type: 'local', command: [l.command, ...l.args], enabled: true, ...(l.viaNpx ? { timeout: 30_000 } : {}) }),
    after: 'Restart OpenCode; "opencode mcp list" shows the server.',
  },
  cursor: {
    label: 'Cursor',
    scopes: { user: (w) => json(join(w.home, '.cursor', 'mcp.json'), ['mcpServers']), project: (w) => json(join(w.cwd, '.cursor', 'mcp.json'), ['mcpServers']) },
    defaultScope: 'user',
    entry: stdio,
    after: 'Cursor picks the change up; check Settings → MCP.',
  },
  vscode: {
    label: 'VS Code',
    scopes: { user: (w) => json(join(w.appConfig, 'Code', 'User', 'mcp.json'), ['servers']), project: (w) => json(join(w.cwd, '.vscode', 'mcp.json'), ['servers']) },
    defaultScope: 'user',
    entry: stdio,
    after: 'In VS Code, run "MCP: List Servers" and start cf-access (or reload the window).',
  },
  windsurf: {
    label: 'Windsurf',
    scopes: { user: (w) => json(join(w.home, '.codeium', 'windsurf', 'mcp_config.json'), ['mcpServers']) },
    defaultScope: 'user',
    entry: plain,
    after: 'In Windsurf, refresh the MCP servers (Cascade → MCP).',
  },
  codex: {
    label: 'Codex CLI',
    scopes: {
      user: (w) => ({ file: join(w.codexHome, 'config.toml'), format: 'toml', container: ['mcp_servers'] }),
      // Read only in a project Codex trusts.
      project: (w) => ({ file: join(w.cwd, '.codex', 'config.toml'), format: 'toml', container: ['mcp_servers'] }),
    },
    defaultScope: 'user',
    // Codex gives a server 10 s to start by default: too short for a cold npx, and tight on a busy machine.
    entry: (l) => ({ command: l.command, args: l.args, startup_timeout_sec: 60 }),
    after: 'Start a new Codex session; "codex mcp list" shows the server.',
  },
  gemini: {
    label: 'Gemini CLI',
    scopes: { user: (w) => json(join(w.home, '.gemini', 'settings.json'), ['mcpServers']), project: (w) => json(join(w.cwd, '.gemini', 'settings.json'), ['mcpServers']) },
    defaultScope: 'user',
    entry: plain,
    after: 'Start a new Gemini CLI session; "/mcp" lists the server.',
  },
  'claude-desktop': {
    label: 'Claude Desktop',
    scopes: { user: (w) => json(join(w.appConfig, 'Claude', 'claude_desktop_config.json'), ['mcpServers']) },
    defaultScope: 'user',
    entry: plain,
    after: 'Quit and reopen Claude Desktop.',
  },
};

export function isClientId(value: string): value is ClientId {
  return Object.hasOwn(CLIENTS, value);
}
