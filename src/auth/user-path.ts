import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * A path from an environment variable, as a person would mean it. MCP clients
 * start servers without a shell, so "~/…" arrives unexpanded; expand it
 * ourselves rather than create a directory named "~" wherever the client
 * happened to start us. Relative paths resolve against the working directory.
 */
export function expandUserPath(value: string, cwd: string = process.cwd()): string {
  const tilde = /^~(?=$|[/\\])/.exec(value);
  if (tilde) return join(homedir(), value.slice(1));
  return isAbsolute(value) ? value : resolve(cwd, value);
}

/** Expands only a leading "~/" (a bare command name must still be looked up on PATH). */
export function expandHome(value: string): string {
  return /^~(?=$|[/\\])/.test(value) ? join(homedir(), value.slice(1)) : value;
}
