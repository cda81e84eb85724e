import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';

/**
 * Issue 6, "Done when": each entry in mcp.json.example is valid for its
 * client's documented shape (see shared/reference/mcp-clients.md), starts this
 * package, and passes the service-token variables through the client's own
 * interpolation syntax (never a literal secret).
 */

const ROOT = join(import.meta.dirname, '..', '..');
const PACKAGE = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string }).name;
const example = JSON.parse(readFileSync(join(ROOT, 'mcp.json.example'), 'utf8')) as Record<string, { file: string; config: unknown } & Record<string, unknown>>;

const SERVICE_TOKEN_VARS = ['CF_ACCESS_CLIENT_ID', 'CF_ACCESS_CLIENT_SECRET', 'CF_ACCESS_SERVICE_TOKEN_HOSTS'];
const env = z.record(z.string(), z.string());
const serverName = z.string().regex(/^[a-zA-Z0-9_-]+$/);

/** Claude Code `.mcp.json`: mcpServers with type "stdio", command, args, env; ${VAR} / ${VAR:-default} expand. */
const ClaudeCode = z
  .object({
    mcpServers: z.record(
      serverName,
      z.object({ type: z.literal('stdio'), command: z.string().min(1), args: z.array(z.string()).optional(), env: env.optional() }).strict(),
    ),
  })
  .strict();

/** OpenCode `opencode.json`: mcp.<name> of type "local", command as one array, environment, enabled, timeout (ms). */
const OpenCode = z
  .object({
    $schema: z.literal('https://opencode.ai/config.json').optional(),
    mcp: z.record(
      serverName,
      z
        .object({
          type: z.literal('local'),
          command: z.array(z.string()).min(1),
          environment: env.optional(),
          enabled: z.boolean().optional(),
          timeout: z.number().int().positive().optional(),
        })
        .strict(),
    ),
  })
  .strict();

/** Windsurf `mcp_config.json`: mcpServers with command, args, env (no type field for stdio). */
const Windsurf = z
  .object({
    mcpServers: z.record(serverName, z.object({ command: z.string().min(1), args: z.array(z.string()).optional(), env: env.optional(), disabled: z.boolean().optional() }).strict()),
  })
  .strict();

/** Cursor `mcp.json`: mcpServers with command, args, env (type "stdio" optional). */
const Cursor = z
  .object({
    mcpServers: z.record(
      serverName,
      z.object({ type: z.literal('stdio').optional(), command: z.string().min(1), args: z.array(z.string()).optional(), env: env.optional(), envFile: z.string().optional() }).strict(),
    ),
  })
  .strict();

/** VS Code `.vscode/mcp.json`: servers with type "stdio", command, args, env (optional inputs). */
const VsCode = z
  .object({
    inputs: z.array(z.object({ type: z.literal('promptString'), id: z.string(), description: z.string(), password: z.boolean().optional() })).optional(),
    servers: z.record(
      serverName,
      z.object({ type: z.literal('stdio'), command: z.string().min(1), args: z.array(z.string()).optional(), env: env.optional(), envFile: z.string().optional() }).strict(),
    ),
  })
  .strict();

/** Codex `config.toml` (here as JSON): mcp_servers.<name> with command, args, env_vars (names passed through), startup_timeout_sec. */
const Codex = z
  .object({
    mcp_servers: z.record(
      serverName,
      z.object({ command: z.string().min(1), args: z.array(z.string()).optional(), env_vars: z.array(z.string()).optional(), startup_timeout_sec: z.number().positive(), tool_timeout_sec: z.number().positive().optional() }).strict(),
    ),
  })
  .strict();

/** Gemini CLI `settings.json`: mcpServers with command, args, env ($VAR expands), timeout (ms). */
const Gemini = z
  .object({ mcpServers: z.record(serverName, z.object({ command: z.string().min(1), args: z.array(z.string()).optional(), env: env.optional(), timeout: z.number().optional() }).strict()) })
  .strict();

/** Claude Desktop `claude_desktop_config.json`: mcpServers with command, args, env (literal values only). */
const ClaudeDesktop = Windsurf;

/** How each client writes "the value of environment variable NAME". */
const INTERPOLATION: Record<string, (name: string) => RegExp> = {
  'claude-code': (name) => new RegExp(`^\\$\\{${name}(:-[^}]*)?\\}$`),
  opencode: (name) => new RegExp(`^\\{env:${name}\\}$`),
  windsurf: (name) => new RegExp(`^\\$\\{env:${name}\\}$`),
  cursor: (name) => new RegExp(`^\\$\\{env:${name}\\}$`),
  vscode: (name) => new RegExp(`^\\$\\{env:${name}\\}$`),
  gemini: (name) => new RegExp(`^\\$(${name}|\\{${name}\\})$`),
};

const CLIENTS = [
  { key: 'claude-code', schema: ClaudeCode, servers: (c: z.infer<typeof ClaudeCode>) => c.mcpServers, launch: (s: { command: string; args?: string[] }) => [s.command, ...(s.args ?? [])], envOf: (s: { env?: Record<string, string> }) => s.env },
  { key: 'opencode', schema: OpenCode, servers: (c: z.infer<typeof OpenCode>) => c.mcp, launch: (s: { command: string[] }) => s.command, envOf: (s: { environment?: Record<string, string> }) => s.environment },
  { key: 'windsurf', schema: Windsurf, servers: (c: z.infer<typeof Windsurf>) => c.mcpServers, launch: (s: { command: string; args?: string[] }) => [s.command, ...(s.args ?? [])], envOf: (s: { env?: Record<string, string> }) => s.env },
  { key: 'cursor', schema: Cursor, servers: (c: z.infer<typeof Cursor>) => c.mcpServers, launch: (s: { command: string; args?: string[] }) => [s.command, ...(s.args ?? [])], envOf: (s: { env?: Record<string, string> }) => s.env },
  { key: 'vscode', schema: VsCode, servers: (c: z.infer<typeof VsCode>) => c.servers, launch: (s: { command: string; args?: string[] }) => [s.command, ...(s.args ?? [])], envOf: (s: { env?: Record<string, string> }) => s.env },
  { key: 'gemini', schema: Gemini, servers: (c: z.infer<typeof Gemini>) => c.mcpServers, launch: (s: { command: string; args?: string[] }) => [s.command, ...(s.args ?? [])], envOf: (s: { env?: Record<string, string> }) => s.env },
  // Codex passes variables by name (env_vars); Claude Desktop expands none, so its entry carries no token variables.
  { key: 'codex', schema: Codex, servers: (c: z.infer<typeof Codex>) => c.mcp_servers, launch: (s: { command: string; args?: string[] }) => [s.command, ...(s.args ?? [])], envOf: (s: { env_vars?: string[] }) => Object.fromEntries((s.env_vars ?? []).map((n) => [n, n])) },
  { key: 'claude-desktop', schema: ClaudeDesktop, servers: (c: z.infer<typeof ClaudeDesktop>) => c.mcpServers, launch: (s: { command: string; args?: string[] }) => [s.command, ...(s.args ?? [])], envOf: () => undefined },
] as const;

describe('mcp.json.example', () => {
  it('has an entry for every client and nothing unknown', () => {
    const keys = Object.keys(example).filter((k) => !k.startsWith('_'));
    assert.deepEqual(keys.sort(), CLIENTS.map((c) => c.key).sort());
    for (const key of keys) assert.ok(example[key]!.file, `${key} names the file to edit`);
  });

  for (const client of CLIENTS) {
    it(`${client.key}: matches the client's documented shape, starts ${PACKAGE}, passes the service-token variables`, () => {
      const parsed = client.schema.safeParse(example[client.key]!.config);
      assert.ok(parsed.success, `${client.key}: ${parsed.success ? '' : z.prettifyError(parsed.error)}`);
      const servers = Object.entries((client.servers as (c: unknown) => Record<string, unknown>)(parsed.data));
      assert.equal(servers.length, 1);
      const [name, server] = servers[0]!;
      assert.equal(name, 'cf-access');
      assert.deepEqual((client.launch as (s: unknown) => string[])(server), ['npx', '-y', PACKAGE]);
      const variables = (client.envOf as (s: unknown) => Record<string, string> | undefined)(server) ?? {};
      if (client.key !== 'claude-desktop') assert.deepEqual(Object.keys(variables).sort(), [...SERVICE_TOKEN_VARS].sort());
      for (const [variable, value] of Object.entries(variables)) {
        if (client.key === 'codex') continue; // names, not values
        assert.match(value, INTERPOLATION[client.key]!(variable), `${client.key}: ${variable} is read from the environment, not written down`);
      }
      // The form that works today: the cf-access-mcp command installed from a clone or the packed tarball.
      const installed = client.schema.safeParse(example[client.key]!.config_installed);
      assert.ok(installed.success, `${client.key} config_installed: ${installed.success ? '' : z.prettifyError(installed.error)}`);
      const [, installedServer] = Object.entries((client.servers as (c: unknown) => Record<string, unknown>)(installed.data))[0]!;
      assert.deepEqual((client.launch as (s: unknown) => string[])(installedServer), ['cf-access-mcp']);
    });
  }

  it('opencode: timeout gives a cold npx time to list the tools (it is not a tool-call limit), and says so', () => {
    const config = OpenCode.parse(example.opencode!.config);
    assert.ok((config.mcp['cf-access']!.timeout ?? 0) >= 30_000);
    assert.match(String(example.opencode!._note), /list its tools at start/);
  });

  it('codex: the TOML lines are the JSON entry, with a start-up timeout longer than a cold npx', async () => {
    const { parse } = await import('smol-toml');
    for (const [toml, config] of [['toml', 'config'], ['toml_installed', 'config_installed']] as const) {
      assert.deepEqual(JSON.parse(JSON.stringify(parse((example.codex![toml] as string[]).join('\n')))), example.codex![config]);
    }
    assert.ok(Codex.parse(example.codex!.config).mcp_servers['cf-access']!.startup_timeout_sec >= 30);
  });

  it('claude-code: the "claude mcp add" lines use the documented argument order', () => {
    const lines = Object.entries(example['claude-code']!)
      .filter(([key]) => key.startsWith('_claude_mcp_add'))
      .map(([, value]) => value as string);
    assert.ok(lines.length >= 1);
    for (const line of lines) {
      // claude mcp add [--scope local|project|user] [-e K=V]... <name> -- <command> [args...]
      assert.match(line, /^claude mcp add --scope user( -e [A-Z_]+=\S+)* cf-access -- (npx -y cf-access-mcp|cf-access-mcp)$/, line);
    }
  });
});

describe('mcp.json.example bridge entries (issue 14)', () => {
  const bridge = example._bridge as unknown as Record<string, Record<string, unknown>>;

  for (const client of CLIENTS) {
    it(`${client.key}: a bridge entry in the client's shape, published (npx) and as installed today (the cf-access-mcp command)`, () => {
      for (const [form, launch] of [
        ['config', ['npx', '-y', PACKAGE, 'bridge']],
        ['config_installed', [PACKAGE, 'bridge']],
      ] as const) {
        const parsed = client.schema.safeParse(bridge[client.key]![form]);
        assert.ok(parsed.success, `${client.key} ${form}: ${parsed.success ? '' : z.prettifyError(parsed.error)}`);
        const servers = Object.values((client.servers as (c: unknown) => Record<string, unknown>)(parsed.data));
        assert.equal(servers.length, 1);
        const argv = (client.launch as (s: unknown) => string[])(servers[0]);
        assert.deepEqual(argv.slice(0, -1), [...launch], `${client.key} ${form}`);
        assert.match(argv.at(-1)!, /^https:\/\/[^/]+\/mcp$/);
      }
    });
  }

  it('codex: the TOML lines of both forms are their JSON entries; claude-code: an installed "claude mcp add" line', async () => {
    const { parse } = await import('smol-toml');
    for (const [toml, config] of [['toml', 'config'], ['toml_installed', 'config_installed']] as const) {
      assert.deepEqual(JSON.parse(JSON.stringify(parse((bridge.codex![toml] as string[]).join('\n')))), bridge.codex![config]);
    }
    assert.match(String(bridge['claude-code']!._claude_mcp_add_installed), /^claude mcp add --scope user remote-app -- cf-access-mcp bridge https:\/\/\S+$/);
  });
});
