/** Is cloudflared there (the fallback for applications without managed OAuth), and recent enough? */
import { execFile } from 'node:child_process';
import { childEnv } from '../auth/child-env.js';
import { finding, type DoctorContext, type Finding } from './finding.js';

/** cloudflared before 2026.8 does not verify which application a URL belongs to (VULN-141860). */
export const MIN_CLOUDFLARED = [2026, 8] as const;

function version(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, ['--version'], { timeout: 10_000, env: childEnv(), windowsHide: true, shell: false }, (error, stdout, stderr) => {
      if (error) reject(error);
      else resolve(`${stdout}${stderr}`);
    });
  });
}

export async function checkCloudflared(ctx: DoctorContext, needed: boolean): Promise<Finding[]> {
  const command = ctx.service.config.cloudflaredCommand ?? 'cloudflared';
  let output: string;
  try {
    output = await version(command);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    const summary = missing ? `cloudflared was not found (${command}).` : `cloudflared (${command}) did not run: ${(error as Error).message.split('\n')[0]}.`;
    const why = needed ? 'This application offers no managed OAuth, so cloudflared is the way to sign in.' : 'Only needed for applications without managed OAuth.';
    return [finding('cloudflared', missing ? 'cloudflared_missing' : 'cloudflared_failed', needed ? 'fail' : 'info', `${summary} ${why}`, 'Install cloudflared (https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/), or set CF_ACCESS_MCP_CLOUDFLARED to its path.')];
  }
  const match = /(\d{4})\.(\d+)\.(\d+)/.exec(output);
  if (!match) return [finding('cloudflared', 'cloudflared_version_unknown', 'info', `cloudflared (${command}) runs but printed no version number.`)];
  const [year, month] = [Number(match[1]), Number(match[2])];
  const current = `${match[1]}.${match[2]}.${match[3]}`;
  if (year < MIN_CLOUDFLARED[0] || (year === MIN_CLOUDFLARED[0] && month < MIN_CLOUDFLARED[1])) {
    return [
      finding(
        'cloudflared',
        'cloudflared_outdated',
        'warn',
        `cloudflared ${current} is older than 2026.8: it does not verify which Access application a URL belongs to (cf-access-mcp checks it itself before using it).`,
        'Update cloudflared to 2026.8 or later.',
      ),
    ];
  }
  return [finding('cloudflared', 'cloudflared_ok', 'ok', `cloudflared ${current} is installed (${command}).`)];
}
